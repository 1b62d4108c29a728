//! A first-in first-out list of wakers, keyed so that a waiting future can update or withdraw its
//! entry. The building block of the single-core sync primitives and of event waiters.
//!
//! Lists are short (a handful of waiters), so lookups by key are linear scans over a `VecDeque`:
//! cheaper than any node allocation.

use alloc::collections::VecDeque;
use core::task::Waker;

/// A waiting future's entry in a [`WaitList`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaitKey(u64);

#[derive(Debug, Default)]
pub(crate) struct WaitList {
    entries: VecDeque<(WaitKey, Waker)>,
    next: u64,
}

impl WaitList {
    /// Registers `waker` under `*key`: updates the entry if it is still queued, otherwise queues
    /// a new one at the back and stores its key.
    pub(crate) fn register(&mut self, key: &mut Option<WaitKey>, waker: &Waker) {
        if let Some(k) = *key
            && let Some((_, w)) = self.entries.iter_mut().find(|(e, _)| *e == k)
        {
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
            return;
        }
        self.next += 1;
        let k = WaitKey(self.next);
        self.entries.push_back((k, waker.clone()));
        *key = Some(k);
    }

    /// Withdraws `key`. Returns whether it was still queued (false: it was already popped by a
    /// wake, which the caller may have to pass on).
    pub(crate) fn remove(&mut self, key: WaitKey) -> bool {
        match self.entries.iter().position(|(e, _)| *e == key) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    /// Withdraws a waiter that is dropped before it finished. If its entry was already popped by
    /// a wake, that wake was meant for someone: returns the next waiter's waker, for the caller
    /// to wake once it has let go of its borrows (so no wake-up is lost to a cancellation).
    pub(crate) fn cancel(&mut self, key: WaitKey) -> Option<Waker> {
        if self.remove(key) { None } else { self.pop() }
    }

    /// Pops the oldest waiter's waker, for the caller to wake once it has let go of its borrows.
    pub(crate) fn pop(&mut self) -> Option<Waker> {
        self.entries.pop_front().map(|(_, w)| w)
    }

    /// Wakes and removes every waiter, oldest first.
    pub(crate) fn wake_all(&mut self) {
        while let Some((_, w)) = self.entries.pop_front() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_updates_in_place_and_remove_reports_presence() {
        let mut l = WaitList::default();
        let w = futures::task::noop_waker();
        let (mut a, mut b) = (None, None);
        l.register(&mut a, &w);
        l.register(&mut b, &w);
        l.register(&mut a, &w);
        assert_eq!(l.entries.len(), 2);
        assert!(l.pop().is_some()); // a, the oldest
        assert!(!l.remove(a.unwrap()));
        assert!(l.remove(b.unwrap()));
        assert!(l.entries.is_empty());
    }
}
