//! Out-of-order data: which ranges beyond `RCV.NXT` hold bytes (RFC 9293 §3.10.7.4 "seventh",
//! RFC 2018 for the SACK blocks that report them).
//!
//! The bytes themselves are in the receive ring's free space (written there by
//! [`crate::tcp::buffer::RingBuffer::write_ahead`]); this only keeps the list of ranges, in
//! sequence numbers, sorted, disjoint and not adjacent, bounded by a fixed number of ranges. A
//! segment that would need one range more than that is not recorded (dropped, to be
//! retransmitted), so a peer cannot make the list grow.
//!
//! Each range remembers when it last grew, so that the SACK blocks can be listed most recent
//! first, as RFC 2018 §4 asks (the first block must hold the segment that triggered the ACK).

use alloc::vec::Vec;

use crate::wire::SeqNumber;

/// One range of received bytes, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: SeqNumber,
    end: SeqNumber,
    /// When the range last grew, in insertions.
    stamp: u32,
}

/// The out-of-order ranges of a receive window.
#[derive(Debug)]
pub struct Assembler {
    ranges: Vec<Range>,
    max_ranges: usize,
    clock: u32,
}

/// The list is full and the segment did not touch a range already in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyRanges;

impl Assembler {
    /// An empty list holding at most `max_ranges` (at least one) ranges.
    pub fn new(max_ranges: usize) -> Self {
        let max_ranges = max_ranges.max(1);
        Assembler {
            ranges: Vec::with_capacity(max_ranges),
            max_ranges,
            clock: 0,
        }
    }

    /// Whether no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The number of ranges held.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Forgets every range.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Records `[start, end)` as received, merging it with the ranges it overlaps or touches.
    /// Every range must lie after the `RCV.NXT` the caller holds, within 2^31 of it; an empty
    /// range is ignored.
    pub fn insert(&mut self, start: SeqNumber, end: SeqNumber) -> Result<(), TooManyRanges> {
        if end <= start {
            return Ok(());
        }
        self.clock = self.clock.wrapping_add(1);
        // The first range that ends at or after `start` (touching counts as overlapping).
        let first = self.ranges.iter().position(|r| r.end >= start);
        let Some(first) = first else {
            return self.push_at(self.ranges.len(), start, end);
        };
        if self.ranges[first].start > end {
            return self.push_at(first, start, end);
        }
        // Merge every range from `first` that starts at or before `end`.
        let mut last = first;
        while last + 1 < self.ranges.len() && self.ranges[last + 1].start <= end {
            last += 1;
        }
        let merged = Range {
            start: self.ranges[first].start.min(start),
            end: self.ranges[last].end.max(end),
            stamp: self.clock,
        };
        self.ranges[first] = merged;
        self.ranges.drain(first + 1..=last);
        Ok(())
    }

    fn push_at(
        &mut self,
        at: usize,
        start: SeqNumber,
        end: SeqNumber,
    ) -> Result<(), TooManyRanges> {
        if self.ranges.len() >= self.max_ranges {
            return Err(TooManyRanges);
        }
        let stamp = self.clock;
        self.ranges.insert(at, Range { start, end, stamp });
        Ok(())
    }

    /// Whether `[start, end)` is already held, wholly inside one range.
    pub fn contains(&self, start: SeqNumber, end: SeqNumber) -> bool {
        self.ranges.iter().any(|r| r.start <= start && end <= r.end)
    }

    /// If the first range begins at or before `rcv_nxt`, removes it and returns its end: the
    /// new `RCV.NXT`. Call until `None`.
    pub fn pop_contiguous(&mut self, rcv_nxt: SeqNumber) -> Option<SeqNumber> {
        let first = self.ranges.first()?;
        if first.start <= rcv_nxt {
            let end = first.end.max(rcv_nxt);
            self.ranges.remove(0);
            Some(end)
        } else {
            None
        }
    }

    /// Up to three ranges, most recently grown first, as SACK blocks `(left, right)`.
    pub fn sack_blocks(&self) -> [Option<(SeqNumber, SeqNumber)>; 3] {
        let mut blocks = [None; 3];
        let mut stamps = [0u32; 3];
        for (n, r) in self.ranges.iter().enumerate() {
            // Age relative to the clock, so that wrapping stamps still order correctly.
            let age = self.clock.wrapping_sub(r.stamp);
            let mut i = n.min(3);
            while i > 0 && age < self.clock.wrapping_sub(stamps[i - 1]) {
                if i < 3 {
                    blocks[i] = blocks[i - 1];
                    stamps[i] = stamps[i - 1];
                }
                i -= 1;
            }
            if i < 3 {
                blocks[i] = Some((r.start, r.end));
                stamps[i] = r.stamp;
            }
        }
        blocks
    }

    /// The ranges in sequence order, `(start, end)`.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
        self.ranges.iter().map(|r| (r.start, r.end))
    }
}
