//! [`Env`]: what an appliance's `main` is given.

use alloc::string::String;
use core::fmt;

use morgana_executor::{EntropyError, Handle, Instant, Stats, UtcTime};

/// The appliance's view of the machine it booted on: its command line, the clocks, entropy and
/// the executor. Devices join it as their drivers land.
pub struct Env {
    cmdline: String,
    handle: Handle,
}

impl Env {
    /// An environment for the executor of `handle`, with the boot command line.
    pub fn new(cmdline: String, handle: Handle) -> Self {
        Env { cmdline, handle }
    }

    /// The command line the appliance was booted with (the kernel command line on a VM, the
    /// arguments joined by spaces on the hosted platform).
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }

    /// The command line's words.
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.cmdline.split_ascii_whitespace()
    }

    /// The value of the last `key=value` word of the command line, or `""` for a bare `key`.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args()
            .filter_map(|w| match w.split_once('=') {
                Some((k, v)) if k == key => Some(v),
                None if w == key => Some(""),
                _ => None,
            })
            .last()
    }

    /// The platform's name: `"hosted"`, `"qemu-microvm"`, ...
    pub fn platform(&self) -> &'static str {
        self.handle.platform().name()
    }

    /// The monotonic clock.
    pub fn now(&self) -> Instant {
        self.handle.now()
    }

    /// Wall-clock time (UTC), where the platform has a source.
    pub fn wall_clock(&self) -> Option<UtcTime> {
        self.handle.platform().wall_clock()
    }

    /// Fills `buf` from the platform's entropy source, or says there is none.
    pub fn entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        self.handle.platform().entropy(buf)
    }

    /// The executor the appliance runs on.
    pub fn executor(&self) -> &Handle {
        &self.handle
    }

    /// The executor's counters: tasks spawned and polled, wakes, time idle.
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("platform", &self.platform())
            .field("cmdline", &self.cmdline)
            .finish()
    }
}
