//! The page tables: an identity map with W^X, guard pages, and uncached device memory.
//!
//! Ref: Intel SDM vol. 3, 4.5 (4-level paging), 4.6 (access rights), 11.12 (PAT/PCD/PWT).
//!
//! - the image: text read+execute, rodata read-only, data and bss read+write+no-execute;
//! - guard pages (under the boot stack and the interrupt stacks) and page 0: not mapped;
//! - other RAM: read+write+no-execute;
//! - the 32-bit device window (`DEVICE_WINDOW`, where the LAPIC, IOAPIC, virtio-mmio and PCI
//!   BARs live) outside RAM: read+write+no-execute, uncached;
//! - everything else: not mapped, so a wild pointer faults.
//!
//! A 2 MiB stretch whose pages all get the same rights is one large page; others get a page
//! table. Only stretches with a boundary inside are split, so building the map costs a few
//! hundred table writes, not a walk over every 4 KiB page.
//!
//! Table frames come from a bump allocator over usable RAM just past the image; the heap is
//! given what is left.

use crate::bootinfo::{BootInfo, MemoryKind};

const PAGE: u64 = 4096;
const LARGE: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The part of the 32-bit address space where devices live: mapped uncached where it is not
/// RAM (q35 puts PCIe ECAM at 0xb000_0000 and BARs above it; the LAPIC, IOAPIC and microvm's
/// virtio-mmio devices sit just under 4 GiB).
pub const DEVICE_WINDOW: (u64, u64) = (0xb000_0000, 0x1_0000_0000);

/// Access rights of a mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rights {
    Text,
    ReadOnly,
    ReadWrite,
    Device,
}

impl Rights {
    fn bits(self) -> u64 {
        match self {
            Rights::Text => PRESENT,
            Rights::ReadOnly => PRESENT | NO_EXECUTE,
            Rights::ReadWrite => PRESENT | WRITABLE | NO_EXECUTE,
            Rights::Device => PRESENT | WRITABLE | NO_EXECUTE | CACHE_DISABLE | WRITE_THROUGH,
        }
    }
}

/// The image's layout, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// `[start, end)` of each part.
    pub text: (u64, u64),
    /// Read-only data (and the PVH note).
    pub rodata: (u64, u64),
    /// Data and bss.
    pub data: (u64, u64),
}

impl ImageLayout {
    /// Where the linker put things.
    pub fn get() -> ImageLayout {
        unsafe extern "C" {
            static __text_start: u8;
            static __text_end: u8;
            static __rodata_start: u8;
            static __rodata_end: u8;
            static __data_start: u8;
            static __image_end: u8;
        }
        let a = |p: *const u8| p as u64;
        ImageLayout {
            text: (a(&raw const __text_start), a(&raw const __text_end)),
            rodata: (a(&raw const __rodata_start), a(&raw const __rodata_end)),
            data: (a(&raw const __data_start), a(&raw const __image_end)),
        }
    }

    /// The whole image.
    pub fn span(&self) -> (u64, u64) {
        (self.text.0, self.data.1)
    }
}

/// Hands out zeroed 4 KiB frames from `[next, end)`.
struct FrameBump {
    next: u64,
    end: u64,
}

impl FrameBump {
    fn alloc(&mut self) -> u64 {
        assert!(
            self.next + PAGE <= self.end,
            "out of memory for page tables (RAM after the image is too small)"
        );
        let frame = self.next;
        self.next += PAGE;
        // SAFETY: the frame is usable RAM past the image, inside the boot page tables'
        // identity-mapped first GiB (checked by `init`), and handed out once.
        unsafe { core::ptr::write_bytes(frame as *mut u8, 0, PAGE as usize) };
        frame
    }
}

/// What [`init`] built.
#[derive(Clone, Copy, Debug)]
pub struct Mapped {
    /// `[start, end)` of the frames used for the page tables: not heap.
    pub tables: (u64, u64),
}

struct Plan<'a> {
    info: &'a BootInfo,
    image: ImageLayout,
    guards: &'a [u64],
}

impl Plan<'_> {
    fn is_ram(&self, addr: u64) -> bool {
        self.info.regions().iter().any(|r| {
            matches!(
                r.kind,
                MemoryKind::Usable | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs
            ) && r.start <= addr
                && addr < r.end()
        })
    }

    /// The rights of the 4 KiB page at `addr`.
    fn rights(&self, addr: u64) -> Option<Rights> {
        let within = |(s, e): (u64, u64)| s <= addr && addr < e;
        if addr < PAGE || self.guards.contains(&addr) {
            return None;
        }
        if within(self.image.text) {
            return Some(Rights::Text);
        }
        if within(self.image.rodata) {
            return Some(Rights::ReadOnly);
        }
        if within(self.image.data) {
            return Some(Rights::ReadWrite);
        }
        if self.is_ram(addr) {
            return Some(Rights::ReadWrite);
        }
        if within(DEVICE_WINDOW) {
            return Some(Rights::Device);
        }
        None
    }

    /// Whether some boundary of the plan falls strictly inside `[start, start + size)`, so that
    /// its pages do not all get the same rights.
    fn splits(&self, start: u64, size: u64) -> bool {
        let end = start + size;
        let inside = |b: u64| start < b && b < end;
        let image = [self.image.text, self.image.rodata, self.image.data];
        start == 0
            || self
                .info
                .regions()
                .iter()
                .any(|r| inside(r.start) || inside(r.end()))
            || image.iter().any(|&(s, e)| inside(s) || inside(e))
            || self.guards.iter().any(|&g| (start..end).contains(&g))
            || inside(DEVICE_WINDOW.0)
            || inside(DEVICE_WINDOW.1)
    }
}

/// Builds the page tables and switches to them.
///
/// # Safety
///
/// Once, at boot, on the boot page tables, with interrupts off; `guards` lists page-aligned
/// addresses that nothing may use; `frames` is free RAM (no image, no module, no boot data)
/// for the tables.
pub unsafe fn init(
    info: &BootInfo,
    image: ImageLayout,
    guards: &[u64],
    frames: (u64, u64),
) -> Mapped {
    // Frames for the tables: free RAM the caller chose, within the boot tables' first GiB.
    let start = frames.0.next_multiple_of(PAGE);
    let mut frames = FrameBump {
        next: start,
        end: frames.1.min(1 << 30),
    };
    let plan = Plan {
        info,
        image,
        guards,
    };

    let pml4 = frames.alloc();

    // Walk only what gets mapped: RAM (and ACPI) regions and the device window, in address
    // order, each 2 MiB stretch once.
    let mut ranges = [(0u64, 0u64); crate::bootinfo::MAX_REGIONS + 1];
    let mut n = 0;
    for r in info
        .regions()
        .iter()
        .filter(|r| r.kind != MemoryKind::Reserved)
    {
        ranges[n] = (r.start, r.end());
        n += 1;
    }
    ranges[n] = DEVICE_WINDOW;
    n += 1;
    let ranges = &mut ranges[..n];
    crate::bootinfo::sort_ranges(ranges);

    let gib_pages = gib_pages_supported();
    let mut done = 0; // every stretch below this is mapped
    for &(range_start, range_end) in ranges.iter() {
        let mut chunk = (range_start & !(LARGE - 1)).max(done);
        while chunk < range_end {
            // A whole gigabyte of equal rights is one 1 GiB page, where the CPU has them.
            if gib_pages
                && chunk % GIB == 0
                && !plan.splits(chunk, GIB)
                && let Some(r) = plan.rights(chunk)
            {
                // SAFETY: as below.
                unsafe { set_entry(&mut frames, pml4, chunk, 2, chunk | r.bits() | HUGE) };
                chunk += GIB;
                continue;
            }
            if plan.splits(chunk, LARGE) {
                let pt = frames.alloc();
                let mut any = false;
                for i in 0..512 {
                    let addr = chunk + i * PAGE;
                    if let Some(r) = plan.rights(addr) {
                        // SAFETY: `pt` is a zeroed frame of ours, identity-mapped; `i` < 512.
                        unsafe { (pt as *mut u64).add(i as usize).write(addr | r.bits()) };
                        any = true;
                    }
                }
                if any {
                    // SAFETY: as above, the table frames are ours and identity-mapped.
                    unsafe { set_entry(&mut frames, pml4, chunk, 1, pt | PRESENT | WRITABLE) };
                }
            } else if let Some(r) = plan.rights(chunk) {
                // SAFETY: as above.
                unsafe { set_entry(&mut frames, pml4, chunk, 1, chunk | r.bits() | HUGE) };
            }
            chunk += LARGE;
        }
        done = done.max(chunk);
    }

    // SAFETY: the new tables map the code running now (text is executable at the same
    // addresses), the stack (data) and everything the caller goes on to use; CR3 takes the
    // PML4's physical address, which is its address (identity map).
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack)) };
    Mapped {
        tables: (start, frames.next),
    }
}

/// Whether the CPU has 1 GiB pages (CPUID 0x8000_0001 EDX bit 26, "Page1GB").
fn gib_pages_supported() -> bool {
    use core::arch::x86_64::__cpuid;
    // Leaf 0x8000_0000 says how far the extended leaves go.
    __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).edx & (1 << 26) != 0
}

/// Writes the entry for `addr` in the table of `level` (2: PDPT, 1: page directory),
/// creating the tables above it on the way.
///
/// # Safety
///
/// `pml4` and every table reachable from it are frames from `frames`, identity-mapped.
unsafe fn set_entry(frames: &mut FrameBump, pml4: u64, addr: u64, level: u32, entry: u64) {
    let index = |level: u32| ((addr >> (12 + 9 * level)) & 0x1ff) as usize;
    let mut table = pml4;
    for level in (level + 1..=3).rev() {
        let slot = (table as *mut u64).wrapping_add(index(level));
        // SAFETY: `table` is one of our frames (caller's contract) and the index is < 512.
        let current = unsafe { slot.read() };
        table = if current & PRESENT != 0 {
            current & ADDR_MASK
        } else {
            let next = frames.alloc();
            // SAFETY: as above.
            unsafe { slot.write(next | PRESENT | WRITABLE) };
            next
        };
    }
    // SAFETY: `table` is now the table of `level` for `addr`, one of our frames.
    unsafe { (table as *mut u64).add(index(level)).write(entry) };
}
