//! The ARP cache (RFC 826) and the packets waiting for a resolution, as pure state: the
//! interface feeds it what it learns and asks it what to send.
//!
//! - Entries live [`ENTRY_LIFETIME`] after they were last confirmed; at most `capacity` of them,
//!   the least recently used evicted first.
//! - A packet for an unresolved next hop waits in a queue of at most [`PENDING_PER_DEST`] frames
//!   (Linux's `unres_qlen`; the oldest is dropped), for at most `max_pending` destinations.
//! - One request per destination per [`REQUEST_INTERVAL`], [`MAX_REQUESTS`] in all; then the
//!   waiting packets are dropped.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use morgana_executor::Instant;

use crate::wire::{EthernetAddress, Ipv4Address};

/// How long an entry is trusted after it was learned or confirmed.
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(60);
/// The least time between two requests for one address.
pub const REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// Requests sent for one address before giving up.
pub const MAX_REQUESTS: u8 = 3;
/// Frames kept per unresolved destination.
pub const PENDING_PER_DEST: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: Ipv4Address,
    mac: EthernetAddress,
    expires: Instant,
    last_used: Instant,
}

#[derive(Debug)]
struct Pending {
    ip: Ipv4Address,
    frames: VecDeque<Vec<u8>>,
    last_request: Instant,
    requests: u8,
}

/// What became of a frame handed to [`ArpTable::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// A request must go out now.
    pub send_request: bool,
    /// Frames dropped to make room (the oldest for this destination, or this one when too many
    /// destinations wait).
    pub dropped: usize,
}

/// The ARP cache and the queues of packets awaiting a resolution.
#[derive(Debug)]
pub struct ArpTable {
    cache: Vec<Entry>,
    pending: Vec<Pending>,
    capacity: usize,
    max_pending: usize,
}

impl ArpTable {
    /// A table of at most `capacity` entries and `max_pending` unresolved destinations.
    pub fn new(capacity: usize, max_pending: usize) -> Self {
        ArpTable {
            cache: Vec::new(),
            pending: Vec::new(),
            capacity: capacity.max(1),
            max_pending: max_pending.max(1),
        }
    }

    /// The number of live-or-stale entries held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The address of `ip`, if known and fresh; marks the entry used.
    pub fn lookup(&mut self, now: Instant, ip: Ipv4Address) -> Option<EthernetAddress> {
        let i = self.cache.iter().position(|e| e.ip == ip)?;
        if self.cache[i].expires <= now {
            self.cache.swap_remove(i);
            return None;
        }
        self.cache[i].last_used = now;
        Some(self.cache[i].mac)
    }

    /// RFC 826's merge: an existing entry for `ip` is updated; a new one is made only when the
    /// packet was addressed to us (`for_us`). Returns the frames that were waiting for `ip`.
    pub fn merge(
        &mut self,
        now: Instant,
        ip: Ipv4Address,
        mac: EthernetAddress,
        for_us: bool,
    ) -> Vec<Vec<u8>> {
        let expires = now.saturating_add(ENTRY_LIFETIME);
        if let Some(e) = self.cache.iter_mut().find(|e| e.ip == ip) {
            e.mac = mac;
            e.expires = expires;
        } else if for_us || self.pending.iter().any(|p| p.ip == ip) {
            if self.cache.len() >= self.capacity {
                // Expired entries go first, then the least recently used.
                let victim = self
                    .cache
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| (e.expires > now, e.last_used))
                    .map(|(i, _)| i);
                if let Some(i) = victim {
                    self.cache.swap_remove(i);
                }
            }
            self.cache.push(Entry {
                ip,
                mac,
                expires,
                last_used: now,
            });
        } else {
            return Vec::new();
        }
        match self.pending.iter().position(|p| p.ip == ip) {
            // Collected, not `Vec::from`: that makes the ring contiguous in place, which links a
            // slice rotation (~1 KiB) for this rare path.
            Some(i) => self.pending.swap_remove(i).frames.into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// Queues `frame` until `ip` is resolved.
    pub fn enqueue(&mut self, now: Instant, ip: Ipv4Address, frame: Vec<u8>) -> Enqueued {
        if let Some(p) = self.pending.iter_mut().find(|p| p.ip == ip) {
            let mut dropped = 0;
            if p.frames.len() >= PENDING_PER_DEST {
                p.frames.pop_front();
                dropped = 1;
            }
            p.frames.push_back(frame);
            return Enqueued {
                send_request: false,
                dropped,
            };
        }
        if self.pending.len() >= self.max_pending {
            return Enqueued {
                send_request: false,
                dropped: 1,
            };
        }
        let mut frames = VecDeque::new();
        frames.push_back(frame);
        self.pending.push(Pending {
            ip,
            frames,
            last_request: now,
            requests: 1,
        });
        Enqueued {
            send_request: true,
            dropped: 0,
        }
    }

    /// Retries due requests (their addresses are pushed onto `requests`) and gives up on
    /// destinations that had [`MAX_REQUESTS`]; returns how many frames were dropped for that.
    pub fn poll(&mut self, now: Instant, requests: &mut Vec<Ipv4Address>) -> usize {
        let mut dropped = 0;
        self.pending.retain_mut(|p| {
            if now < p.last_request.saturating_add(REQUEST_INTERVAL) {
                return true;
            }
            if p.requests >= MAX_REQUESTS {
                dropped += p.frames.len();
                return false;
            }
            p.requests += 1;
            p.last_request = now;
            requests.push(p.ip);
            true
        });
        self.cache.retain(|e| e.expires > now);
        dropped
    }

    /// When [`ArpTable::poll`] next has work.
    pub fn poll_at(&self) -> Option<Instant> {
        self.pending
            .iter()
            .map(|p| p.last_request.saturating_add(REQUEST_INTERVAL))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::from_nanos(1_000_000_000);
    fn ip(n: u8) -> Ipv4Address {
        Ipv4Address::new(10, 0, 0, n)
    }
    fn mac(n: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 0, n])
    }
    fn at(secs: u64) -> Instant {
        T0 + Duration::from_secs(secs)
    }

    #[test]
    fn learns_only_when_addressed_to_us_and_updates_existing_entries() {
        let mut t = ArpTable::new(4, 4);
        t.merge(T0, ip(1), mac(1), false);
        assert_eq!(t.lookup(T0, ip(1)), None, "not for us: not learned");
        t.merge(T0, ip(1), mac(1), true);
        assert_eq!(t.lookup(T0, ip(1)), Some(mac(1)));
        t.merge(T0, ip(1), mac(9), false);
        assert_eq!(t.lookup(T0, ip(1)), Some(mac(9)), "existing entry merged");
    }

    #[test]
    fn entries_expire_after_a_minute() {
        let mut t = ArpTable::new(4, 4);
        t.merge(T0, ip(1), mac(1), true);
        assert_eq!(t.lookup(at(59), ip(1)), Some(mac(1)));
        assert_eq!(t.lookup(at(60), ip(1)), None);
        assert!(t.is_empty());
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted() {
        let mut t = ArpTable::new(2, 4);
        t.merge(at(0), ip(1), mac(1), true);
        t.merge(at(1), ip(2), mac(2), true);
        t.lookup(at(2), ip(1));
        t.merge(at(3), ip(3), mac(3), true);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(at(4), ip(2)), None);
        assert_eq!(t.lookup(at(4), ip(1)), Some(mac(1)));
        assert_eq!(t.lookup(at(4), ip(3)), Some(mac(3)));
    }

    #[test]
    fn pending_frames_are_bounded_released_on_reply_and_dropped_after_three_requests() {
        let mut t = ArpTable::new(4, 1);
        let e = t.enqueue(T0, ip(1), alloc::vec![0]);
        assert_eq!((e.send_request, e.dropped), (true, 0));
        for i in 1..6u8 {
            let e = t.enqueue(T0, ip(1), alloc::vec![i]);
            assert!(!e.send_request);
            assert_eq!(e.dropped, usize::from(i >= 4));
        }
        assert_eq!(
            t.enqueue(T0, ip(2), alloc::vec![9]).dropped,
            1,
            "one destination max"
        );
        let mut req = Vec::new();
        assert_eq!(t.poll(T0 + Duration::from_millis(999), &mut req), 0);
        assert!(req.is_empty(), "rate limited to one a second");
        assert_eq!(t.poll_at(), Some(at(1)));
        let released = t.merge(at(1), ip(1), mac(1), false);
        assert_eq!(
            released,
            alloc::vec![
                alloc::vec![2],
                alloc::vec![3],
                alloc::vec![4],
                alloc::vec![5]
            ]
        );
        assert_eq!(
            t.lookup(at(1), ip(1)),
            Some(mac(1)),
            "a reply to our request is learned"
        );

        t.enqueue(at(10), ip(2), alloc::vec![1]);
        assert_eq!(t.poll(at(11), &mut req), 0);
        assert_eq!(t.poll(at(12), &mut req), 0);
        assert_eq!(req, [ip(2), ip(2)]);
        assert_eq!(t.poll(at(13), &mut req), 1, "given up after three requests");
        assert_eq!(t.poll_at(), None);
    }
}
