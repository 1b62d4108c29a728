//! The crash report of a CPU exception: what, where, the registers and a frame-pointer
//! backtrace; then a non-zero exit.

use core::fmt::Write;

use super::idt::{TrapFrame, exception_name, pushes_error_code};
use super::{EarlyConsole as Writer, paging::ImageLayout};

/// Reports the exception in `frame` and exits with [`crate::EXIT_CRASH`].
pub fn exception(frame: &TrapFrame) -> ! {
    let mut out = Writer;
    let _ = writeln!(
        out,
        "\nmorgana: CPU exception: {} (vector {})",
        exception_name(frame.vector),
        frame.vector
    );
    if pushes_error_code(frame.vector) {
        let _ = writeln!(out, "  error code {:#x}", frame.error_code);
    }
    if frame.vector == 14 {
        let cr2: u64;
        // SAFETY: reading CR2 has no side effect.
        unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
        let e = frame.error_code;
        let cr2_note = if super::xen::active() {
            "CR2, UNRELIABLE here: under Xen nested in QEMU TCG it reads 0 whatever the address"
        } else {
            "CR2"
        };
        let _ = writeln!(
            out,
            "  page fault: {} of address {cr2:#x} ({cr2_note}), page {}{}",
            if e & 0x10 != 0 {
                "instruction fetch"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if e & 1 != 0 {
                "present (a protection violation)"
            } else {
                "not mapped"
            },
            if e & 8 != 0 { ", reserved bit set" } else { "" },
        );
    }
    let _ = writeln!(
        out,
        "  RIP {:#018x}  RSP {:#018x}  RBP {:#018x}  RFLAGS {:#x}",
        frame.rip, frame.rsp, frame.rbp, frame.rflags
    );
    let _ = writeln!(
        out,
        "  RAX {:#018x}  RBX {:#018x}  RCX {:#018x}  RDX {:#018x}",
        frame.rax, frame.rbx, frame.rcx, frame.rdx
    );
    let _ = writeln!(
        out,
        "  RSI {:#018x}  RDI {:#018x}  R8  {:#018x}  R9  {:#018x}",
        frame.rsi, frame.rdi, frame.r8, frame.r9
    );
    backtrace(&mut out, frame.rip, frame.rbp);
    super::exit(crate::EXIT_CRASH)
}

/// Walks the frame-pointer chain (images are built with frame pointers), only through memory
/// inside the image (where the stacks are), so a corrupt chain cannot fault again.
pub fn backtrace(out: &mut Writer, rip: u64, mut rbp: u64) {
    let image = ImageLayout::get();
    let (lo, hi) = image.data;
    let _ = writeln!(out, "  backtrace (addr2line -e IMAGE ADDRESS names them):");
    let _ = writeln!(out, "    #0 {rip:#018x}");
    for depth in 1..32 {
        if rbp % 8 != 0 || rbp < lo || rbp + 16 > hi {
            break;
        }
        // SAFETY: `rbp` is 8-aligned and [rbp, rbp + 16) lies inside the image's data and bss,
        // which are mapped readable.
        let (next, ret) = unsafe {
            (
                (rbp as *const u64).read(),
                (rbp as *const u64).add(1).read(),
            )
        };
        if ret == 0 {
            break;
        }
        let _ = writeln!(out, "    #{depth} {ret:#018x}");
        rbp = next;
    }
}
