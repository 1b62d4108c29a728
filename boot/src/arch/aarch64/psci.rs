//! PSCI: power off through the conduit the device tree names.
//!
//! Ref: Arm DEN 0022 (Power State Coordination Interface), 5.1.9 SYSTEM_OFF (function ID
//! 0x8400_0008, SMC32 convention), 5.2 (the call through `hvc #0` or `smc #0`).

use core::sync::atomic::{AtomicU8, Ordering};

use crate::dtb::Conduit;

/// 0: no PSCI known, 1: HVC, 2: SMC.
static CONDUIT: AtomicU8 = AtomicU8::new(0);

const SYSTEM_OFF: u64 = 0x8400_0008;

/// Records the conduit.
pub fn init(conduit: Option<Conduit>) {
    let v = match conduit {
        None => 0,
        Some(Conduit::Hvc) => 1,
        Some(Conduit::Smc) => 2,
    };
    CONDUIT.store(v, Ordering::Release);
}

/// Whether PSCI is known.
pub fn available() -> bool {
    CONDUIT.load(Ordering::Acquire) != 0
}

/// Asks the firmware or hypervisor to power the machine off; returns only if it refused or
/// there is no PSCI.
pub fn system_off() {
    match CONDUIT.load(Ordering::Acquire) {
        // SAFETY: a PSCI call through the conduit the device tree names; SYSTEM_OFF takes no
        // arguments and does not return on success. x0-x3 are clobbered by the SMCCC.
        1 => unsafe {
            core::arch::asm!("hvc #0", inout("x0") SYSTEM_OFF => _, out("x1") _, out("x2") _,
                out("x3") _, options(nostack));
        },
        // SAFETY: as above, through the secure monitor.
        2 => unsafe {
            core::arch::asm!("smc #0", inout("x0") SYSTEM_OFF => _, out("x1") _, out("x2") _,
                out("x3") _, options(nostack));
        },
        _ => {}
    }
}
