//! The x86_64 image built without the `xen` feature (for QEMU/KVM only), started by Xen anyway.
//!
//! Start-up still asks CPUID whether it runs on Xen ([`detect_early`], the same test as with the
//! feature): under Xen a PVH guest has no UART, no virtio devices and no APIC timer that Xen
//! drives, so carrying on would hang silently. Instead [`start`], after the common steps (paging
//! maps the page Xen's PV console lives on), says why on the PV console (what `xl create -c`
//! shows) and on Xen's debug port (`xl dmesg`), then shuts the domain down as crashed with
//! [`crate::EXIT_BOOT_FAILED`].
//!
//! Nothing else of the Xen platform is linked: [`super::xen`] (this module under that name) is
//! what the rest of the x86_64 code calls, with the same functions as the real one.

use core::fmt::Write;

use morgana_hypervisor::console::PvConsole;

pub use super::xen_common::{active, detect_early};
use super::xen_common::{pv_console, shutdown_reason, xen};
use crate::bootinfo::BootInfo;

/// What the image says on Xen.
pub const NO_XEN_SUPPORT: &str = "morgana: this image was built without Xen support (feature \
     `xen`); build it with `cargo xtask run-xen`, or with the `xen` feature of the `morgana` \
     crate, to run it on Xen";

/// Console output on Xen: the HVM debug port 0xe9, which Xen prints on its own console as
/// `(dN) ...`.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: port 0xe9 is Xen's HVM debug port (`hvm_print_line`): writing prints to
        // Xen's console and has no other effect.
        unsafe { ::x86_64::instructions::port::Port::<u8>::new(0xe9).write(b) };
    }
}

/// Without the feature no event channel is bound: no upcall vector to scan for.
pub fn upcall(_vector: usize) {}

/// Says that this image cannot run on Xen, on the PV console and Xen's debug port, and shuts
/// the domain down. After paging and the heap, instead of the Xen platform's start-up.
pub(super) fn start(info: &BootInfo, _boot_tsc: u64, _stages: &mut super::Stages) -> ! {
    write(NO_XEN_SUPPORT.as_bytes());
    write(b"\n");
    if let Some((addr, port)) = pv_console(info) {
        // SAFETY: Xen's console page, mapped (`pv_console` checked), whose only writer on our
        // side this is.
        let console = unsafe { PvConsole::new(addr as *mut u8) };
        let mut text = alloc::string::String::from(NO_XEN_SUPPORT);
        let _ = write!(text, "\nmorgana: exit code {}\n", crate::EXIT_BOOT_FAILED);
        let mut bytes = text.as_bytes();
        // The ring is empty at boot and holds 2 KiB: the message fits. Let xenconsoled
        // take it before the domain goes (bounded: it may never come).
        for _ in 0..100_000 {
            let n = console.write(bytes);
            bytes = &bytes[n..];
            let _ = xen().send(port);
            if bytes.is_empty() && console.unsent() == 0 {
                break;
            }
            xen().sched_yield();
        }
    }
    exit(crate::EXIT_BOOT_FAILED)
}

/// Ends the run: `SCHEDOP_shutdown` (poweroff for 0, crash for anything else).
pub fn exit(code: i32) -> ! {
    let _ = xen().shutdown(shutdown_reason(code));
    loop {
        ::x86_64::instructions::interrupts::disable();
        ::x86_64::instructions::hlt();
    }
}
