//! The generic timer: `CNTVCT_EL0` is the monotonic clock, the EL1 virtual timer
//! (`CNTV_CVAL_EL0`/`CNTV_CTL_EL0`) the one-shot alarm.
//!
//! Ref: Arm ARM (DDI 0487) D12 ("The Generic Timer in AArch64 state"). The virtual counter is
//! the one a guest owns under any hypervisor (KVM and Xen offset it; entry sets the offset to 0
//! when Morgana owns EL2). Its interrupt is a level-sensitive PPI (27 on QEMU `virt`, from the
//! device tree), asserted while the timer is enabled, unmasked and past its compare value.

/// The counter's frequency, from `CNTFRQ_EL0` (firmware sets it; QEMU says 62.5 MHz or 1 GHz).
pub fn frequency() -> u64 {
    let f: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
    f
}

/// The virtual counter, ordered after earlier instructions (`isb`).
pub fn counter() -> u64 {
    let c: u64;
    // SAFETY: reading CNTVCT_EL0 has no side effect; EL1 access is untrapped (entry saw to it).
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) c, options(nomem, nostack)) };
    c
}

/// Counter ticks and nanoseconds, both ways.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Ticks per second.
    pub hz: u64,
}

impl Clock {
    /// Nanoseconds in `ticks`.
    pub fn ticks_to_nanos(self, ticks: u64) -> u64 {
        (u128::from(ticks) * 1_000_000_000 / u128::from(self.hz.max(1))) as u64
    }

    /// Ticks in `nanos`, rounded up (an alarm must not go off early).
    pub fn nanos_to_ticks(self, nanos: u64) -> u64 {
        let t = (u128::from(nanos) * u128::from(self.hz)).div_ceil(1_000_000_000);
        u64::try_from(t).unwrap_or(u64::MAX)
    }
}

/// Arms the alarm for counter value `at`, or disarms it.
pub fn set_alarm(at: Option<u64>) {
    match at {
        // SAFETY: the virtual timer's compare value and control (ENABLE, IMASK clear) only
        // decide when its PPI asserts; the GIC hands that to `gic::handle_irq`.
        Some(at) => unsafe {
            core::arch::asm!(
                "msr cntv_cval_el0, {at}",
                "msr cntv_ctl_el0, {on}",
                "isb",
                at = in(reg) at,
                on = in(reg) 1u64,
                options(nomem, nostack)
            );
        },
        None => silence(),
    }
}

/// Disables the timer, which deasserts its interrupt (from the handler, or to disarm).
pub fn silence() {
    // SAFETY: disabling the virtual timer only stops its interrupt.
    unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) };
}
