//! The sender's SACK scoreboard (RFC 2018, RFC 6675) and its loss detection: RFC 6675's
//! DupThresh rule until the path is seen to reorder, RACK's time-based rule (RFC 8985 §6)
//! always.
//!
//! The scoreboard is one record per segment sent and not yet cumulatively acknowledged, in
//! sequence order, covering `[SND.UNA, SND.MAX)` (a record is trimmed when an ACK lands inside
//! it). Each record knows when it was last sent, whether it was retransmitted, SACKed, or is
//! deemed lost and waits for a retransmission. From that:
//!
//! - RFC 6675's `pipe` is the bytes of records neither SACKed nor lost (a retransmitted record
//!   is in flight again until it is SACKed or deemed lost again): [`Scoreboard::pipe`];
//! - `NextSeg()` rule 1 is the first lost record: [`Scoreboard::next_lost`]; rule 2 (new data)
//!   is the connection's; rules 3 and 4 (the unlost hole, the rescue retransmission) are left
//!   to RACK, whose timer marks such a hole lost a quarter RTT after later data arrived;
//! - `IsLost()` (RFC 6675 §4) marks a record lost once `DupThresh` SACKed records, or more than
//!   `(DupThresh - 1) · SMSS` SACKed bytes, lie above it.
//!
//! # Reordering
//!
//! A path that only reorders makes `IsLost()` fire on segments that are merely late: every
//! such event is a spurious fast retransmit and, without more, a halved window. We follow RACK
//! (RFC 8985) rather than raising the duplicate threshold as Linux once did: a bigger
//! threshold is a count of segments, and on a path whose reordering displacement is a whole
//! window (a held-back segment overtaken by the rest of its burst) it would have to reach the
//! window itself, which turns every real loss into a timeout. RACK's rule is in time: a
//! record is lost when a record sent after it has been delivered and `RTT + reo_wnd` has
//! passed since it was sent, with `reo_wnd = min_RTT / 4` (§6.2). So:
//!
//! - before any reordering is seen, DupThresh applies and RACK's window is 0 during recovery
//!   (RFC 8985 §6.2 step 4: behave like RFC 6675 on a path that does not reorder);
//! - reordering is seen when a segment that was never retransmitted is delivered below the
//!   highest SACKed sequence (RACK.fack), or when the connection finds a retransmission
//!   spurious (Eifel, D-SACK); from then on DupThresh is off and only RACK decides, with a
//!   window that grows by `min_RTT / 4` for each D-SACK (up to SRTT) and falls back after 16
//!   recoveries without one.
//!
//! Bounds: at most `max_records` records; new data beyond that joins the last record when it
//! is plain (sent once, not SACKed nor lost), and otherwise the connection waits
//! ([`Scoreboard::is_full`]). A SACK block must lie in `(SND.UNA, SND.MAX]` and only whole
//! records are marked, so no peer input grows the scoreboard or makes it inconsistent.

use alloc::collections::VecDeque;
use core::time::Duration;

use morgana_executor::Instant;

use crate::wire::SeqNumber;

/// RFC 6675's DupThresh (RFC 5681's three duplicate ACKs).
pub const DUP_THRESH: usize = 3;

/// Recoveries without a D-SACK after which RACK's reordering window shrinks back (RFC 8985
/// §6.2 step 4).
const REO_WND_PERSIST: u32 = 16;

/// One segment sent: `[start, end)` of sequence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The first sequence number.
    pub start: SeqNumber,
    /// One past the last.
    pub end: SeqNumber,
    /// When it was last (re)transmitted.
    pub sent_at: Instant,
    /// Whether it was ever retransmitted.
    pub retransmitted: bool,
    /// The peer reported it in a SACK block.
    pub sacked: bool,
    /// Deemed lost and not retransmitted since.
    pub lost: bool,
}

impl Record {
    /// Its length in sequence space.
    pub fn len(&self) -> usize {
        (self.end - self.start).max(0) as usize
    }

    /// Whether it has no length (never kept).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn in_flight(&self) -> bool {
        !self.sacked && !self.lost
    }

    /// RACK's "sent after" order: by time, then by sequence (RFC 8985 §6.2, `RACK_sent_after`).
    fn sent_after(&self, at: Instant, end: SeqNumber) -> bool {
        self.sent_at > at || (self.sent_at == at && self.end > end)
    }
}

/// What one ACK's SACK blocks did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SackUpdate {
    /// Bytes of records newly marked SACKed.
    pub newly_sacked: usize,
    /// A D-SACK block (RFC 2883): the first block, when it lies below the cumulative ACK or
    /// inside the second block.
    pub dsack: Option<(SeqNumber, SeqNumber)>,
    /// Blocks rejected as outside `(SND.UNA, SND.MAX]` or malformed.
    pub rejected: usize,
}

/// The scoreboard of one connection.
#[derive(Debug)]
pub struct Scoreboard {
    records: VecDeque<Record>,
    max_records: usize,
    /// Bytes of SACKed records.
    sacked_bytes: usize,
    /// RACK.fack: the end of the highest SACKed record.
    fack: Option<SeqNumber>,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent record known delivered.
    rack: Option<(Instant, SeqNumber)>,
    /// RACK.rtt: the RTT of that record.
    rack_rtt: Duration,
    /// The smallest RTT measured on a record.
    min_rtt: Option<Duration>,
    reordering_seen: bool,
    /// RACK.reo_wnd_mult.
    reo_mult: u32,
    /// Recoveries left before `reo_mult` falls back to 1.
    reo_persist: u32,
}

impl Scoreboard {
    /// An empty scoreboard of at most `max_records` (at least 2) records.
    pub fn new(max_records: usize) -> Self {
        Scoreboard {
            records: VecDeque::new(),
            max_records: max_records.max(2),
            sacked_bytes: 0,
            fack: None,
            rack: None,
            rack_rtt: Duration::ZERO,
            min_rtt: None,
            reordering_seen: false,
            reo_mult: 1,
            reo_persist: 0,
        }
    }

    /// The records, in sequence order.
    pub fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes SACKed above `SND.UNA`.
    pub fn sacked_bytes(&self) -> usize {
        self.sacked_bytes
    }

    /// Whether the path was seen to reorder.
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// Records that the path reorders (a retransmission was found spurious).
    pub fn set_reordering_seen(&mut self) {
        self.reordering_seen = true;
    }

    /// The smallest RTT measured, if any.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// RFC 6675's `pipe`: bytes neither SACKed nor deemed lost (retransmissions included).
    pub fn pipe(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.in_flight())
            .map(Record::len)
            .sum()
    }

    /// The first record deemed lost and not retransmitted since: `NextSeg()` rule 1.
    pub fn next_lost(&self) -> Option<(SeqNumber, SeqNumber)> {
        self.records
            .iter()
            .find(|r| r.lost && !r.sacked)
            .map(|r| (r.start, r.end))
    }

    /// Whether new data would need a record more than the bound allows.
    pub fn is_full(&self) -> bool {
        self.records.len() >= self.max_records && !self.records.back().is_some_and(Record::is_plain)
    }

    /// `[start, end)` was sent for the first time at `now` (from `SND.MAX`).
    pub fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if end <= start {
            return;
        }
        let full = self.records.len() >= self.max_records;
        if let Some(last) = self.records.back_mut() {
            if end <= last.end {
                return;
            }
            if full && last.is_plain() {
                last.end = end;
                last.sent_at = now;
                return;
            }
        }
        if self.records.len() >= self.max_records {
            return;
        }
        self.records.push_back(Record {
            start,
            end,
            sent_at: now,
            retransmitted: false,
            sacked: false,
            lost: false,
        });
    }

    /// `[start, end)` was sent again at `now`: the record from `start` is in flight again. A
    /// shorter retransmission splits the record when the bound allows.
    pub fn on_retransmit(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        let Some(i) = self.records.iter().position(|r| r.start == start) else {
            return;
        };
        if end > start && end < self.records[i].end && self.records.len() < self.max_records {
            let mut tail = self.records[i];
            tail.start = end;
            self.records[i].end = end;
            self.records.insert(i + 1, tail);
        }
        let r = &mut self.records[i];
        if r.sacked {
            return;
        }
        r.retransmitted = true;
        r.lost = false;
        r.sent_at = now;
    }

    /// The cumulative ACK moved to `una` at `now`: records below it are delivered.
    pub fn on_cumulative_ack(&mut self, una: SeqNumber, now: Instant) {
        while let Some(first) = self.records.front().copied() {
            if first.end <= una {
                self.records.pop_front();
                if !first.sacked && !first.retransmitted && self.fack.is_some_and(|f| first.end < f)
                {
                    // Delivered after data above it (RFC 8985 §6.2 step 3).
                    self.reordering_seen = true;
                }
                if first.sacked {
                    self.sacked_bytes = self.sacked_bytes.saturating_sub(first.len());
                } else {
                    self.delivered(&first, now);
                }
            } else {
                if first.start < una {
                    if let Some(r) = self.records.front_mut() {
                        if r.sacked {
                            let cut = (una - r.start).max(0) as usize;
                            self.sacked_bytes = self.sacked_bytes.saturating_sub(cut);
                        }
                        r.start = una;
                    }
                }
                break;
            }
        }
        if self.fack.is_some_and(|f| f <= una) {
            self.fack = None;
        }
    }

    /// Takes an ACK's SACK blocks, `una` being its (already applied) cumulative ACK and `max`
    /// the highest sequence number sent (RFC 2018 §3, RFC 2883 §4 for D-SACK).
    pub fn on_sack(
        &mut self,
        blocks: &[Option<(SeqNumber, SeqNumber)>; 3],
        una: SeqNumber,
        max: SeqNumber,
        now: Instant,
    ) -> SackUpdate {
        let mut update = SackUpdate::default();
        let fack_before = self.fack;
        for (n, block) in blocks.iter().enumerate() {
            let Some((left, right)) = *block else {
                continue;
            };
            // Empty, inverted, or 2^31 long.
            if right.diff(left) <= 0 {
                update.rejected += 1;
                continue;
            }
            if n == 0 {
                let inside_second = blocks[1].is_some_and(|(l2, r2)| l2 <= left && right <= r2);
                if right <= una || inside_second {
                    update.dsack = Some((left, right));
                    continue;
                }
            }
            let inside = una < left && right <= max;
            if !inside {
                update.rejected += 1;
                continue;
            }
            update.newly_sacked += self.mark_sacked(left, right, fack_before, now);
        }
        update
    }

    /// Marks the records wholly inside `[left, right)`; returns the bytes newly marked.
    fn mark_sacked(
        &mut self,
        left: SeqNumber,
        right: SeqNumber,
        fack_before: Option<SeqNumber>,
        now: Instant,
    ) -> usize {
        let from = self.records.partition_point(|r| r.start < left);
        let mut newly = 0;
        for i in from..self.records.len() {
            let r = self.records[i];
            if r.end > right {
                break;
            }
            if r.sacked {
                continue;
            }
            self.records[i].sacked = true;
            self.records[i].lost = false;
            newly += r.len();
            self.sacked_bytes += r.len();
            if fack_before.is_some_and(|f| r.end < f) && !r.retransmitted {
                // Delivered below data SACKed by an earlier ACK, and never resent: late, not
                // lost (RFC 8985 §6.2 step 3).
                self.reordering_seen = true;
            }
            if self.fack.is_none_or(|f| r.end > f) {
                self.fack = Some(r.end);
            }
            self.delivered(&r, now);
        }
        newly
    }

    /// RACK's bookkeeping for a record newly delivered (RFC 8985 §6.2 step 2).
    fn delivered(&mut self, r: &Record, now: Instant) {
        let rtt = now - r.sent_at;
        // A retransmission's ACK may be the original's: an RTT shorter than any seen is
        // taken to be that, and ignored.
        if r.retransmitted && self.min_rtt.is_some_and(|m| rtt < m) {
            return;
        }
        if !r.retransmitted {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        }
        if self
            .rack
            .is_none_or(|(at, end)| r.sent_after(at, end) || (r.sent_at == at && r.end == end))
        {
            self.rack = Some((r.sent_at, r.end));
            self.rack_rtt = rtt;
        }
    }

    /// A recovery began: RACK's window multiplier counts down (RFC 8985 §6.2 step 4).
    pub fn on_recovery(&mut self) {
        if self.reo_persist > 0 {
            self.reo_persist -= 1;
            if self.reo_persist == 0 {
                self.reo_mult = 1;
            }
        }
    }

    /// A D-SACK arrived: RACK's window widens by one step, kept for 16 recoveries.
    pub fn on_dsack(&mut self) {
        self.reordering_seen = true;
        self.reo_mult = self.reo_mult.saturating_add(1).min(64);
        self.reo_persist = REO_WND_PERSIST;
    }

    /// RACK's reordering window (RFC 8985 §6.2 step 4).
    fn reo_wnd(&self, in_recovery: bool, srtt: Option<Duration>) -> Duration {
        let sacked_records = self.records.iter().filter(|r| r.sacked).count();
        if !self.reordering_seen && (in_recovery || sacked_records >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let base = self.min_rtt.unwrap_or(Duration::ZERO) / 4;
        let wnd = base.saturating_mul(self.reo_mult);
        match srtt {
            Some(srtt) => wnd.min(srtt),
            None => wnd,
        }
    }

    /// Marks records lost by DupThresh (until reordering is seen) and by RACK; returns how
    /// many were newly marked and when RACK should look again (its reordering timer).
    pub fn detect_loss(
        &mut self,
        now: Instant,
        mss: usize,
        in_recovery: bool,
        srtt: Option<Duration>,
    ) -> (usize, Option<Instant>) {
        let mut newly = 0;
        if !self.reordering_seen {
            // IsLost() (RFC 6675 §4), from the top down.
            let (mut count, mut bytes) = (0usize, 0usize);
            for r in self.records.iter_mut().rev() {
                if r.sacked {
                    count += 1;
                    bytes += r.len();
                } else if !r.lost
                    && !r.retransmitted
                    && (count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss)
                {
                    r.lost = true;
                    newly += 1;
                }
            }
        }
        let Some((rack_at, rack_end)) = self.rack else {
            return (newly, None);
        };
        let reo_wnd = self.reo_wnd(in_recovery, srtt);
        let wait = self.rack_rtt.saturating_add(reo_wnd);
        let mut timer: Option<Instant> = None;
        for r in self.records.iter_mut() {
            if r.sacked || r.lost || r.sent_after(rack_at, rack_end) {
                continue;
            }
            if (r.sent_at == rack_at) && (r.end == rack_end) {
                continue;
            }
            let deadline = r.sent_at + wait;
            if deadline <= now {
                r.lost = true;
                newly += 1;
            } else {
                timer = Some(timer.map_or(deadline, |t| t.min(deadline)));
            }
        }
        (newly, timer)
    }

    /// The retransmission timer expired (RFC 6675 §5.1): every record not SACKed is lost and
    /// goes again, from `SND.UNA`.
    pub fn on_timeout(&mut self) {
        for r in self.records.iter_mut().filter(|r| !r.sacked) {
            r.lost = true;
        }
    }

    /// Forgets what was SACKed (RFC 2018 §8: the receiver may have reneged).
    pub fn clear_sacked(&mut self) {
        for r in self.records.iter_mut() {
            r.sacked = false;
        }
        self.sacked_bytes = 0;
        self.fack = None;
    }

    /// A loss verdict was undone: records deemed lost and not yet resent are in flight again.
    pub fn undo_lost(&mut self) {
        for r in self.records.iter_mut() {
            r.lost = false;
        }
    }

    /// Forgets every record (the connection closed).
    pub fn clear(&mut self) {
        self.records.clear();
        self.sacked_bytes = 0;
        self.fack = None;
    }

    /// Checks the scoreboard against `[una, max)`: records in order, disjoint, inside it,
    /// within the bound, the SACKed count exact.
    pub fn check(&self, una: SeqNumber, max: SeqNumber) -> Result<(), &'static str> {
        if self.records.len() > self.max_records {
            return Err("scoreboard over its bound");
        }
        let mut at = una;
        let mut sacked = 0;
        for r in &self.records {
            if r.start < at || r.end <= r.start || r.end > max {
                return Err("scoreboard record out of order or outside the window");
            }
            if r.sacked {
                sacked += r.len();
            }
            at = r.end;
        }
        if sacked != self.sacked_bytes {
            return Err("scoreboard SACKed count wrong");
        }
        Ok(())
    }
}

impl Record {
    /// Sent once, neither SACKed nor lost: new data may join it.
    fn is_plain(&self) -> bool {
        !self.retransmitted && !self.sacked && !self.lost
    }
}
