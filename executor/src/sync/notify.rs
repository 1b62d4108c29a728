//! [`Notify`]: wake one waiting task, or all, from anywhere.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Wakes tasks that wait on it. `Send + Sync`: a hosted helper thread may notify a task. Not
/// from an interrupt handler: waking a task queues it, which is task-context work (interrupts
/// mark the event table instead).
///
/// [`Notify::notify_one`] wakes one waiter; when nobody waits, it leaves a permit that the next
/// [`Notify::notified`] takes at once. Permits do not add up: notifications coalesce until one is
/// consumed, like an interrupt line. [`Notify::notify_waiters`] wakes everyone waiting now and
/// leaves no permit.
///
/// Built on `event-listener`, whose listeners are registered before the condition is checked a
/// second time, so no notification falls between "checked" and "waiting".
pub struct Notify {
    permit: AtomicBool,
    epoch: AtomicU64,
    event: event_listener::Event,
}

impl Notify {
    /// A `Notify` with no permit and no waiter.
    pub const fn new() -> Self {
        Notify {
            permit: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            event: event_listener::Event::new(),
        }
    }

    /// Wakes one waiting task, or leaves a permit for the next one.
    pub fn notify_one(&self) {
        self.permit.store(true, Ordering::SeqCst);
        // `notify_additional`: `notify(1)` would do nothing while another listener is already
        // notified (say by `notify_waiters`) but has not run yet, and this permit's waiter
        // would sleep on.
        self.event.notify_additional(1);
    }

    /// Wakes every task waiting now; leaves no permit.
    pub fn notify_waiters(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    /// Waits for a notification. Cancelled by dropping the future.
    pub async fn notified(&self) {
        let epoch = self.epoch.load(Ordering::SeqCst);
        loop {
            if self.take(epoch) {
                return;
            }
            let listener = self.event.listen();
            if self.take(epoch) {
                return;
            }
            listener.await;
        }
    }

    fn take(&self, epoch: u64) -> bool {
        self.epoch.load(Ordering::SeqCst) != epoch || self.permit.swap(false, Ordering::SeqCst)
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.permit.load(Ordering::Relaxed))
            .finish()
    }
}
