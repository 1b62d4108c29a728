//! IPv4 reassembly (RFC 791 §3.2, RFC 815), bounded.
//!
//! Datagrams in progress are keyed by (source, destination, protocol, identification). Each keeps
//! the bytes received so far as disjoint, non-adjacent pieces in offset order (adjacent or
//! overlapping arrivals are merged), the header of the first fragment, the total length once the
//! last fragment has told it, and a deadline. A datagram is whole when one piece covers
//! `0..total`; it is then handed back as one IPv4 packet (the first fragment's header, with the
//! total length, flags and checksum rewritten), for the interface to dispatch like any other.
//!
//! Overlap (RFC 5722 forbids it for IPv6; RFC 791 lets IPv4 overwrite, which is what
//! Teardrop-style and overlapping-fragment evasion attacks play on): bytes that arrive twice must
//! be equal. A fragment wholly inside what is already held and equal to it is a harmless
//! duplicate; any overlap with different bytes drops the whole datagram, as do two different
//! total lengths.
//!
//! Bounds: at most [`MAX_DATAGRAMS`] in progress and [`MAX_BYTES`] held in all; a new datagram or
//! piece beyond either evicts the oldest datagram in progress (as Linux's `ip_evictor`), so that
//! a flood of incomplete fragments cannot wedge reassembly for the whole timeout. A datagram may
//! reach 65,535 bytes with its header and hold at most [`MAX_PIECES`] disjoint pieces; it is
//! abandoned [`REASSEMBLY_TIMEOUT`] after its first fragment arrived (RFC 791 suggests a 15 s
//! lower bound; Linux uses 30 s). Every drop is counted by reason.
//!
//! Not done: the ICMP time-exceeded (code 1) that RFC 792 allows when a timed-out datagram's
//! first fragment had arrived.

use alloc::vec::Vec;
use core::time::Duration;

use morgana_executor::Instant;

use super::Counters;
use crate::wire::{IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr};

/// How long a datagram may take to arrive whole.
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Datagrams in progress at once.
pub const MAX_DATAGRAMS: usize = 16;
/// Payload bytes held for all datagrams in progress.
pub const MAX_BYTES: usize = 256 * 1024;
/// Disjoint pieces one datagram may hold (a 64 KiB datagram over a 1500-byte MTU is 45
/// fragments, so 64 holes leave room for any legitimate reordering).
pub const MAX_PIECES: usize = 64;
/// The largest IPv4 datagram, header included (the 16-bit total length).
const MAX_DATAGRAM: usize = u16::MAX as usize;

type Key = (Ipv4Address, Ipv4Address, u8, u16);

#[derive(Debug)]
struct Datagram {
    key: Key,
    /// When the first fragment arrived (eviction is oldest first).
    started: Instant,
    deadline: Instant,
    /// The header of the fragment at offset 0, once it has arrived.
    header: Option<Vec<u8>>,
    /// The payload's length, once the last fragment (MF clear) has arrived.
    total: Option<usize>,
    /// Disjoint, non-adjacent `(offset, bytes)` in offset order.
    pieces: Vec<(usize, Vec<u8>)>,
    held: usize,
}

/// Why a fragment did not join a datagram; the datagram named is dropped whole, except for
/// [`Reject::Duplicate`], which changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Bytes already held, and equal.
    Duplicate,
    /// It overlaps held bytes with different ones, or disagrees on the total length.
    Overlap,
    /// Empty, a non-final fragment whose length is not a multiple of 8, or data past the
    /// total length.
    Malformed,
    /// The datagram would exceed 65,535 bytes.
    TooBig,
    /// The datagram would hold more than [`MAX_PIECES`] pieces.
    TooManyPieces,
}

/// The datagrams being reassembled. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Reassembler {
    datagrams: Vec<Datagram>,
    held: usize,
}

impl Reassembler {
    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.datagrams.len()
    }

    /// Payload bytes held.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// The earliest deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.datagrams.iter().map(|d| d.deadline).min()
    }

    /// Drops the datagrams whose time is up.
    pub fn poll(&mut self, now: Instant, counters: &mut Counters) {
        let before = self.datagrams.len();
        let held = &mut self.held;
        self.datagrams.retain(|d| {
            let keep = now < d.deadline;
            if !keep {
                *held -= d.held;
            }
            keep
        });
        counters.frag_timeout += (before - self.datagrams.len()) as u64;
    }

    /// Takes in a fragment (a checked packet whose header parsed as `ip`, a fragment for us).
    /// Returns the whole datagram as an IPv4 packet once it is complete.
    pub fn insert(
        &mut self,
        now: Instant,
        packet: &Ipv4Packet<&[u8]>,
        ip: &Ipv4Repr,
        counters: &mut Counters,
    ) -> Option<Vec<u8>> {
        self.poll(now, counters);
        let key = (ip.src_addr, ip.dst_addr, u8::from(ip.protocol), ip.ident);
        let payload = packet.payload();
        let start = usize::from(ip.frag_offset);
        let end = start + payload.len();
        let malformed = payload.is_empty() || (ip.more_frags && payload.len() % 8 != 0);
        let at = match self.datagrams.iter().position(|d| d.key == key) {
            Some(at) => at,
            None if malformed => {
                counters.frag_malformed += 1;
                return None;
            }
            None => {
                if self.datagrams.len() >= MAX_DATAGRAMS {
                    self.evict_oldest(None, counters);
                }
                self.datagrams.push(Datagram {
                    key,
                    started: now,
                    deadline: now + REASSEMBLY_TIMEOUT,
                    header: None,
                    total: None,
                    pieces: Vec::new(),
                    held: 0,
                });
                self.datagrams.len() - 1
            }
        };
        let result = self.add(at, packet, ip, start, end, malformed, counters);
        match result {
            Ok(()) => {}
            Err(Reject::Duplicate) => {
                counters.frag_duplicate += 1;
                return None;
            }
            Err(reason) => {
                match reason {
                    Reject::Overlap => counters.frag_overlap += 1,
                    Reject::Malformed => counters.frag_malformed += 1,
                    Reject::TooBig => counters.frag_too_big += 1,
                    Reject::TooManyPieces | Reject::Duplicate => counters.frag_too_many_pieces += 1,
                }
                if let Some(at) = self.datagrams.iter().position(|d| d.key == key) {
                    self.remove(at);
                }
                return None;
            }
        }
        // `add` may have evicted others, which moves this one.
        let at = self.datagrams.iter().position(|d| d.key == key)?;
        let d = &self.datagrams[at];
        let complete = d.header.is_some()
            && d.total.is_some_and(|t| {
                d.pieces.len() == 1 && d.pieces[0].0 == 0 && d.pieces[0].1.len() == t
            });
        if !complete {
            return None;
        }
        let d = self.remove(at);
        let (Some(mut header), Some(total)) = (d.header, d.total) else {
            return None;
        };
        let (_, data) = d.pieces.into_iter().next()?;
        let header_len = header.len();
        // A first fragment with a longer header than the others assumed can still overflow.
        let Ok(total_len) = u16::try_from(header_len + total) else {
            counters.frag_too_big += 1;
            return None;
        };
        header.extend_from_slice(&data);
        let mut whole = Ipv4Packet::new_unchecked(&mut header[..]);
        whole.set_total_len(total_len);
        whole.set_frag(false, false, 0);
        whole.fill_checksum();
        counters.frag_reassembled += 1;
        Some(header)
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        at: usize,
        packet: &Ipv4Packet<&[u8]>,
        ip: &Ipv4Repr,
        start: usize,
        end: usize,
        malformed: bool,
        counters: &mut Counters,
    ) -> Result<(), Reject> {
        if malformed {
            return Err(Reject::Malformed);
        }
        let header_len = usize::from(packet.header_len());
        let d = &mut self.datagrams[at];
        let first_header_len = d.header.as_ref().map_or(header_len, |h| h.len());
        if first_header_len + end > MAX_DATAGRAM {
            return Err(Reject::TooBig);
        }
        if !ip.more_frags {
            if d.total.is_some_and(|t| t != end) {
                return Err(Reject::Overlap);
            }
            if d.pieces.last().is_some_and(|(o, b)| o + b.len() > end) {
                return Err(Reject::Malformed);
            }
            d.total = Some(end);
        } else if d.total.is_some_and(|t| end > t) {
            return Err(Reject::Malformed);
        }
        if start == 0 && d.header.is_none() {
            let bytes = packet.clone().into_inner();
            d.header = Some(bytes[..header_len].to_vec());
        }
        // The pieces the new bytes touch or abut: `first..last`.
        let first = d.pieces.partition_point(|(o, b)| o + b.len() < start);
        let last = d.pieces.partition_point(|(o, _)| *o <= end);
        let payload = packet.payload();
        let mut covered = 0;
        for (o, b) in &d.pieces[first..last] {
            let (lo, hi) = ((*o).max(start), (o + b.len()).min(end));
            if lo < hi {
                if b[lo - o..hi - o] != payload[lo - start..hi - start] {
                    return Err(Reject::Overlap);
                }
                covered += hi - lo;
            }
        }
        if covered == payload.len() {
            return Err(Reject::Duplicate);
        }
        if first == last && d.pieces.len() >= MAX_PIECES {
            return Err(Reject::TooManyPieces);
        }
        let added = payload.len() - covered;
        // Make room, oldest first, never evicting this datagram.
        let key = d.key;
        while self.held + added > MAX_BYTES {
            if !self.evict_oldest(Some(key), counters) {
                return Err(Reject::TooBig);
            }
        }
        let Some(d) = self.datagrams.iter_mut().find(|d| d.key == key) else {
            return Err(Reject::TooBig);
        };
        // Merge pieces first..last with the new bytes into one.
        let merged_start = if first < last {
            d.pieces[first].0.min(start)
        } else {
            start
        };
        let mut merged: Vec<u8> = if first < last && d.pieces[first].0 <= start {
            core::mem::take(&mut d.pieces[first].1)
        } else {
            Vec::new()
        };
        let mut cursor = merged_start + merged.len();
        let take_new = |merged: &mut Vec<u8>, cursor: &mut usize, upto: usize| {
            if *cursor < upto {
                let lo = (*cursor).max(start);
                merged.extend_from_slice(&payload[lo - start..upto - start]);
                *cursor = upto;
            }
        };
        for (o, b) in &d.pieces[first..last] {
            if b.is_empty() {
                continue; // taken above
            }
            take_new(&mut merged, &mut cursor, (*o).min(end));
            let from = cursor.max(*o);
            if from < o + b.len() {
                merged.extend_from_slice(&b[from - o..]);
                cursor = o + b.len();
            }
        }
        take_new(&mut merged, &mut cursor, end);
        // Pieces first..last become the merged one (not `splice`, whose general machinery is
        // ~1 KiB of code for this).
        if first < last {
            d.pieces[first] = (merged_start, merged);
            d.pieces.drain(first + 1..last);
        } else {
            d.pieces.insert(first, (merged_start, merged));
        }
        d.held += added;
        self.held += added;
        Ok(())
    }

    fn remove(&mut self, at: usize) -> Datagram {
        let d = self.datagrams.swap_remove(at);
        self.held -= d.held;
        d
    }

    /// Evicts the datagram in progress that started first, other than `keep`.
    fn evict_oldest(&mut self, keep: Option<Key>, counters: &mut Counters) -> bool {
        let oldest = self
            .datagrams
            .iter()
            .enumerate()
            .filter(|(_, d)| Some(d.key) != keep)
            .min_by_key(|(_, d)| d.started)
            .map(|(at, _)| at);
        match oldest {
            Some(at) => {
                self.remove(at);
                counters.frag_evicted += 1;
                true
            }
            None => false,
        }
    }
}

impl Reassembler {
    /// Checks the invariants (tests): pieces in order, disjoint, non-adjacent, byte counts right.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut all = 0;
        for d in &self.datagrams {
            let mut sum = 0;
            for w in d.pieces.windows(2) {
                assert!(w[0].0 + w[0].1.len() < w[1].0, "pieces disjoint and apart");
            }
            for (o, b) in &d.pieces {
                assert!(!b.is_empty());
                if let Some(t) = d.total {
                    assert!(o + b.len() <= t);
                }
                sum += b.len();
            }
            assert!(d.pieces.len() <= MAX_PIECES);
            assert_eq!(sum, d.held);
            all += sum;
        }
        assert_eq!(all, self.held);
        assert!(self.held <= MAX_BYTES);
        assert!(self.datagrams.len() <= MAX_DATAGRAMS);
    }
}

/// The protocol numbers the interface reassembles for.
pub(super) fn wanted(protocol: IpProtocol) -> bool {
    matches!(
        protocol,
        IpProtocol::Icmp | IpProtocol::Udp | IpProtocol::Tcp
    )
}
