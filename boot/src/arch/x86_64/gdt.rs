//! The GDT and the TSS: flat 64-bit code and data segments, and interrupt stacks (IST) so that
//! a double fault, an NMI or a machine check runs on a known-good stack of its own even when the
//! kernel stack has overflowed into its guard page.
//!
//! Ref: Intel SDM vol. 3, 3.4.5 (segment descriptors), 7.7 (64-bit TSS), 6.14.5 (IST).

use core::arch::asm;
use core::cell::UnsafeCell;

/// Kernel code selector.
pub const KERNEL_CODE: u16 = 0x08;
/// Kernel data selector.
pub const KERNEL_DATA: u16 = 0x10;
const TSS_SELECTOR: u16 = 0x18;

/// IST slot (1-based, as in the IDT) of the double-fault stack.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot of the NMI and machine-check stack.
pub const IST_NMI: u8 = 2;

const IST_STACK_SIZE: usize = 16 * 1024;

/// An interrupt stack, page aligned so that paging can put an unmapped guard page under it.
#[repr(C, align(4096))]
pub struct IstStack {
    /// The page left unmapped by paging: an overflow faults instead of corrupting memory.
    pub guard: [u8; 4096],
    stack: [u8; IST_STACK_SIZE],
}

/// The 64-bit TSS (only the IST and RSP0 fields matter here).
#[repr(C, packed(4))]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

struct Tables {
    gdt: [u64; 5],
    tss: Tss,
}

struct Static<T>(UnsafeCell<T>);

// SAFETY: written only by `init`, once, on the boot core with interrupts off; afterwards only
// the CPU reads it (the stacks are used only by the CPU, on exceptions).
unsafe impl<T> Sync for Static<T> {}

/// The IST stacks: all zero, so they go to `.bss` rather than the image file.
static IST: Static<[IstStack; 2]> = Static(UnsafeCell::new(
    [const {
        IstStack {
            guard: [0; 4096],
            stack: [0; IST_STACK_SIZE],
        }
    }; 2],
));

static TABLES: Static<Tables> = Static(UnsafeCell::new(Tables {
    gdt: [
        0,
        0x00af_9a00_0000_ffff, // 0x08: code, 64-bit, present, DPL 0, readable
        0x00cf_9200_0000_ffff, // 0x10: data, present, writable
        0,                     // 0x18: TSS (low), filled in by `init`
        0,                     // TSS (high)
    ],
    tss: Tss {
        reserved0: 0,
        rsp: [0; 3],
        reserved1: 0,
        ist: [0; 7],
        reserved2: 0,
        reserved3: 0,
        iomap_base: core::mem::size_of::<Tss>() as u16,
    },
}));

/// The guard pages under the IST stacks, for paging to leave unmapped.
pub fn ist_guard_pages() -> [u64; 2] {
    let ist = IST.0.get();
    // SAFETY: only addresses are taken; nothing is read or written.
    unsafe {
        [
            core::ptr::addr_of!((*ist)[0].guard) as u64,
            core::ptr::addr_of!((*ist)[1].guard) as u64,
        ]
    }
}

/// Loads the GDT and the TSS and reloads every segment register.
///
/// # Safety
///
/// Once, on the boot core, with interrupts disabled.
pub unsafe fn init() {
    let t = TABLES.0.get();
    // SAFETY: the caller guarantees we are alone (one core, interrupts off, called once), so
    // these writes race with nothing; the tables are 'static, as lgdt/ltr require.
    unsafe {
        let ist = IST.0.get();
        for slot in 0..2 {
            let top = core::ptr::addr_of!((*ist)[slot].stack) as u64 + IST_STACK_SIZE as u64;
            (*t).tss.ist[slot] = top;
        }
        let base = core::ptr::addr_of!((*t).tss) as u64;
        let limit = (core::mem::size_of::<Tss>() - 1) as u64;
        // 64-bit TSS descriptor (type 0x9: available TSS), SDM vol. 3, figure 8-4.
        (*t).gdt[3] = (limit & 0xffff)
            | ((base & 0xff_ffff) << 16)
            | (0x89 << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (((base >> 24) & 0xff) << 56);
        (*t).gdt[4] = base >> 32;

        let ptr = DescriptorTablePointer {
            limit: (core::mem::size_of::<[u64; 5]>() - 1) as u16,
            base: core::ptr::addr_of!((*t).gdt) as u64,
        };
        asm!(
            "lgdt [{ptr}]",
            "push {code}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {data:x}",
            "mov es, {data:x}",
            "mov ss, {data:x}",
            "ltr {tss:x}",
            ptr = in(reg) &ptr,
            code = in(reg) u64::from(KERNEL_CODE),
            data = in(reg) u64::from(KERNEL_DATA),
            tss = in(reg) u64::from(TSS_SELECTOR),
            tmp = lateout(reg) _,
        );
    }
}

/// The operand of `lgdt`/`lidt`.
#[repr(C, packed(2))]
pub struct DescriptorTablePointer {
    /// Size of the table in bytes, minus one.
    pub limit: u16,
    /// Linear address of the table.
    pub base: u64,
}
