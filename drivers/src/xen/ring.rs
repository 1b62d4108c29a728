//! Xen's shared request/response rings (`io/ring.h`): a page with four indexes and a power-of-two
//! array of entries; the front end produces requests and consumes responses.
//!
//! ```text
//! struct sring { u32 req_prod, req_event, rsp_prod, rsp_event; u8 pad[48]; entry ring[]; }
//! ```
//!
//! `req_event`/`rsp_event` say at which index the other end wants a notification: after
//! publishing requests up to `new` (from `old`), notify iff `new - req_event < new - old`; before
//! sleeping on responses, set `rsp_event = rsp_cons + 1` and look again.

use core::sync::atomic::{AtomicU32, Ordering, fence};

const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 4;
const RSP_PROD: usize = 8;
const RSP_EVENT: usize = 12;
/// Where the entries start.
pub const ENTRIES: usize = 64;

/// The number of entries of `entry_size` bytes in a one-page ring: the largest power of two
/// that fits (`__RING_SIZE`).
pub const fn ring_size(entry_size: usize) -> u32 {
    let fit = (4096 - ENTRIES) / entry_size;
    1 << (usize::BITS - 1 - fit.leading_zeros())
}

/// Whether publishing requests from `old` to `new` must notify, given the back end's
/// `req_event` (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
pub fn needs_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The front end's view of one shared ring.
#[derive(Debug)]
pub struct FrontRing {
    page: *mut u8,
    size: u32,
    entry_size: usize,
    /// Requests written, not yet published.
    pub req_prod_pvt: u32,
    /// Responses consumed.
    pub rsp_cons: u32,
}

impl FrontRing {
    /// Initialises the shared ring in `page` (zeroed, `req_event = rsp_event = 1`).
    ///
    /// # Safety
    ///
    /// `page` points to a 4 KiB page of ours, mapped as long as the value lives, shared with
    /// nothing but the back end.
    pub unsafe fn init(page: *mut u8, entry_size: usize) -> FrontRing {
        // SAFETY: the caller gives us the page.
        unsafe { core::ptr::write_bytes(page, 0, 4096) };
        let ring = FrontRing {
            page,
            size: ring_size(entry_size),
            entry_size,
            req_prod_pvt: 0,
            rsp_cons: 0,
        };
        ring.index(REQ_EVENT).store(1, Ordering::Relaxed);
        ring.index(RSP_EVENT).store(1, Ordering::Relaxed);
        ring
    }

    /// Initialises the shared ring afresh in the same page, for a new back end.
    ///
    /// # Safety
    ///
    /// As for [`FrontRing::init`]; no back end maps the page until the new one is told of it.
    pub unsafe fn reset(&mut self) {
        // SAFETY: the page given to `init`; the caller vouches that nobody else uses it now.
        *self = unsafe { FrontRing::init(self.page, self.entry_size) };
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the index offsets are in the page, 4-aligned; only atomic access.
        unsafe { AtomicU32::from_ptr(self.page.add(offset).cast()) }
    }

    /// The entry for index `i` (requests and responses share the slots).
    pub fn entry(&self, i: u32) -> *mut u8 {
        // SAFETY: `i & (size - 1)` < size, and size * entry_size fits after ENTRIES.
        unsafe {
            self.page
                .add(ENTRIES + (i & (self.size - 1)) as usize * self.entry_size)
        }
    }

    /// Publishes the written requests; true if the back end must be notified.
    pub fn push_requests(&mut self) -> bool {
        let old = self.index(REQ_PROD).load(Ordering::Relaxed);
        let new = self.req_prod_pvt;
        fence(Ordering::Release);
        self.index(REQ_PROD).store(new, Ordering::Release);
        fence(Ordering::SeqCst);
        needs_notify(old, new, self.index(REQ_EVENT).load(Ordering::Acquire))
    }

    /// Responses published and not yet consumed, or `None` if the back end claims more
    /// than the ring holds.
    pub fn unconsumed_responses(&self) -> Option<u32> {
        let prod = self.index(RSP_PROD).load(Ordering::Acquire);
        fence(Ordering::Acquire);
        let n = prod.wrapping_sub(self.rsp_cons);
        (n <= self.size).then_some(n)
    }

    /// Asks for a notification at the next response, then looks again
    /// (`RING_FINAL_CHECK_FOR_RESPONSES`): true if responses are there after all.
    pub fn final_check_for_responses(&self) -> bool {
        if self.unconsumed_responses().unwrap_or(0) > 0 {
            return true;
        }
        self.index(RSP_EVENT)
            .store(self.rsp_cons.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        self.unconsumed_responses().unwrap_or(0) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_netif() {
        assert_eq!(ring_size(12), 256); // netif tx: 336 fit
        assert_eq!(ring_size(8), 256); // netif rx: 504 fit
        assert_eq!(ring_size(112), 32); // blkif
    }

    #[test]
    fn notify_only_when_the_event_index_is_crossed() {
        assert!(needs_notify(0, 1, 1));
        assert!(
            !needs_notify(1, 3, 1),
            "event already passed: the back end is polling"
        );
        assert!(needs_notify(u32::MAX, 2, 0), "across the wrap");
        assert!(!needs_notify(5, 5, 6));
    }
}
