//! What a connection sends, and its timers firing: [`Tcb::poll_transmit`] and
//! [`Tcb::poll_at`].
//!
//! Order of precedence in one call: a pending RST; the SYN or SYN-ACK; without SACK, one
//! retransmission asked for by fast retransmit or a partial ACK; with SACK, the first segment
//! the scoreboard deems lost while `cwnd - pipe` allows (RFC 6675 NextSeg); new data (or,
//! without SACK, a go-back-N retransmission after a timeout) within `SND.WND` and `cwnd`
//! (less `pipe` with SACK, less what is outstanding without), under Nagle and sender
//! silly-window avoidance; a zero-window or keepalive probe; a bare ACK (due at once, or a
//! window update), with a D-SACK block first when a duplicate arrived.

use core::time::Duration;

use morgana_executor::Instant;

use super::state::State;
use super::tcb::Tcb;
use super::timers::Timer;
use super::{Segment, TcpError};
use crate::wire::{SeqNumber, TcpFlags};

impl Tcb {
    /// The next segment to send, if any; call until `None` after every event (a segment
    /// arrived, the user sent, read or closed, [`Tcb::poll_at`]'s deadline passed). `mtu` is
    /// the path's IP MTU; segments are sized to fit it.
    pub fn poll_transmit(&mut self, now: Instant, mtu: usize) -> Option<Segment> {
        self.fire_timers(now);
        if let Some((seq, ack)) = self.rst_pending.take() {
            let mut seg = self.bare(seq);
            seg.flags = TcpFlags::RST;
            seg.ack_number = ack;
            return Some(seg);
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => (self.snd_nxt == self.iss).then(|| self.syn_segment(now)),
            State::SynReceived if self.snd_nxt == self.iss => Some(self.syn_segment(now)),
            _ => self.poll_data(now, mtu),
        }
    }

    /// The earliest timer deadline; `None` when no timer runs. Segments that are due at once
    /// are not reported here: [`Tcb::poll_transmit`] returns them until it returns `None`.
    pub fn poll_at(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::TimeWait => {
                    self.state = State::Closed;
                    self.timers.clear();
                }
                Timer::Retransmit => self.on_retransmit_timeout(now),
                Timer::Rack => {
                    if self.opts.sack && self.state.is_synchronized() {
                        self.sack_loss_detection(now);
                    }
                }
                Timer::Persist => {
                    if self.snd_wnd > 0 && self.unsent() > 0 {
                        // The override of sender SWS avoidance: what the window allows goes.
                        self.force_send = true;
                    } else if self.snd_wnd == 0 && self.unsent() > 0 {
                        self.probe_now = true;
                        self.persist_backoff = self.persist_backoff.saturating_add(1);
                        self.timers.persist = Some(now + self.persist_interval());
                    }
                }
                Timer::Keepalive => {
                    if self.keepalive_sent >= self.config.keepalive_probes {
                        self.fail(TcpError::TimedOut);
                        return;
                    }
                    self.keepalive_sent += 1;
                    self.probe_now = true;
                    self.timers.keepalive = Some(now + self.config.keepalive_interval);
                }
                Timer::DelayedAck => self.ack_now = true,
            }
        }
    }

    /// RFC 6298 §5.4-§5.7: retransmit from `SND.UNA`, back off, collapse the window. With
    /// SACK (RFC 6675 §5.1) the scoreboard is kept: every record not SACKed is deemed lost and
    /// goes again in order from `SND.UNA`, skipping what the peer holds, and no new recovery
    /// starts before `SND.UNA` reaches the `SND.MAX` of now. A second timeout in a row
    /// forgets the SACKed marks too, in case the receiver reneged (RFC 2018 §8).
    fn on_retransmit_timeout(&mut self, now: Instant) {
        if self.snd_una == self.snd_max {
            return;
        }
        let limit = if self.state.is_synchronized() {
            self.config.max_retries
        } else {
            self.config.syn_retries
        };
        if self.retries >= limit {
            self.fail(TcpError::TimedOut);
            return;
        }
        self.retries += 1;
        self.rtt.back_off();
        // Karn: a retransmitted segment is not timed.
        self.timed = None;
        if self.state.is_synchronized() {
            let mss = self.smss();
            let flight = (self.snd_max - self.snd_una).max(0) as usize;
            self.new_undo_episode(true);
            self.cc.on_timeout(flight, mss, now);
            self.stats.timeouts += 1;
            // RFC 6582 §4: no fast retransmit for the duplicates this go-back-N provokes.
            self.recover = self.snd_max;
            self.in_recovery = false;
            self.dup_acks = 0;
            self.retransmit_from = None;
            self.recovery_kick = false;
            if self.opts.sack && !self.sb.is_empty() {
                if self.retries >= 2 {
                    self.sb.clear_sacked();
                }
                self.sb.on_timeout();
                self.timers.rack = None;
                self.timers.retransmit = Some(now + self.rtt.rto());
                return;
            }
        }
        self.snd_nxt = self.snd_una;
        self.timers.retransmit = Some(now + self.rtt.rto());
    }

    fn persist_interval(&self) -> Duration {
        let base = self.rtt.rto();
        base.saturating_mul(1 << self.persist_backoff.min(10))
            .min(self.config.max_rto)
    }

    /// Queued bytes not yet sent (from `SND.NXT`).
    pub(super) fn unsent(&self) -> usize {
        let sent = (self.snd_nxt - self.tx_seq).max(0) as usize;
        self.tx.len().saturating_sub(sent)
    }

    /// The largest payload for a segment on a path of `mtu`.
    fn mss_for(&self, mtu: usize) -> usize {
        let ts = if self.opts.timestamps { 12 } else { 0 };
        self.smss().min(mtu.saturating_sub(40 + ts)).max(1)
    }

    /// A segment with no flags, payload or ACK yet, from `seq`.
    fn bare(&self, seq: SeqNumber) -> Segment {
        Segment {
            src_port: self.local.port,
            dst_port: self.remote.port,
            seq_number: seq,
            ack_number: None,
            flags: TcpFlags::empty(),
            window_len: 0,
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload_len: 0,
        }
    }

    /// Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first or again.
    fn syn_segment(&mut self, now: Instant) -> Segment {
        let mut seg = self.bare(self.iss);
        seg.flags = TcpFlags::SYN;
        seg.max_seg_size = Some(self.offer.mss);
        seg.window_scale = self.offer.window_shift;
        seg.sack_permitted = self.offer.sack;
        // RFC 7323 §2.2: the window of a SYN is not scaled.
        let window = self.rx.free().min(usize::from(u16::MAX));
        seg.window_len = window as u16;
        let synack = self.state == State::SynReceived;
        if self.offer.timestamps {
            let tsecr = if synack { self.ts_recent } else { 0 };
            seg.timestamp = Some((self.ts_now(now), tsecr));
        }
        if synack {
            seg.ack_number = Some(self.rcv_nxt);
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + window as u32);
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
        }
        self.snd_nxt = self.iss + 1;
        if self.snd_max < self.snd_nxt {
            self.snd_max = self.snd_nxt;
        }
        if self.retries == 0 && self.timed.is_none() {
            self.timed = Some((self.snd_nxt, now));
        }
        if self.timers.retransmit.is_none() {
            self.timers.retransmit = Some(now + self.rtt.rto());
        }
        seg
    }

    /// Sets the ACK, window, timestamps and SACK blocks of an outgoing segment, and clears the
    /// pending ACK it carries.
    fn fill_ack(&mut self, now: Instant, seg: &mut Segment) {
        seg.ack_number = Some(self.rcv_nxt);
        seg.window_len = self.window_field();
        if self.opts.timestamps {
            seg.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if self.opts.sack {
            let blocks = self.ooo.sack_blocks();
            seg.sack_ranges = match self.dsack.take() {
                // RFC 2883 §4: the duplicate first, then the usual blocks.
                Some(d) => [Some(d), blocks[0], blocks[1]],
                None => blocks,
            };
        }
        self.last_ack_sent = self.rcv_nxt;
        self.ack_now = false;
        self.unacked_bytes = 0;
        self.timers.delayed_ack = None;
    }

    /// The window we may advertise now, with receiver silly-window avoidance (RFC 1122
    /// 4.2.3.3): it opens only by `min(buffer / 2, MSS)` at a time, and never shrinks.
    fn window_to_advertise(&self) -> usize {
        let free = self.rx.free();
        let current = self.rcv_wnd();
        let step = (self.rx.capacity() / 2).min(self.smss_recv()).max(1);
        let max = usize::from(u16::MAX) << self.opts.recv_shift;
        if free >= current + step {
            free.min(max)
        } else {
            current.min(max)
        }
    }

    /// The window field for [`Tcb::window_to_advertise`], moving `RCV.ADV`.
    fn window_field(&mut self) -> u16 {
        let shift = self.opts.recv_shift;
        let window = self.window_to_advertise();
        let current = self.rcv_wnd();
        // Scaling rounds down, except that the edge already advertised is kept (rounding up),
        // since a window must not shrink (RFC 7323 §2.4).
        let mut field = window >> shift;
        if (field << shift) < current {
            field = current.div_ceil(1 << shift);
        }
        let field = field.min(usize::from(u16::MAX));
        let edge = self.rcv_nxt + (field << shift) as u32;
        self.rcv_adv = self.rcv_adv.max(edge);
        field as u16
    }

    /// Whether the window has opened enough since the last advertisement to be worth a
    /// segment of its own (RFC 1122 4.2.3.3; after a zero window, or by half the buffer).
    fn window_update_due(&self) -> bool {
        if !self.state.can_receive() {
            return false;
        }
        let current = self.rcv_wnd();
        let open = self.window_to_advertise();
        let step = (self.rx.capacity() / 2).min(self.smss_recv()).max(1);
        open > current && (current < step || open - current >= self.rx.capacity() / 2)
    }

    /// The synchronized states' output.
    fn poll_data(&mut self, now: Instant, mtu: usize) -> Option<Segment> {
        let mss = self.mss_for(mtu);

        // Without SACK, a single retransmission: fast retransmit, or the next hole after a
        // partial ACK.
        if let Some(from) = self.retransmit_from.take() {
            if from >= self.snd_una && from < self.snd_max {
                return Some(self.data_segment(now, from, mss, mss));
            }
        }

        // With SACK, RFC 6675 NextSeg() rule 1: the first segment deemed lost, while
        // `cwnd - pipe` has room for it (and the first of a recovery at once, §5 step 4.3).
        if self.opts.sack {
            if let Some((start, end)) = self.sb.next_lost() {
                if self.recovery_kick || self.sb.pipe() + mss <= self.cc.window() {
                    self.recovery_kick = false;
                    let len = ((end - start).max(0) as usize).min(mss);
                    return Some(self.data_segment(now, start, len, mss));
                }
            }
        }

        // New data, or (without SACK) the go-back-N resend after a timeout. With SACK, what
        // is in the network is `pipe`; without, everything outstanding, less the RFC 3042
        // allowance for the first two duplicate ACKs.
        let in_flight = (self.snd_nxt - self.snd_una).max(0) as usize;
        let cc_room = if self.opts.sack {
            if self.sb.is_full() {
                0
            } else {
                self.cc.window().saturating_sub(self.sb.pipe())
            }
        } else {
            let limited_transmit = if !self.in_recovery && self.dup_acks <= 2 {
                self.dup_acks as usize * mss
            } else {
                0
            };
            (self.cc.window() + limited_transmit).saturating_sub(in_flight)
        };
        let usable = self.snd_wnd.saturating_sub(in_flight).min(cc_room);
        let unsent = self.unsent();
        let fin_due = self.fin_queued && self.snd_nxt <= self.fin_seq_out();
        let len = unsent.min(mss).min(usable);
        let all = len == unsent;
        let send = if len > 0 {
            len == mss
                // Nagle (RFC 896) with Minshall's refinement: a short segment only when no
                // short segment is unacknowledged. (Plain Nagle, "when nothing is in flight",
                // holds the tail of a two-segment response until the peer's delayed ACK for
                // the first, 40 ms on Linux, on every response of a keep-alive connection.)
                || (all
                    && (self.config.nodelay
                        || in_flight == 0
                        || fin_due
                        || self.snd_sml <= self.snd_una))
                // Sender SWS avoidance (RFC 1122 4.2.3.4): half the largest window offered,
                // or whatever fits once the override timer has run out.
                || (in_flight == 0 && (len >= self.max_snd_wnd / 2 || self.force_send))
        } else {
            // A FIN alone, after the data.
            unsent == 0 && fin_due && (usable > 0 || in_flight == 0)
        };
        if send {
            self.force_send = false;
            return Some(self.data_segment(now, self.snd_nxt, len, mss));
        }

        // The peer's window is closed (or too small to be worth a segment) with data waiting
        // and nothing in flight to bring an ACK: persist (RFC 9293 §3.8.6.1; the override
        // timer of RFC 1122 4.2.3.4).
        if unsent > 0 && in_flight == 0 && self.snd_wnd < unsent.min(mss) {
            self.timers.retransmit = None;
            if self.timers.persist.is_none() {
                self.timers.persist = Some(now + self.persist_interval());
            }
        }

        if self.probe_now {
            // SEQ = SND.UNA - 1 is outside the peer's window: it must answer with an ACK that
            // carries its window (zero-window probe, keepalive; RFC 1122 4.2.3.6).
            self.probe_now = false;
            let mut seg = self.bare(self.snd_una - 1);
            self.fill_ack(now, &mut seg);
            return Some(seg);
        }

        if self.ack_now || self.window_update_due() {
            let mut seg = self.bare(self.snd_nxt);
            self.fill_ack(now, &mut seg);
            return Some(seg);
        }
        None
    }

    /// A segment of up to `max_len` queued bytes from `seq` (with our FIN if it reaches it).
    ///
    /// `mss` is what fits in one segment with the options every segment carries (timestamps);
    /// SACK blocks riding on the segment take their bytes out of it, so that the segment
    /// still fits the MTU (RFC 9293 §3.7.1: the MSS does not count TCP options).
    fn data_segment(
        &mut self,
        now: Instant,
        seq: SeqNumber,
        max_len: usize,
        mss: usize,
    ) -> Segment {
        let mut seg = self.bare(seq);
        self.fill_ack(now, &mut seg);
        let blocks = seg.sack_ranges.iter().flatten().count();
        // Kind, length and two NOPs to keep the header aligned, then 8 bytes a block.
        let sack_bytes = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        let max_len = max_len.min(mss.saturating_sub(sack_bytes).max(1));
        let offset = (seq - self.tx_seq).max(0) as usize;
        let len = max_len.min(self.tx.len().saturating_sub(offset));
        let fin = self.fin_queued && seq + len as u32 == self.fin_seq_out();
        seg.payload_len = len;
        if len > 0 && offset + len == self.tx.len() {
            seg.flags.insert(TcpFlags::PSH);
        }
        if fin {
            seg.flags.insert(TcpFlags::FIN);
        }
        let end = seq + seg.segment_len() as u32;
        if seq < self.snd_max {
            // A retransmission: Karn's rule.
            if self.timed.is_some_and(|(timed_end, _)| seq < timed_end) {
                self.timed = None;
            }
            self.stats.retransmits += 1;
            if end > self.high_rxt || self.high_rxt > self.snd_max {
                self.high_rxt = end;
            }
            // Eifel (RFC 3522): the TSval of the episode's first retransmission.
            if let Some(undo) = self.undo.as_mut().filter(|u| !u.ended) {
                if undo.first.is_none() {
                    undo.first = Some((seq, seg.timestamp.map_or(0, |(tsval, _)| tsval)));
                }
                undo.resent(seq);
            }
        }
        if self.opts.sack {
            if seq < self.snd_max {
                // Even an empty one: the record is no longer waiting, so NextSeg moves on.
                self.sb.on_retransmit(seq, end.min(self.snd_max), now);
            }
            if end > self.snd_max && seg.segment_len() > 0 {
                self.sb.on_send(seq.max(self.snd_max), end, now);
            }
        }
        if len > 0 && len < mss && end > self.snd_sml {
            self.snd_sml = end;
        }
        if end > self.snd_nxt {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            if self.timed.is_none() && !self.opts.timestamps && seq >= self.snd_max {
                self.timed = Some((end, now));
            }
            self.snd_max = end;
        }
        if self.timers.retransmit.is_none() && seg.segment_len() > 0 {
            self.timers.retransmit = Some(now + self.rtt.rto());
        }
        self.timers.persist = None;
        seg
    }
}
