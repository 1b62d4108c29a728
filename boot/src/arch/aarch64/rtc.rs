//! Wall-clock time from the PL031 real-time clock.
//!
//! Ref: Arm PrimeCell RTC (PL031) Technical Reference Manual, 3.3.1: RTCDR (offset 0) counts
//! seconds; QEMU starts it at the host's time since the Unix epoch (`-rtc base=utc`).

use morgana_executor::UtcTime;

/// Reads the PL031 at `base` (mapped as device memory); `None` for a clock that reads 0 (not
/// set).
pub fn read(base: u64) -> Option<UtcTime> {
    // SAFETY: `base` is the PL031's register block from the device tree, mapped as device
    // memory; reading RTCDR has no side effect.
    let secs = unsafe { (base as *const u32).read_volatile() };
    (secs != 0).then(|| UtcTime::from_unix_secs(u64::from(secs)))
}
