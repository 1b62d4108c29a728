//! The event table: how interrupts reach tasks.
//!
//! An interrupt handler acknowledges its interrupt and calls [`EventTable::mark`], one atomic
//! `fetch_or`, and nothing else. Between passes the run loop takes the marked bits and wakes, in
//! task context, every [`Event`] waiting on them. A driver holds an [`Event`] for its interrupt
//! and loops: handle the device, then `event.wait().await`.
//!
//! An [`Event`] counts firings: a mark taken while its driver was busy makes the next
//! [`Event::wait`] return at once, so no interrupt is lost between "handled the device" and
//! "waiting again". Marks coalesce: several marks before the run loop takes them are one firing,
//! as several edges of an interrupt line are one "look at the device".

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll};

use alloc::rc::Weak;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::context;
use crate::executor::Core;
use crate::platform::Doorbell;
use crate::sync::waitlist::{WaitKey, WaitList};

const WORDS: usize = 4;

/// The number of event slots in a table.
pub const EVENT_SLOTS: usize = WORDS * 64;

/// One slot of an [`EventTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(u16);

impl EventId {
    /// The slot's index, below [`EVENT_SLOTS`].
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The slot with `index`, if it is below [`EVENT_SLOTS`].
    pub const fn from_index(index: usize) -> Option<EventId> {
        if index < EVENT_SLOTS {
            Some(EventId(index as u16))
        } else {
            None
        }
    }
}

/// Event bits that interrupt handlers mark and the run loop takes.
///
/// It is `Sync` and has a `const` constructor, so a bare-metal platform keeps one in a `static`
/// that its interrupt handlers reach directly.
pub struct EventTable {
    marked: [AtomicU64; WORDS],
    allocated: [AtomicU64; WORDS],
}

impl EventTable {
    /// A table with no slot allocated and nothing marked.
    pub const fn new() -> Self {
        EventTable {
            marked: [const { AtomicU64::new(0) }; WORDS],
            allocated: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    /// Allocates a free slot, or `None` when all [`EVENT_SLOTS`] are taken.
    pub fn alloc(&self) -> Option<EventId> {
        for (w, word) in self.allocated.iter().enumerate() {
            let mut cur = word.load(Ordering::Relaxed);
            while cur != u64::MAX {
                let bit = (!cur).trailing_zeros() as usize;
                match word.compare_exchange_weak(
                    cur,
                    cur | (1 << bit),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let id = EventId((w * 64 + bit) as u16);
                        // A slot is handed out clean.
                        self.marked[w].fetch_and(!(1 << bit), Ordering::AcqRel);
                        return Some(id);
                    }
                    Err(actual) => cur = actual,
                }
            }
        }
        None
    }

    /// Returns a slot to the table. Its interrupt must no longer mark it.
    pub fn free(&self, id: EventId) {
        let (w, bit) = split(id);
        self.allocated[w].fetch_and(!bit, Ordering::AcqRel);
        self.marked[w].fetch_and(!bit, Ordering::AcqRel);
    }

    /// Marks `id`: the one thing an interrupt handler does. A single atomic `fetch_or`; safe to
    /// call from any interrupt or thread, at any time.
    #[inline]
    pub fn mark(&self, id: EventId) {
        let (w, bit) = split(id);
        self.marked[w].fetch_or(bit, Ordering::Release);
    }

    /// Whether any slot is marked. [`crate::Platform::idle`] checks this before halting.
    #[inline]
    pub fn any_marked(&self) -> bool {
        self.marked
            .iter()
            .any(|word| word.load(Ordering::Acquire) != 0)
    }

    /// Takes (clears and returns) the marked bits of word `w`.
    #[inline]
    fn take_word(&self, w: usize) -> u64 {
        if self.marked[w].load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.marked[w].swap(0, Ordering::Acquire)
    }
}

impl Default for EventTable {
    fn default() -> Self {
        EventTable::new()
    }
}

impl fmt::Debug for EventTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EventTable");
        for w in 0..WORDS {
            d.field(
                "marked",
                &format_args!("{:#x}", self.marked[w].load(Ordering::Relaxed)),
            );
        }
        d.finish_non_exhaustive()
    }
}

fn split(id: EventId) -> (usize, u64) {
    (id.index() / 64, 1u64 << (id.index() % 64))
}

/// The executor's side of the table: how often each slot fired, and who waits on it. Touched
/// only in task context.
#[derive(Debug)]
pub(crate) struct EventWaiters {
    slots: Vec<SlotWaiters>,
}

#[derive(Debug, Default)]
struct SlotWaiters {
    fired: u64,
    waiters: WaitList,
}

impl EventWaiters {
    pub(crate) fn new() -> Self {
        EventWaiters {
            slots: (0..EVENT_SLOTS).map(|_| SlotWaiters::default()).collect(),
        }
    }

    /// Takes every marked bit of `table`, counts a firing for each and wakes its waiters.
    /// Returns how many slots fired.
    pub(crate) fn dispatch(&mut self, table: &EventTable) -> usize {
        let mut n = 0;
        for w in 0..WORDS {
            let mut bits = table.take_word(w);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let slot = &mut self.slots[w * 64 + bit];
                slot.fired += 1;
                slot.waiters.wake_all();
                n += 1;
            }
        }
        n
    }

    fn fired(&self, id: EventId) -> u64 {
        self.slots[id.index()].fired
    }
}

/// A task's subscription to one event slot: what a driver awaits.
///
/// It sees every firing after its creation; see the [module docs](self).
pub struct Event {
    id: EventId,
    seen: u64,
    core: Weak<Core>,
    /// Our entry in the slot's waiter list, while registered.
    key: Option<WaitKey>,
}

impl Event {
    /// Subscribes to `id` on the running executor, from now on.
    ///
    /// # Panics
    ///
    /// Outside a running executor.
    pub fn new(id: EventId) -> Event {
        context::with(|core| Event {
            id,
            seen: core.event_waiters.borrow().fired(id),
            core: alloc::rc::Rc::downgrade(core),
            key: None,
        })
    }

    /// The slot this subscription follows.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// Waits until the event has fired since the last `wait` returned (or since creation).
    pub fn wait(&mut self) -> WaitEvent<'_> {
        WaitEvent { event: self }
    }

    /// The poll behind [`Event::wait`], for drivers that wait inside their own `poll_*`
    /// functions (a `NetDevice::receive` that finds nothing registers here, so the executor
    /// wakes the stack's task directly when the interrupt fires).
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(core) = self.core.upgrade() else {
            return Poll::Pending;
        };
        let mut waiters = core.event_waiters.borrow_mut();
        let slot = &mut waiters.slots[self.id.index()];
        if slot.fired != self.seen {
            self.seen = slot.fired;
            if let Some(key) = self.key.take() {
                slot.waiters.remove(key);
            }
            return Poll::Ready(());
        }
        slot.waiters.register(&mut self.key, cx.waker());
        Poll::Pending
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && let Some(core) = self.core.upgrade()
        {
            core.event_waiters.borrow_mut().slots[self.id.index()]
                .waiters
                .remove(key);
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("seen", &self.seen)
            .finish()
    }
}

/// The future of [`Event::wait`]. Dropping it withdraws nothing that matters: a firing is
/// counted in the [`Event`], not in the future.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitEvent<'a> {
    event: &'a mut Event,
}

impl Future for WaitEvent<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().event.poll_wait(cx)
    }
}

/// Marks events from another thread, standing in for an interrupt on the hosted and simulated
/// platforms: it marks the slot and rings the platform's [`Doorbell`] so that a halted
/// [`crate::Platform::idle`] returns. `Send` and `Clone`.
#[derive(Clone)]
pub struct Interrupter {
    pub(crate) events: &'static EventTable,
    pub(crate) doorbell: Option<Arc<dyn Doorbell>>,
}

impl Interrupter {
    /// Marks `id` and wakes the executor.
    pub fn raise(&self, id: EventId) {
        self.events.mark(id);
        if let Some(bell) = &self.doorbell {
            bell.ring();
        }
    }
}

impl fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupter")
            .field("doorbell", &self.doorbell.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_hands_out_distinct_slots_until_full() {
        let t = EventTable::new();
        let mut ids: Vec<_> = core::iter::from_fn(|| t.alloc()).collect();
        assert_eq!(ids.len(), EVENT_SLOTS);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), EVENT_SLOTS);
        t.free(ids[70]);
        assert_eq!(t.alloc(), Some(ids[70]));
    }

    #[test]
    fn marks_coalesce_and_take_clears() {
        let t = EventTable::new();
        let a = t.alloc().unwrap();
        let b = EventId::from_index(130).unwrap();
        assert!(!t.any_marked());
        t.mark(a);
        t.mark(a);
        t.mark(b);
        assert!(t.any_marked());
        let mut w = EventWaiters::new();
        assert_eq!(w.dispatch(&t), 2);
        assert!(!t.any_marked());
        assert_eq!(w.fired(a), 1);
        assert_eq!(w.fired(b), 1);
        assert_eq!(w.dispatch(&t), 0);
    }

    #[test]
    fn event_id_bounds() {
        assert!(EventId::from_index(EVENT_SLOTS - 1).is_some());
        assert!(EventId::from_index(EVENT_SLOTS).is_none());
    }
}
