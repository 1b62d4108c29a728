//! The exception vectors and what runs in exception context.
//!
//! Ref: Arm ARM (DDI 0487) D1.3 (exception entry, `VBAR_EL1` layout: four groups of sync, IRQ,
//! FIQ and SError, 0x80 bytes each), D17.2.40 (`ESR_EL1` and its exception classes).
//!
//! Each vector makes room for a [`Frame`] on `SP_EL1`, saves `x0`/`x1`, puts its number in `x0`
//! and branches to the common entry, which saves the other general registers, `ELR_EL1`,
//! `SPSR_EL1`, `SP_EL0` and the caller-saved FP/SIMD state (see `entry`), calls [`dispatch`],
//! restores everything and returns with `eret`.
//!
//! In exception context exactly this happens: an IRQ is acknowledged at the GIC, marks its
//! event (the alarm's, or a device's, whose level-triggered line is masked until its driver
//! acknowledged the device) and is ended; anything else prints a crash report and exits with
//! [`crate::EXIT_CRASH`].

use core::arch::global_asm;
use core::fmt::Write;

use super::{EarlyConsole, gic, paging::ImageLayout};

/// Bytes of the frame: 31 general registers, ELR, SPSR, SP_EL0 (272 with padding), 24 vector
/// registers, FPCR and FPSR.
const FRAME_SIZE: usize = 272 + 24 * 16 + 16;

global_asm!(
    r#"
    .pushsection .text.vectors, "ax"
    .balign 2048
    .global __vectors
    __vectors:
    .set kind, 0
    .rept 16
        .balign 128
        sub     sp, sp, #{frame}
        stp     x0, x1, [sp]
        mov     x0, #kind
        b       __exception_common
        .set kind, kind + 1
    .endr

    __exception_common:
        stp     x2, x3, [sp, #16]
        stp     x4, x5, [sp, #32]
        stp     x6, x7, [sp, #48]
        stp     x8, x9, [sp, #64]
        stp     x10, x11, [sp, #80]
        stp     x12, x13, [sp, #96]
        stp     x14, x15, [sp, #112]
        stp     x16, x17, [sp, #128]
        stp     x18, x19, [sp, #144]
        stp     x20, x21, [sp, #160]
        stp     x22, x23, [sp, #176]
        stp     x24, x25, [sp, #192]
        stp     x26, x27, [sp, #208]
        stp     x28, x29, [sp, #224]
        mrs     x1, elr_el1
        stp     x30, x1, [sp, #240]
        mrs     x1, spsr_el1
        mrs     x2, sp_el0
        stp     x1, x2, [sp, #256]
        add     x9, sp, #272
        stp     q0, q1, [x9], #32
        stp     q2, q3, [x9], #32
        stp     q4, q5, [x9], #32
        stp     q6, q7, [x9], #32
        stp     q16, q17, [x9], #32
        stp     q18, q19, [x9], #32
        stp     q20, q21, [x9], #32
        stp     q22, q23, [x9], #32
        stp     q24, q25, [x9], #32
        stp     q26, q27, [x9], #32
        stp     q28, q29, [x9], #32
        stp     q30, q31, [x9], #32
        mrs     x10, fpcr
        mrs     x11, fpsr
        stp     x10, x11, [x9]
        mov     x1, sp
        mov     x29, xzr
        bl      {dispatch}
        add     x9, sp, #272
        ldp     q0, q1, [x9], #32
        ldp     q2, q3, [x9], #32
        ldp     q4, q5, [x9], #32
        ldp     q6, q7, [x9], #32
        ldp     q16, q17, [x9], #32
        ldp     q18, q19, [x9], #32
        ldp     q20, q21, [x9], #32
        ldp     q22, q23, [x9], #32
        ldp     q24, q25, [x9], #32
        ldp     q26, q27, [x9], #32
        ldp     q28, q29, [x9], #32
        ldp     q30, q31, [x9], #32
        ldp     x10, x11, [x9]
        msr     fpcr, x10
        msr     fpsr, x11
        ldp     x1, x2, [sp, #256]
        msr     spsr_el1, x1
        msr     sp_el0, x2
        ldp     x30, x1, [sp, #240]
        msr     elr_el1, x1
        ldp     x2, x3, [sp, #16]
        ldp     x4, x5, [sp, #32]
        ldp     x6, x7, [sp, #48]
        ldp     x8, x9, [sp, #64]
        ldp     x10, x11, [sp, #80]
        ldp     x12, x13, [sp, #96]
        ldp     x14, x15, [sp, #112]
        ldp     x16, x17, [sp, #128]
        ldp     x18, x19, [sp, #144]
        ldp     x20, x21, [sp, #160]
        ldp     x22, x23, [sp, #176]
        ldp     x24, x25, [sp, #192]
        ldp     x26, x27, [sp, #208]
        ldp     x28, x29, [sp, #224]
        ldp     x0, x1, [sp]
        add     sp, sp, #{frame}
        eret
    .popsection
    "#,
    frame = const FRAME_SIZE,
    dispatch = sym dispatch,
);

/// The registers saved on exception entry, in memory order (the FP/SIMD area after them is not
/// described: nothing in Rust reads it).
#[repr(C)]
#[derive(Debug)]
pub struct Frame {
    /// `x0`-`x30`.
    pub x: [u64; 31],
    /// Where the exception was taken (`ELR_EL1`).
    pub elr: u64,
    /// The interrupted `PSTATE` (`SPSR_EL1`).
    pub spsr: u64,
    /// The interrupted stack pointer (`SP_EL0`).
    pub sp_el0: u64,
}

/// The Rust side of every vector: `kind` is the vector's number (group * 4 + type: group 0 is
/// "current EL, SP_EL0", where Morgana runs; group 1 an exception inside an exception; 2 and 3
/// lower ELs, which Morgana has none of; type 0 sync, 1 IRQ, 2 FIQ, 3 SError).
extern "C" fn dispatch(kind: u64, frame: &mut Frame) {
    if kind == 1 {
        gic::handle_irq();
        return;
    }
    crash(kind, frame)
}

fn read_esr_far() -> (u64, u64) {
    let (esr, far): (u64, u64);
    // SAFETY: reading the syndrome and fault address registers has no side effect.
    unsafe {
        core::arch::asm!(
            "mrs {esr}, esr_el1",
            "mrs {far}, far_el1",
            esr = out(reg) esr,
            far = out(reg) far,
            options(nomem, nostack, preserves_flags)
        );
    }
    (esr, far)
}

/// What an exception class (`ESR_EL1.EC`) is.
pub fn exception_class(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "WFI/WFE trapped",
        0x07 => "FP/SIMD access trapped",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "system register access trapped",
        0x20 | 0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 | 0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x2f => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "other exception class",
    }
}

/// The fault status code of an abort (`ISS.DFSC`/`IFSC`).
fn fault_status(fsc: u64) -> &'static str {
    match fsc & 0x3c {
        0x00 => "address size fault",
        0x04 => "translation fault (not mapped)",
        0x08 => "access flag fault",
        0x0c => "permission fault",
        0x10 => "synchronous external abort",
        0x20 => "alignment fault",
        _ => "other fault",
    }
}

/// Reports the exception and exits with [`crate::EXIT_CRASH`].
fn crash(kind: u64, frame: &Frame) -> ! {
    let (esr, far) = read_esr_far();
    let mut out = EarlyConsole;
    let what = ["synchronous exception", "IRQ", "FIQ", "SError"][(kind & 3) as usize];
    let whence = [
        "",
        " inside an exception handler",
        " from a lower EL (AArch64)",
        " from a lower EL (AArch32)",
    ][(kind >> 2) as usize & 3];
    let ec = (esr >> 26) & 0x3f;
    let _ = writeln!(
        out,
        "\nmorgana: CPU exception: {what}{whence}: {} (ESR_EL1 {esr:#x}, EC {ec:#x})",
        exception_class(ec)
    );
    if matches!(ec, 0x20 | 0x21 | 0x24 | 0x25) {
        let write = ec >= 0x24 && esr & (1 << 6) != 0;
        let _ = writeln!(
            out,
            "  {} of address {far:#x} (FAR_EL1): {}",
            if ec < 0x24 {
                "instruction fetch"
            } else if write {
                "write"
            } else {
                "read"
            },
            fault_status(esr & 0x3f)
        );
    }
    let _ = writeln!(
        out,
        "  ELR {:#018x}  SP {:#018x}  SPSR {:#x}  LR {:#018x}  FP {:#018x}",
        frame.elr, frame.sp_el0, frame.spsr, frame.x[30], frame.x[29]
    );
    for row in 0..4 {
        let _ = write!(out, " ");
        for i in row * 4..row * 4 + 4 {
            let _ = write!(out, " x{i:<2} {:#018x}", frame.x[i]);
        }
        let _ = writeln!(out);
    }
    backtrace(&mut out, frame.elr, frame.x[29]);
    super::exit(crate::EXIT_CRASH)
}

/// Walks the frame-pointer chain (images are built with frame pointers: each frame record is
/// `[x29, x30]`), only through the image's data and bss (where the stacks are), so a corrupt
/// chain cannot fault again.
pub fn backtrace(out: &mut EarlyConsole, pc: u64, mut fp: u64) {
    let (lo, hi) = ImageLayout::get().data;
    let _ = writeln!(out, "  backtrace (addr2line -e IMAGE ADDRESS names them):");
    let _ = writeln!(out, "    #0 {pc:#018x}");
    for depth in 1..32 {
        if fp % 16 != 0 || fp < lo || fp + 16 > hi {
            break;
        }
        // SAFETY: `fp` is 16-aligned and [fp, fp + 16) lies inside the image's data and bss,
        // which are mapped readable.
        let (next, ret) = unsafe { ((fp as *const u64).read(), (fp as *const u64).add(1).read()) };
        if ret == 0 {
            break;
        }
        let _ = writeln!(out, "    #{depth} {ret:#018x}");
        fp = next;
    }
}
