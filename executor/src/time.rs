//! Time on the platform's monotonic clock: [`Instant`], [`sleep`], [`sleep_until`], [`timeout`]
//! and [`interval`].
//!
//! Timers live in the current executor: their futures must be polled inside
//! [`crate::Executor::block_on`]. A timer's future is cancelled by dropping it.

use core::fmt;
use core::future::Future;
use core::ops::{Add, AddAssign, Sub};
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use alloc::rc::Weak;

use crate::context;
use crate::executor::Core;
use crate::timers::TimerKey;

/// A point on the platform's monotonic clock, in nanoseconds since an arbitrary zero (usually
/// boot).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The clock's zero.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The farthest point the clock can name (about 584 years after zero).
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// The instant `nanos` nanoseconds after the clock's zero.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant { nanos }
    }

    /// Nanoseconds since the clock's zero.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The time since the clock's zero.
    pub const fn since_zero(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// The current time of the running executor's platform.
    ///
    /// # Panics
    ///
    /// Outside a running executor.
    pub fn now() -> Instant {
        context::with(|core| core.platform.now())
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// The time elapsed since `self`, on the running executor's clock.
    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant {
            nanos: self.nanos.saturating_add(d),
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`] rather than overflowing.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.nanos / 1_000_000_000,
            self.nanos % 1_000_000_000
        )
    }
}

/// Waits until `duration` has passed: from now, or, when created outside a running executor,
/// from its first poll.
pub fn sleep(duration: Duration) -> Sleep {
    match context::try_with(|core| core.platform.now()) {
        Some(now) => Sleep::new(now + duration),
        None => Sleep {
            deadline: Instant::ZERO,
            from_first_poll: Some(duration),
            registered: None,
        },
    }
}

/// Waits until the clock reaches `deadline` (at once if it has).
///
/// Unlike [`sleep`], this does not read the clock, so it may be created outside an executor.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// The future of [`sleep`] and [`sleep_until`]. Dropping it cancels the timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// Set when created outside an executor: the deadline is this long after the first poll.
    from_first_poll: Option<Duration>,
    /// The executor and key of the registered timer, from the first pending poll on.
    registered: Option<(Weak<Core>, TimerKey)>,
}

impl Sleep {
    fn new(deadline: Instant) -> Self {
        Sleep {
            deadline,
            from_first_poll: None,
            registered: None,
        }
    }

    /// The instant this sleep ends (for a [`sleep`] made outside an executor, known from its
    /// first poll on).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline, re-arming the timer.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
        self.from_first_poll = None;
    }

    fn cancel(&mut self) {
        if let Some((core, key)) = self.registered.take()
            && let Some(core) = core.upgrade()
        {
            core.timers.borrow_mut().cancel(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match &this.registered {
            Some((core, key)) => {
                let core = core
                    .upgrade()
                    .expect("a timer was polled after its executor was dropped");
                let mut timers = core.timers.borrow_mut();
                if timers.poll_fired(*key, cx.waker()) {
                    drop(timers);
                    this.registered = None;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            None => context::with(|core| {
                let now = core.platform.now();
                if let Some(d) = this.from_first_poll.take() {
                    this.deadline = now + d;
                }
                if this.deadline <= now {
                    return Poll::Ready(());
                }
                let key = core
                    .timers
                    .borrow_mut()
                    .insert(this.deadline, cx.waker().clone());
                this.registered = Some((alloc::rc::Rc::downgrade(core), key));
                Poll::Pending
            }),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.registered.is_some())
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

/// Runs `future` for at most `duration`; when the time runs out first, drops (cancels) it and
/// returns [`Elapsed`].
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
#[pin_project::pin_project]
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    #[pin]
    future: F,
    #[pin]
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        this.sleep.poll(cx).map(|()| Err(Elapsed))
    }
}

/// Ticks every `period`, the first tick at once.
///
/// A ticker that falls behind does not burst to catch up: the late tick comes at once (reporting
/// its scheduled instant), the ticks missed meanwhile are skipped, and the schedule stays aligned
/// to the first tick.
///
/// # Panics
///
/// When `period` is zero, or outside a running executor.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval: the period must not be zero");
    let start = Instant::now();
    Interval {
        period,
        next: start,
        sleep: sleep_until(start),
    }
}

/// The ticker of [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        if self.sleep.deadline() != self.next {
            self.sleep.reset(self.next);
        }
        Pin::new(&mut self.sleep).await;
        let tick = self.next;
        let now = Instant::now();
        let mut next = tick + self.period;
        if next <= now {
            // Fell behind: skip to the first slot after now, keeping the phase.
            let period = u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX);
            let behind = now.as_nanos() - next.as_nanos();
            next += Duration::from_nanos((behind / period + 1).saturating_mul(period));
        }
        self.next = next;
        self.sleep.reset(next);
        tick
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}
