//! The run-time translation tables: an identity map with W^X, built from the device tree.
//!
//! Ref: Arm ARM (DDI 0487) D8.3 (translation table descriptors: block and page descriptors,
//! AttrIndx, AP, SH, AF, PXN/UXN), D8.2 (4 KiB granule: 1 GiB blocks at level 1, 2 MiB at
//! level 2, pages at level 3).
//!
//! - the image's text: read-only, executable;
//! - its rodata: read-only, never executable;
//! - its data and bss (stacks, page tables, statics): read-write, never executable; the stacks'
//!   guard pages unmapped;
//! - the rest of usable RAM (the heap): read-write, never executable, in 2 MiB and 1 GiB blocks
//!   where alignment allows;
//! - every device register block the device tree names that the shim or a driver uses:
//!   Device-nGnRE, never executable;
//! - nothing else (null included), and `SCTLR_EL1.WXN` on top.
//!
//! The tables come from a fixed pool in `.bss`: built before the heap exists.

use core::cell::UnsafeCell;

use crate::bootinfo::UsableRanges;
use crate::dtb::ArmMachine;

use super::entry;

/// Tables in the pool.
const POOL: usize = 40;
const PAGE: u64 = 4096;

#[repr(C, align(4096))]
struct Table([u64; 512]);

struct Pool(UnsafeCell<[Table; POOL]>);

// SAFETY: written only by `init`, once, on the one core before interrupts are enabled; later
// only the MMU reads it.
unsafe impl Sync for Pool {}

static TABLES: Pool = Pool(UnsafeCell::new([const { Table([0; 512]) }; POOL]));

const VALID: u64 = 1;
const TABLE: u64 = 1 << 1; // with VALID: a table (levels 1-2) or a page (level 3)
const ATTR_DEVICE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 1 << 2;
const READ_ONLY: u64 = 1 << 7;
const INNER_SHAREABLE: u64 = 3 << 8;
const ACCESSED: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDRESS: u64 = 0x0000_ffff_ffff_f000;

/// Kinds of mapping.
const TEXT: u64 = ATTR_NORMAL | INNER_SHAREABLE | ACCESSED | READ_ONLY | UXN;
const RODATA: u64 = ATTR_NORMAL | INNER_SHAREABLE | ACCESSED | READ_ONLY | PXN | UXN;
const DATA: u64 = ATTR_NORMAL | INNER_SHAREABLE | ACCESSED | PXN | UXN;
const DEVICE: u64 = ATTR_DEVICE | ACCESSED | PXN | UXN;

/// The highest address the 39-bit map covers.
pub const MAP_LIMIT: u64 = 1 << 39;

/// The image's sections (from the linker script), page aligned.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// Text, read-only executable.
    pub text: (u64, u64),
    /// Rodata.
    pub rodata: (u64, u64),
    /// Data and bss.
    pub data: (u64, u64),
}

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __bss_end: u8;
}

impl ImageLayout {
    /// The layout the linker produced.
    pub fn get() -> Self {
        let a = |s: *const u8| s as u64;
        ImageLayout {
            text: (a(&raw const __text_start), a(&raw const __text_end)),
            rodata: (a(&raw const __rodata_start), a(&raw const __rodata_end)),
            data: (a(&raw const __data_start), a(&raw const __bss_end)),
        }
    }

    /// The whole image.
    pub fn span(&self) -> (u64, u64) {
        (self.text.0, self.data.1)
    }
}

/// Why the tables could not be built.
#[derive(Clone, Copy, Debug)]
pub enum PagingError {
    /// The pool ran out (too much RAM or too many scattered devices).
    OutOfTables,
    /// An address beyond the 512 GiB the map covers.
    OutOfRange(u64),
}

impl core::fmt::Display for PagingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PagingError::OutOfTables => write!(f, "translation tables: the pool of {POOL} ran out"),
            PagingError::OutOfRange(a) => {
                write!(f, "address {a:#x} is beyond the 512 GiB identity map")
            }
        }
    }
}

struct Builder<'a> {
    tables: &'a mut [Table; POOL],
    used: usize,
}

impl Builder<'_> {
    fn table_address(&self, i: usize) -> u64 {
        &raw const self.tables[i] as u64
    }

    fn index_of(&self, address: u64) -> usize {
        ((address - self.table_address(0)) / PAGE) as usize
    }

    /// Maps `[start, end)` (page aligned) with `attrs`, in the largest blocks that fit; what is
    /// already mapped stays as it is.
    fn map(&mut self, start: u64, end: u64, attrs: u64) -> Result<(), PagingError> {
        if end > MAP_LIMIT {
            return Err(PagingError::OutOfRange(end));
        }
        let mut va = start;
        'next: while va < end {
            let mut table = 0usize; // the level-1 table
            for level in 1..=3u32 {
                let shift = 39 - 9 * level;
                let size = 1u64 << shift;
                let index = ((va >> shift) & 511) as usize;
                let entry = self.tables[table].0[index];
                let fits = va % size == 0 && va + size <= end;
                if entry & VALID == 0 {
                    if fits || level == 3 {
                        let kind = if level == 3 { VALID | TABLE } else { VALID };
                        self.tables[table].0[index] = va | attrs | kind;
                        va += size;
                        continue 'next;
                    }
                    if self.used == POOL {
                        return Err(PagingError::OutOfTables);
                    }
                    let new = self.used;
                    self.used += 1;
                    self.tables[table].0[index] = self.table_address(new) | VALID | TABLE;
                    table = new;
                } else if level < 3 && entry & TABLE != 0 {
                    table = self.index_of(entry & ADDRESS);
                } else {
                    // Already mapped by a block or page: leave it, skip it.
                    va = (va | (size - 1)) + 1;
                    continue 'next;
                }
            }
        }
        Ok(())
    }
}

/// Builds the tables and switches to them.
///
/// # Safety
///
/// Once, at boot, with interrupts masked, on the boot tables; `ram` is what is usable, the
/// image included.
pub unsafe fn init(machine: &ArmMachine, ram: &UsableRanges) -> Result<usize, PagingError> {
    let image = ImageLayout::get();
    // SAFETY: the caller runs this once before anything else uses the pool.
    let tables = unsafe { &mut *TABLES.0.get() };
    let mut b = Builder { tables, used: 1 };
    let guards = entry::guard_pages();
    let mut page = image.text.0;
    while page < image.data.1 {
        let attrs = if page < image.text.1 {
            TEXT
        } else if page < image.rodata.1 {
            RODATA
        } else {
            DATA
        };
        if !guards.contains(&page) {
            b.map(page, page + PAGE, attrs)?;
        }
        page += PAGE;
    }
    let mut heap = *ram;
    heap.remove(image.text.0, image.data.1);
    for &(start, end) in heap.as_slice() {
        let (start, end) = (start.next_multiple_of(PAGE), end & !(PAGE - 1));
        if start < end {
            b.map(start, end, DATA)?;
        }
    }
    for reg in machine.device_ranges() {
        let start = reg.base & !(PAGE - 1);
        let end = reg.base.saturating_add(reg.size).next_multiple_of(PAGE);
        // A device range inside RAM would be a lie of the device tree; the RAM mapping wins.
        let mut from = start;
        for &(s, e) in ram.as_slice() {
            if e <= from || s >= end {
                continue;
            }
            if s > from {
                b.map(from, s, DEVICE)?;
            }
            from = from.max(e);
        }
        if from < end {
            b.map(from, end, DEVICE)?;
        }
    }
    let root = b.table_address(0);
    // SAFETY: the new tables map the code and stack in use at the same addresses with the
    // same memory type, so the switch is seamless; the barriers make the table writes visible
    // to the walker before TTBR0 changes, and drop stale TLB entries after. T0SZ goes from the
    // boot tables' 4 GiB to 39 bits after TTBR0 moves to the new, page-aligned root (a 4 GiB
    // walk of it reads its first 4 entries, which map what is in use the same way); not
    // before, as a 39-bit walk of the 32-byte boot table would read the page it lies in.
    // WXN only removes execute permission from writable pages, which the tables already do.
    unsafe {
        core::arch::asm!(
            "dsb ishst",
            "msr ttbr0_el1, {root}",
            "isb",
            "mrs {t}, tcr_el1",
            "bic {t}, {t}, {t0sz_mask}",
            "orr {t}, {t}, {t0sz}",
            "msr tcr_el1, {t}",
            "isb",
            "mrs {t}, sctlr_el1",
            "orr {t}, {t}, {wxn}",
            "msr sctlr_el1, {t}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            root = in(reg) root,
            t = out(reg) _,
            wxn = in(reg) entry::SCTLR_WXN,
            t0sz_mask = in(reg) entry::TCR_T0SZ_MASK,
            t0sz = in(reg) entry::TCR_T0SZ_39,
            options(nostack)
        );
    }
    Ok(b.used)
}
