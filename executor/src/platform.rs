//! The [`Platform`] trait: what the executor needs from the machine it runs on.
//!
//! Each target implements it once: the x86_64 PVH and AArch64 shims and the hosted Linux process
//! in `morgana-boot`, and the simulator in this crate (feature `sim`).

use core::fmt;

use crate::event::EventTable;
use crate::time::Instant;

/// The machine under the executor: a monotonic clock, a one-shot alarm, a way to halt until the
/// next interrupt, wall-clock time, entropy, a console and a way out.
///
/// All methods are called in task context on the executor's core; none is called from an
/// interrupt handler.
pub trait Platform {
    /// A short name for logs: `"hosted"`, `"sim"`, `"qemu-microvm"`, ...
    fn name(&self) -> &'static str;

    /// The monotonic clock. Never goes backwards; its zero is arbitrary (usually boot).
    fn now(&self) -> Instant;

    /// Arms the one-shot alarm for `deadline`, replacing any earlier setting; `None` disarms it.
    ///
    /// When the alarm goes off it only has to end [`Platform::idle`]; the executor reads the clock
    /// and fires its timers itself.
    fn set_alarm(&self, deadline: Option<Instant>);

    /// Halts until an interrupt, the alarm or the [`Doorbell`] — unless an event is already marked
    /// in `events`, in which case it returns at once.
    ///
    /// The check of `events` and the halt must be atomic: an event marked after the check must
    /// still end the halt (on x86_64: `cli`, check, `sti; hlt`, since `sti` delays interrupts by
    /// one instruction; on AArch64: mask, check, `wfi`, unmask). Spurious returns are allowed.
    fn idle(&self, events: &EventTable);

    /// Marks the events of sources that do not interrupt, without waiting: called once per
    /// pass of the run loop, so a busy executor still sees them. The hosted platform checks
    /// its watched file descriptors here; interrupt-driven platforms mark from their handlers
    /// and need nothing (the default).
    fn poll_events(&self, events: &EventTable) {
        let _ = events;
    }

    /// How another thread wakes this platform from [`Platform::idle`], where there can be other
    /// threads (the hosted and simulated platforms). Bare-metal platforms have none: there, only
    /// interrupts end a halt.
    fn doorbell(&self) -> Option<alloc::sync::Arc<dyn Doorbell>> {
        None
    }

    /// Wall-clock time (UTC), where the platform has a source.
    fn wall_clock(&self) -> Option<UtcTime>;

    /// Fills `buf` from a hardware (or kernel) entropy source.
    ///
    /// A platform without a source returns [`EntropyError::NoSource`]: it never hands out
    /// predictable bytes in place of entropy.
    fn entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError>;

    /// Writes bytes to the console, unbuffered.
    fn console_write(&self, bytes: &[u8]);

    /// Ends the appliance with `code` (0 for success).
    fn exit(&self, code: i32) -> !;
}

/// Wakes a platform's [`Platform::idle`] from another thread.
///
/// The executor rings it when a task is woken from a thread other than its own; an
/// [`crate::event::Interrupter`] rings it after marking an event.
pub trait Doorbell: Send + Sync {
    /// Ends the current (or the next) [`Platform::idle`].
    fn ring(&self);
}

/// Why [`Platform::entropy`] produced no bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyError {
    /// The platform has no entropy source (no RDRAND/RDSEED, no virtio-rng, no RNDR...).
    NoSource,
    /// The source exists but failed (RDRAND returned no value after retries, a read failed...).
    Failed,
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntropyError::NoSource => f.write_str(
                "no entropy source on this platform: refusing to hand out predictable bytes",
            ),
            EntropyError::Failed => f.write_str("the entropy source failed"),
        }
    }
}

/// A point in UTC: nanoseconds since the Unix epoch (1970-01-01T00:00:00Z), leap seconds not
/// counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime {
    nanos: u128,
}

impl UtcTime {
    /// The time `nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(nanos: u128) -> Self {
        UtcTime { nanos }
    }

    /// The time `secs` seconds after the Unix epoch.
    pub const fn from_unix_secs(secs: u64) -> Self {
        UtcTime {
            nanos: secs as u128 * 1_000_000_000,
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> u128 {
        self.nanos
    }

    /// Whole seconds since the Unix epoch.
    pub const fn unix_secs(self) -> u64 {
        (self.nanos / 1_000_000_000) as u64
    }

    /// The civil date and time: (year, month 1-12, day 1-31, hour, minute, second).
    pub const fn civil(self) -> (i64, u8, u8, u8, u8, u8) {
        let secs = self.unix_secs();
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's days-to-civil algorithm (public domain), valid for all days >= 0.
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        (
            year,
            month,
            day,
            (rem / 3600) as u8,
            (rem / 60 % 60) as u8,
            (rem % 60) as u8,
        )
    }
}

/// RFC 3339, to the second: `2026-11-27T00:47:36Z`.
impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn civil_time_of_known_instants() {
        assert_eq!(
            UtcTime::from_unix_secs(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            UtcTime::from_unix_secs(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            UtcTime::from_unix_secs(1_795_740_456).to_string(),
            "2026-11-27T00:47:36Z"
        );
    }
}
