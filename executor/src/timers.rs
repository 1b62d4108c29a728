//! The executor's timer queue: a binary min-heap of (deadline, sequence) over a slab of timer
//! slots.
//!
//! - insert: O(log n); the sequence number breaks deadline ties in order of arming (a
//!   [`crate::Sleep`] arms its timer when first polled, which is usually where it is created).
//! - cancel: O(1); the heap entry stays behind as a tombstone (its sequence no longer matches the
//!   slot's) and is skipped when it reaches the top. When tombstones outnumber live timers the
//!   heap is rebuilt, so cancelled timers cost amortised O(1) and memory stays bounded by twice
//!   the live timers.
//! - fire: O(log n) per timer, in deadline order.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::task::Waker;

use crate::time::Instant;

/// Names one registration of one slot: a slot is reused, a sequence number never is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    seq: u64,
}

#[derive(Debug)]
struct Slot {
    /// The registration that owns the slot; 0 when the slot is free.
    seq: u64,
    fired: bool,
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_seq: u64,
    /// Timers registered and not yet fired or cancelled.
    armed: usize,
}

impl TimerQueue {
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        self.next_seq += 1;
        let seq = self.next_seq;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Slot {
                    seq,
                    fired: false,
                    waker: Some(waker),
                };
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("more than 2^32 live timers");
                self.slots.push(Slot {
                    seq,
                    fired: false,
                    waker: Some(waker),
                });
                slot
            }
        };
        self.heap.push(Reverse((deadline, seq, slot)));
        self.armed += 1;
        TimerKey { slot, seq }
    }

    /// Whether the timer has fired; if so its slot is released, else `waker` replaces the one
    /// stored.
    pub(crate) fn poll_fired(&mut self, key: TimerKey, waker: &Waker) -> bool {
        let slot = &mut self.slots[key.slot as usize];
        debug_assert_eq!(slot.seq, key.seq, "timer polled after release");
        if slot.fired {
            self.release(key.slot);
            true
        } else {
            match &slot.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => slot.waker = Some(waker.clone()),
            }
            false
        }
    }

    /// Drops a registration, fired or not.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        let slot = &self.slots[key.slot as usize];
        if slot.seq != key.seq {
            return;
        }
        if !slot.fired {
            self.armed -= 1;
        }
        self.release(key.slot);
        if self.heap.len() > 2 * self.armed + 64 {
            self.compact();
        }
    }

    fn release(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        s.seq = 0;
        s.fired = false;
        s.waker = None;
        self.free.push(slot);
    }

    /// Removes tombstones from the heap: O(n).
    fn compact(&mut self) {
        let slots = &self.slots;
        self.heap
            .retain(|Reverse((_, seq, slot))| slots[*slot as usize].seq == *seq);
    }

    fn is_live(&self, seq: u64, slot: u32) -> bool {
        let s = &self.slots[slot as usize];
        s.seq == seq && !s.fired
    }

    /// The earliest deadline of an armed timer (tombstones at the top are dropped on the way).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, seq, slot))) = self.heap.peek() {
            if self.is_live(seq, slot) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Fires every armed timer whose deadline is at or before `now`, waking its task, in
    /// deadline order (ties in order of creation). Returns how many fired.
    pub(crate) fn fire(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((deadline, seq, slot))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if !self.is_live(seq, slot) {
                continue;
            }
            let s = &mut self.slots[slot as usize];
            s.fired = true;
            self.armed -= 1;
            fired += 1;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
        fired
    }

    /// Timers armed and not yet fired or cancelled.
    pub(crate) fn armed(&self) -> usize {
        self.armed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::vec;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use futures::task::{ArcWake, waker};

    struct Order {
        id: usize,
        log: Arc<std::sync::Mutex<Vec<usize>>>,
        hits: AtomicUsize,
    }
    impl ArcWake for Order {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.hits.fetch_add(1, Ordering::SeqCst);
            arc_self.log.lock().unwrap().push(arc_self.id);
        }
    }

    fn t(ns: u64) -> Instant {
        Instant::from_nanos(ns)
    }

    #[test]
    fn fires_in_deadline_order_ties_in_creation_order() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut q = TimerQueue::default();
        let deadlines = [50, 10, 30, 10, 50, 20, 10];
        let keys: Vec<_> = deadlines
            .iter()
            .enumerate()
            .map(|(id, &d)| {
                let w = waker(Arc::new(Order {
                    id,
                    log: log.clone(),
                    hits: AtomicUsize::new(0),
                }));
                q.insert(t(d), w)
            })
            .collect();
        assert_eq!(q.next_deadline(), Some(t(10)));
        assert_eq!(q.fire(t(25)), 4);
        assert_eq!(*log.lock().unwrap(), vec![1, 3, 6, 5]);
        q.cancel(keys[2]);
        assert_eq!(q.next_deadline(), Some(t(50)));
        assert_eq!(q.fire(t(1000)), 2);
        assert_eq!(*log.lock().unwrap(), vec![1, 3, 6, 5, 0, 4]);
        assert_eq!(q.armed(), 0);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let mut q = TimerQueue::default();
        let w = futures::task::noop_waker();
        for i in 0..100_000u64 {
            let k = q.insert(t(1_000_000 + i), w.clone());
            q.cancel(k);
        }
        assert!(q.heap.len() <= 64, "heap holds {} tombstones", q.heap.len());
        assert!(q.slots.len() <= 1);
        assert_eq!(q.armed(), 0);
    }

    #[test]
    fn a_released_slot_is_not_confused_with_its_next_owner() {
        let mut q = TimerQueue::default();
        let w = futures::task::noop_waker();
        let a = q.insert(t(10), w.clone());
        q.cancel(a);
        let b = q.insert(t(20), w.clone());
        assert_eq!(a.slot, b.slot);
        q.cancel(a); // stale key: no effect on b
        assert_eq!(q.armed(), 1);
        assert_eq!(q.fire(t(20)), 1);
        assert!(q.poll_fired(b, &w));
    }
}
