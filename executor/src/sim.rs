//! The simulator platform: a virtual clock that jumps to the next deadline, seeded randomness,
//! a captured console. Every layer's tests run on it, fast and deterministic.
//!
//! Given the same seed and the same program, two runs poll, wake and fire in the same order: the
//! executor itself is deterministic (first-in first-out queues, deadline-then-creation timer
//! order), and the only randomness, [`Platform::entropy`] and the optional timer jitter, comes
//! from the seed.
//!
//! Threads may stand in for interrupts ([`crate::Executor::interrupter`]); the simulator then
//! waits for them in real time. When nothing can ever happen (no task runnable, no timer, no
//! event) for [`SimPlatform::stall_after`] of real time, it panics with "simulation stalled"
//! rather than hanging the test.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;
use std::sync::{Condvar, Mutex};

use crate::event::EventTable;
use crate::platform::{Doorbell, EntropyError, Platform, UtcTime};
use crate::time::Instant;

/// 2026-01-01T00:00:00Z: the simulator's wall clock at virtual time zero.
const WALL_CLOCK_BASE: UtcTime = UtcTime::from_unix_secs(1_767_225_600);

/// The simulator. See the [module docs](self).
#[derive(Debug)]
pub struct SimPlatform {
    seed: u64,
    now: Cell<u64>,
    alarm: Cell<Option<Instant>>,
    rng: Cell<u64>,
    max_jitter: Cell<u64>,
    stall_after: Cell<Duration>,
    console: RefCell<Vec<u8>>,
    echo: Cell<bool>,
    bell: Arc<SimBell>,
}

#[derive(Debug, Default)]
struct SimBell {
    rung: Mutex<bool>,
    cond: Condvar,
}

impl Doorbell for SimBell {
    fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
    }
}

impl SimPlatform {
    /// A simulator whose randomness comes from `seed`, at virtual time zero.
    pub fn new(seed: u64) -> Self {
        SimPlatform {
            seed,
            now: Cell::new(0),
            alarm: Cell::new(None),
            rng: Cell::new(seed ^ 0x9E37_79B9_7F4A_7C15),
            max_jitter: Cell::new(0),
            stall_after: Cell::new(Duration::from_secs(2)),
            console: RefCell::new(Vec::new()),
            echo: Cell::new(false),
            bell: Arc::new(SimBell::default()),
        }
    }

    /// The seed this simulator was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Makes each alarm go off up to `max` late, by a seeded random amount, as real timers do.
    pub fn set_timer_jitter(&self, max: Duration) {
        self.max_jitter
            .set(u64::try_from(max.as_nanos()).unwrap_or(u64::MAX));
    }

    /// How long (real time) to wait for another thread's event before declaring a stall.
    pub fn set_stall_after(&self, after: Duration) {
        self.stall_after.set(after);
    }

    /// The real-time limit before a stall is declared.
    pub fn stall_after(&self) -> Duration {
        self.stall_after.get()
    }

    /// Also copies console output to the test's stderr.
    pub fn set_echo(&self, echo: bool) {
        self.echo.set(echo);
    }

    /// Moves the virtual clock forward by `d` (it never goes back).
    pub fn advance(&self, d: Duration) {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.now.set(self.now.get().saturating_add(d));
    }

    /// Everything written to the console so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.console.borrow()).into_owned()
    }

    /// The next seeded pseudo-random number (SplitMix64).
    pub fn next_u64(&self) -> u64 {
        let mut z = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn take_bell(&self) -> bool {
        core::mem::take(&mut *self.bell.rung.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Platform for SimPlatform {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.get())
    }

    fn set_alarm(&self, deadline: Option<Instant>) {
        self.alarm.set(deadline);
    }

    fn idle(&self, events: &EventTable) {
        if self.take_bell() || events.any_marked() {
            return;
        }
        if let Some(deadline) = self.alarm.take() {
            let jitter = match self.max_jitter.get() {
                0 => 0,
                max => self.next_u64() % (max + 1),
            };
            let wake = deadline.as_nanos().saturating_add(jitter);
            self.now.set(self.now.get().max(wake));
            return;
        }
        // Only another thread can make progress now: wait for its doorbell, in real time.
        let rung = self.bell.rung.lock().unwrap_or_else(|e| e.into_inner());
        let (mut rung, timeout) = self
            .bell
            .cond
            .wait_timeout_while(rung, self.stall_after.get(), |rung| {
                !*rung && !events.any_marked()
            })
            .unwrap_or_else(|e| e.into_inner());
        if timeout.timed_out() && !*rung && !events.any_marked() {
            panic!(
                "simulation stalled at {:?}: no task runnable, no timer armed, and no event \
                 for {:?} of real time (a deadlock in the code under test?)",
                self.now(),
                self.stall_after.get()
            );
        }
        *rung = false;
    }

    fn doorbell(&self) -> Option<Arc<dyn Doorbell>> {
        Some(self.bell.clone())
    }

    fn wall_clock(&self) -> Option<UtcTime> {
        Some(UtcTime::from_unix_nanos(
            WALL_CLOCK_BASE.unix_nanos() + u128::from(self.now.get()),
        ))
    }

    /// Seeded pseudo-random bytes: the simulator's whole point is reproducibility. Never use the
    /// simulator where real entropy matters.
    fn entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        Ok(())
    }

    fn console_write(&self, bytes: &[u8]) {
        self.console.borrow_mut().extend_from_slice(bytes);
        if self.echo.get() {
            use std::io::Write;
            let _ = std::io::stderr().write_all(bytes);
        }
    }

    fn exit(&self, code: i32) -> ! {
        panic!("sim: the appliance exited with code {code}");
    }
}
