//! The first instructions: the arm64 Image header, the drop from EL2 to EL1, boot translation
//! tables, `.bss`, the stacks.
//!
//! Ref: Linux `Documentation/arch/arm64/booting.rst` (the header, and the loader's contract:
//! MMU off, DTB address in `x0`, entered at EL2 or EL1); Arm ARM (DDI 0487) D1.2 (exception
//! levels), D8 (VMSAv8-64 translation), D13.2 (`HCR_EL2`, `SCTLR_EL1`, `TCR_EL1`, `CPACR_EL1`).
//!
//! `_start` is the header's `code0`, a branch over the header. Then, in order: check that the
//! image runs where it was linked (it is not position independent: see the linker script);
//! at EL2, make EL1 AArch64 with the counters and FP/SIMD untrapped, GICv3 system registers
//! usable, and `eret` to EL1 with interrupts masked; read `CNTVCT_EL0` (the clock's zero);
//! enable FP/SIMD; install the vectors; turn the MMU on with boot tables that map the first GiB
//! as device memory and the next three as normal RWX memory (the DTB lies there); clear `.bss`;
//! set the stacks and call [`super::start`].
//!
//! # FP/SIMD
//!
//! The image is built for `aarch64-unknown-none`, whose code may use the FP/SIMD registers
//! anywhere (the compiler vectorises copies and formatting), so `CPACR_EL1.FPEN` is set before
//! any Rust runs, and the exception entry saves the caller-saved vector registers (`q0-q7`,
//! `q16-q31`, `FPCR`, `FPSR`; `d8-d15` are callee-saved by AAPCS64, so the Rust handler keeps
//! them). The alternative, `aarch64-unknown-none-softfloat`, would make every exception cheaper
//! but every `f64` in an appliance slow and needs a target the toolchain file does not list;
//! the exception entry is not hot (one interrupt per device batch or alarm).
//!
//! # Stacks
//!
//! Boot and the executor run on `SP_EL0` (`SPSel` = 0, the boot stack, with an unmapped guard
//! page under it); exceptions switch to `SP_EL1`, a stack of their own, so a stack overflow
//! still gets its crash report.

use core::arch::global_asm;

/// `SCTLR_EL1` RES1 bits (11, 20, 22, 23, 28, 29), MMU and caches off.
pub const SCTLR_RES1: u64 = 0x30d0_0800;
/// `SCTLR_EL1` with the MMU (M), data cache (C), stack alignment check (SA) and instruction
/// cache (I) on.
pub const SCTLR_ON: u64 = SCTLR_RES1 | 1 | (1 << 2) | (1 << 3) | (1 << 12);
/// `SCTLR_EL1.WXN`: writable memory is never executable, whatever the tables say.
pub const SCTLR_WXN: u64 = 1 << 19;

/// `MAIR_EL1`: attribute 0 = Device-nGnRE, attribute 1 = Normal, write-back, read/write
/// allocate, inner and outer.
pub const MAIR: u64 = 0xff04;

/// `TCR_EL1` at boot, without IPS: T0SZ = 32 (a 4 GiB identity map starting at level 1, whose
/// table has 4 entries: 32 bytes of the image, not a 4 KiB page), table walks inner/outer
/// write-back cacheable and inner shareable, 4 KiB granule, TTBR1 walks disabled (EPD1).
const TCR_BOOT: u64 = 32 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23);

/// `TCR_EL1.T0SZ` of the run-time tables, which [`super::paging`] sets: 25 (a 39-bit, 512 GiB
/// map starting at level 1).
pub const TCR_T0SZ_39: u64 = 25;
/// `TCR_EL1.T0SZ`'s field.
pub const TCR_T0SZ_MASK: u64 = 0x3f;

global_asm!(
    r#"
    .pushsection .text.head, "ax"
    .global _start
    _start:
        b       1f                      /* code0 */
        .long   0                       /* code1 */
        .quad   0x200000                /* text_offset: 2 MiB above a 2 MiB-aligned base */
        .quad   __image_size            /* image_size, .bss included */
        .quad   0x2                     /* flags: little-endian, 4 KiB pages, base near DRAM start */
        .quad   0, 0, 0                 /* res2-res4 */
        .ascii  "ARM\x64"               /* magic */
        .long   0                       /* res5: no PE header */

    1:  mov     x19, x0                 /* the DTB */
        adr     x9, _start
        ldr     x10, =_start
        cmp     x9, x10
        b.ne    9f
        mrs     x20, CurrentEL
        lsr     x20, x20, #2            /* the entry EL, for the boot line */
        cmp     x20, #2
        b.ne    2f

        /* EL2: EL1 is AArch64, its counters and FP/SIMD untrapped, virtual counter = physical. */
        mov     x9, #(1 << 31)          /* HCR_EL2.RW */
        msr     hcr_el2, x9
        mov     x9, #3                  /* CNTHCTL_EL2.EL1PCTEN | EL1PCEN */
        msr     cnthctl_el2, x9
        msr     cntvoff_el2, xzr
        mov     x9, #0x33ff             /* CPTR_EL2: RES1 bits, TFP clear */
        msr     cptr_el2, x9
        msr     hstr_el2, xzr
        mrs     x9, id_aa64pfr0_el1
        ubfx    x9, x9, #24, #4         /* GIC system registers implemented? */
        cbz     x9, 3f
        mrs     x9, S3_4_C12_C9_5       /* ICC_SRE_EL2: SRE and Enable (EL1 may use them) */
        mov     x10, #0x9
        orr     x9, x9, x10
        msr     S3_4_C12_C9_5, x9
        isb
    3:  ldr     x9, ={sctlr_res1}
        msr     sctlr_el1, x9
        mov     x9, #0x3c5              /* SPSR: EL1h, D A I F masked */
        msr     spsr_el2, x9
        adr     x9, 2f
        msr     elr_el2, x9
        eret

    2:  msr     daifset, #0xf
        isb
        mrs     x21, cntvct_el0         /* the monotonic clock's zero */
        mov     x9, #(3 << 20)          /* CPACR_EL1.FPEN: FP/SIMD untrapped */
        msr     cpacr_el1, x9
        isb
        adrp    x9, __vectors
        add     x9, x9, :lo12:__vectors
        msr     vbar_el1, x9

        /* Boot translation tables (replaced by super::paging once the DTB is read). */
        ldr     x9, ={mair}
        msr     mair_el1, x9
        mrs     x10, id_aa64mmfr0_el1
        and     x10, x10, #0xf          /* PARange */
        mov     x11, #5                 /* at most 48 bits */
        cmp     x10, x11
        csel    x10, x10, x11, ls
        ldr     x9, ={tcr_boot}
        orr     x9, x9, x10, lsl #32    /* IPS */
        msr     tcr_el1, x9
        adrp    x9, __boot_l1
        add     x9, x9, :lo12:__boot_l1
        msr     ttbr0_el1, x9
        isb
        tlbi    vmalle1
        ic      iallu
        dsb     nsh
        isb
        ldr     x9, ={sctlr_on}
        msr     sctlr_el1, x9
        isb

        adrp    x9, __bss_start
        add     x9, x9, :lo12:__bss_start
        adrp    x10, __bss_end
        add     x10, x10, :lo12:__bss_end
    4:  cmp     x9, x10
        b.hs    5f
        stp     xzr, xzr, [x9], #16
        b       4b

    5:  adrp    x9, __exception_stack_top
        add     x9, x9, :lo12:__exception_stack_top
        mov     sp, x9                  /* SP_EL1: exceptions */
        adrp    x9, __boot_stack_top
        add     x9, x9, :lo12:__boot_stack_top
        msr     sp_el0, x9
        msr     spsel, #0               /* everything else on SP_EL0 */
        mov     x29, xzr                /* ends frame-pointer backtraces */
        mov     x30, xzr
        mov     x0, x19
        mov     x1, x21
        mov     x2, x20
        bl      {start}
    9:  wfe                             /* not where we were linked: nothing can be done */
        b       9b
        .ltorg
    .popsection

    /* Boot level-1 table, for a 4 GiB map (TCR_BOOT): GiB 0 device (nGnRE, XN), GiB 1-3
       normal RWX. Aligned to 64 bytes, as a table under 64 bytes must be. */
    .pushsection .rodata.boot_tables, "a"
    .balign 64
    __boot_l1:
        .quad   0x0060000000000401
        .quad   (1 << 30) | 0x705
        .quad   (2 << 30) | 0x705
        .quad   (3 << 30) | 0x705
    .popsection

    .pushsection .bss.stacks, "aw", @nobits
    .balign 4096
    .global __boot_stack_guard
    __boot_stack_guard:
        .skip   4096
    .global __boot_stack_bottom
    __boot_stack_bottom:
        .skip   131072
    .global __boot_stack_top
    __boot_stack_top:
    .global __exception_stack_guard
    __exception_stack_guard:
        .skip   4096
    __exception_stack_bottom:
        .skip   16384
    .global __exception_stack_top
    __exception_stack_top:
    .popsection
    "#,
    start = sym super::start,
    sctlr_res1 = const SCTLR_RES1,
    sctlr_on = const SCTLR_ON,
    mair = const MAIR,
    tcr_boot = const TCR_BOOT,
);

unsafe extern "C" {
    static __boot_stack_guard: u8;
    static __exception_stack_guard: u8;
}

/// The guard pages under the two stacks: left unmapped by paging.
pub fn guard_pages() -> [u64; 2] {
    [
        core::ptr::addr_of!(__boot_stack_guard) as u64,
        core::ptr::addr_of!(__exception_stack_guard) as u64,
    ]
}
