//! The connection: its variables (RFC 9293 §3.3.1), opening, the arrival of a segment
//! (§3.10.7) and the user calls (§3.10.1-§3.10.6). What to send is in `output.rs`.

use alloc::boxed::Box;
use core::time::Duration;

use morgana_executor::Instant;

use super::buffer::RingBuffer;
use super::congestion::{Congestion, Cubic, NewReno};
use super::options::{Negotiated, Offer, window_shift_for};
use super::reassembly::Assembler;
use super::rto::RttEstimator;
use super::sack::Scoreboard;
use super::state::State;
use super::timers::Timers;
use super::{Config, CongestionAlgorithm, Dropped, Endpoint, Segment, TcpError};
use crate::wire::{SeqNumber, TcpFlags, TcpRepr};

/// RFC 7323 §5.5: a TS.Recent older than 24 days is no longer trusted for PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// The most records a SACK scoreboard keeps (a 64 KiB window of 1448-byte segments needs 46).
const MAX_SCOREBOARD: usize = 1024;

/// A loss response that may be undone (RFC 4015), when the retransmissions prove spurious:
/// by timestamps (RFC 3522 Eifel detection) or, without them, by D-SACKs (RFC 3708).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Undo {
    /// The first retransmission of the episode: its sequence number and TSval, once sent.
    pub(super) first: Option<(SeqNumber, u32)>,
    /// The episode began with a timeout (else a fast retransmit).
    pub(super) timeout: bool,
    /// RFC 3708: the starts of the segments retransmitted, each cleared when a D-SACK
    /// reports it; `None` once they do not fit or one went twice (no undo then).
    pub(super) resent: Option<[Option<SeqNumber>; UNDO_SEGMENTS]>,
    /// The episode is over; without timestamps its undo waits for the D-SACKs.
    pub(super) ended: bool,
}

/// The most retransmissions of an episode that D-SACKs can prove spurious (RFC 3708).
pub(super) const UNDO_SEGMENTS: usize = 8;

impl Undo {
    pub(super) fn new(timeout: bool) -> Self {
        Undo {
            timeout,
            resent: Some([None; UNDO_SEGMENTS]),
            ..Undo::default()
        }
    }

    /// A retransmission of the segment at `seq`.
    pub(super) fn resent(&mut self, seq: SeqNumber) {
        let Some(list) = self.resent.as_mut() else {
            return;
        };
        if list.contains(&Some(seq)) {
            self.resent = None;
        } else if let Some(slot) = list.iter_mut().find(|s| s.is_none()) {
            *slot = Some(seq);
        } else {
            self.resent = None;
        }
    }

    /// A D-SACK for `[left, _)`: returns whether every retransmission is now reported.
    fn dsacked(&mut self, left: SeqNumber) -> bool {
        let Some(list) = self.resent.as_mut() else {
            return false;
        };
        if let Some(slot) = list.iter_mut().find(|s| **s == Some(left)) {
            *slot = None;
            return list.iter().all(Option::is_none);
        }
        false
    }
}

/// Counts of loss-recovery events, for tests and tracing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Fast recoveries entered (NewReno or SACK).
    pub fast_recoveries: u32,
    /// Retransmission timeouts.
    pub timeouts: u32,
    /// Segments retransmitted.
    pub retransmits: u32,
    /// Loss responses undone as spurious.
    pub undos: u32,
}

/// One TCP connection.
#[derive(Debug)]
pub struct Tcb {
    pub(super) config: Config,
    pub(super) local: Endpoint,
    pub(super) remote: Endpoint,
    pub(super) state: State,
    pub(super) error: Option<TcpError>,
    /// The options our SYN (or SYN-ACK) carries.
    pub(super) offer: Offer,
    /// What was agreed; before the peer's SYN, the defaults of a peer that offers nothing.
    pub(super) opts: Negotiated,

    // Send sequence space (RFC 9293 §3.3.1).
    pub(super) iss: SeqNumber,
    pub(super) snd_una: SeqNumber,
    pub(super) snd_nxt: SeqNumber,
    /// The highest sequence number sent plus one: `SND.NXT` moves back to `SND.UNA` after a
    /// timeout (go-back-N), this does not, and ACKs are acceptable up to it.
    pub(super) snd_max: SeqNumber,
    /// The peer's window, scaled.
    pub(super) snd_wnd: usize,
    /// The largest window the peer has offered (RFC 5961 §5's MAX.SND.WND; RFC 1122's sender
    /// silly-window avoidance).
    pub(super) max_snd_wnd: usize,
    pub(super) snd_wl1: SeqNumber,
    pub(super) snd_wl2: SeqNumber,
    pub(super) tx: RingBuffer,
    /// The sequence number of `tx`'s first byte.
    pub(super) tx_seq: SeqNumber,
    /// The user closed the sending side: a FIN follows the queued data.
    pub(super) fin_queued: bool,

    // Receive sequence space.
    pub(super) irs: SeqNumber,
    pub(super) rcv_nxt: SeqNumber,
    /// The right edge of the window last advertised, which never moves left.
    pub(super) rcv_adv: SeqNumber,
    pub(super) rx: RingBuffer,
    pub(super) ooo: Assembler,
    /// The sequence number of a FIN received ahead of missing data.
    pub(super) fin_seq: Option<SeqNumber>,
    /// The peer's FIN has been received in order.
    pub(super) fin_received: bool,

    // Timestamps (RFC 7323).
    pub(super) ts_recent: u32,
    pub(super) ts_recent_at: Instant,
    /// Added to our millisecond clock, so that TSvals do not reveal uptime.
    pub(super) ts_offset: u32,
    /// RCV.NXT as of the last ACK sent (RFC 7323 §4.3's Last.ACK.sent).
    pub(super) last_ack_sent: SeqNumber,

    // Retransmission and congestion.
    pub(super) rtt: RttEstimator,
    /// Without timestamps: the end of the one segment being timed and when it was sent.
    pub(super) timed: Option<(SeqNumber, Instant)>,
    /// Consecutive expiries of the retransmission timer.
    pub(super) retries: u32,
    pub(super) cc: Box<dyn Congestion>,
    pub(super) dup_acks: u32,
    /// NewReno's recovery point (RFC 6582 §3.2): `SND.MAX` when recovery began.
    pub(super) recover: SeqNumber,
    pub(super) in_recovery: bool,
    /// A retransmission of one segment from here is due (fast retransmit, partial ACK).
    pub(super) retransmit_from: Option<SeqNumber>,
    /// With SACK: the scoreboard of what was sent, SACKed and lost (RFC 6675, RFC 8985).
    pub(super) sb: Scoreboard,
    /// RFC 6675 §5 step 4.3: the first retransmission of a recovery goes whatever `pipe`.
    pub(super) recovery_kick: bool,
    /// The congestion response to undo if the retransmissions prove spurious.
    pub(super) undo: Option<Undo>,
    /// The end of the highest retransmission (RFC 6675's HighRxt, for D-SACKs).
    pub(super) high_rxt: SeqNumber,
    /// The end of the last short (less than a full MSS) data segment sent: Nagle holds a short
    /// segment only while such a one is unacknowledged (Minshall's variant, as Linux does).
    pub(super) snd_sml: SeqNumber,
    /// A D-SACK block to send (RFC 2883): a duplicate segment arrived.
    pub(super) dsack: Option<(SeqNumber, SeqNumber)>,
    pub(super) stats: RecoveryStats,
    pub(super) timers: Timers,
    pub(super) persist_backoff: u32,
    pub(super) keepalive_sent: u32,

    // Output requests.
    pub(super) ack_now: bool,
    /// Bytes received in order since the last ACK (delayed ACK: two full segments).
    pub(super) unacked_bytes: usize,
    /// A probe (`SEQ = SND.UNA - 1`, no data) is due: zero window or keepalive.
    pub(super) probe_now: bool,
    /// The sender silly-window override (RFC 1122 4.2.3.4 (d)): a short segment is due.
    pub(super) force_send: bool,
    /// A RST is due: its sequence number and, for an abort, the ACK it carries.
    pub(super) rst_pending: Option<(SeqNumber, Option<SeqNumber>)>,
    pub(super) challenge_window: Instant,
    pub(super) challenge_count: u32,
}

impl Tcb {
    fn new(local: Endpoint, remote: Endpoint, iss: SeqNumber, now: Instant, config: Config) -> Tcb {
        let offer = Offer {
            mss: u16::try_from(config.mtu.saturating_sub(40))
                .unwrap_or(u16::MAX)
                .max(64),
            window_shift: config
                .window_scaling
                .then(|| window_shift_for(config.recv_buffer)),
            timestamps: config.timestamps,
            sack: config.sack,
        };
        let opts = Negotiated {
            send_mss: super::options::DEFAULT_MSS,
            send_shift: 0,
            recv_shift: 0,
            timestamps: false,
            sack: false,
        };
        Tcb {
            local,
            remote,
            state: State::Closed,
            error: None,
            offer,
            opts,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            tx: RingBuffer::new(config.send_buffer),
            tx_seq: iss + 1,
            fin_queued: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            rx: RingBuffer::new(config.recv_buffer),
            ooo: Assembler::new(config.max_ooo_ranges),
            fin_seq: None,
            fin_received: false,
            ts_recent: 0,
            ts_recent_at: now,
            ts_offset: iss.0.rotate_left(13),
            last_ack_sent: SeqNumber(0),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            timed: None,
            retries: 0,
            cc: Box::new(NewReno::new(usize::from(super::options::DEFAULT_MSS))),
            dup_acks: 0,
            recover: iss,
            in_recovery: false,
            retransmit_from: None,
            sb: Scoreboard::new(MAX_SCOREBOARD),
            recovery_kick: false,
            undo: None,
            high_rxt: iss,
            snd_sml: iss,
            dsack: None,
            stats: RecoveryStats::default(),
            timers: Timers::default(),
            persist_backoff: 0,
            keepalive_sent: 0,
            ack_now: false,
            unacked_bytes: 0,
            probe_now: false,
            force_send: false,
            rst_pending: None,
            challenge_window: now,
            challenge_count: 0,
            config,
        }
    }

    /// Active open (RFC 9293 §3.10.1): a connection in SYN-SENT whose SYN
    /// [`Tcb::poll_transmit`] sends. `isn` should come from an [`super::IsnGenerator`].
    pub fn connect(
        local: Endpoint,
        remote: Endpoint,
        isn: SeqNumber,
        now: Instant,
        config: Config,
    ) -> Tcb {
        let mut tcb = Tcb::new(local, remote, isn, now, config);
        tcb.state = State::SynSent;
        tcb
    }

    /// Passive open from a received SYN (RFC 9293 §3.10.7.2, LISTEN): a connection in
    /// SYN-RECEIVED whose SYN-ACK [`Tcb::poll_transmit`] sends. A segment that is not a SYN
    /// (or carries ACK or RST) is refused with [`Dropped::NotSyn`]; the listener answers it.
    pub fn accept(
        local: Endpoint,
        remote: Endpoint,
        syn: &TcpRepr<'_>,
        isn: SeqNumber,
        now: Instant,
        config: Config,
    ) -> Result<Tcb, Dropped> {
        if !syn.flags.contains(TcpFlags::SYN)
            || syn.flags.contains(TcpFlags::RST)
            || syn.ack_number.is_some()
        {
            return Err(Dropped::NotSyn);
        }
        if syn.dst_port != local.port || syn.src_port != remote.port {
            return Err(Dropped::NotOurs);
        }
        let mut tcb = Tcb::new(local, remote, isn, now, config);
        tcb.state = State::SynReceived;
        tcb.offer = tcb.offer.answer(syn);
        tcb.on_peer_syn(now, syn);
        Ok(tcb)
    }

    /// Takes in the peer's SYN: its sequence number, options and window.
    fn on_peer_syn(&mut self, now: Instant, syn: &TcpRepr<'_>) {
        self.irs = syn.seq_number;
        self.rcv_nxt = syn.seq_number + 1;
        self.rcv_adv = self.rcv_nxt;
        self.last_ack_sent = self.rcv_nxt;
        self.opts = Negotiated::new(&self.offer, syn);
        if self.opts.timestamps {
            if let Some((tsval, _)) = syn.timestamp {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        self.snd_wnd = usize::from(syn.window_len);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq_number;
        self.cc = self.new_congestion();
    }

    /// The configured congestion controller, at the initial window for the negotiated MSS.
    fn new_congestion(&self) -> Box<dyn Congestion> {
        match self.config.congestion {
            CongestionAlgorithm::NewReno => Box::new(NewReno::new(self.smss())),
            CongestionAlgorithm::Cubic => Box::new(Cubic::new(self.smss())),
        }
    }

    // ---- accessors -------------------------------------------------------------------------

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }

    /// Our end.
    pub fn local(&self) -> Endpoint {
        self.local
    }

    /// The peer's end.
    pub fn remote(&self) -> Endpoint {
        self.remote
    }

    /// Whether [`Tcb::recv`] would return data, or the stream has ended (FIN or failure).
    pub fn is_readable(&self) -> bool {
        !self.rx.is_empty() || self.recv_closed() || self.state == State::Closed
    }

    /// Whether [`Tcb::send`] would take at least one byte.
    pub fn is_writable(&self) -> bool {
        self.state.can_send() && !self.fin_queued && self.tx.free() > 0
    }

    /// Whether the peer has closed its side (its FIN received in order).
    pub fn recv_closed(&self) -> bool {
        self.fin_received
    }

    /// Bytes waiting for [`Tcb::recv`].
    pub fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    /// Bytes queued and not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.tx.len()
    }

    /// What was negotiated with the peer.
    pub fn negotiated(&self) -> Negotiated {
        self.opts
    }

    /// The congestion window, in bytes.
    pub fn congestion_window(&self) -> usize {
        self.cc.window()
    }

    /// Loss-recovery counters.
    pub fn recovery_stats(&self) -> RecoveryStats {
        self.stats
    }

    /// The slow-start threshold, in bytes.
    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// `(SND.UNA, SND.NXT, RCV.NXT)`, for tests and tracing.
    pub fn sequence_numbers(&self) -> (SeqNumber, SeqNumber, SeqNumber) {
        (self.snd_una, self.snd_nxt, self.rcv_nxt)
    }

    /// Checks the machine's invariants (for tests and fuzzing): sequence numbers ordered,
    /// buffers within their bounds, the SACK scoreboard sorted, bounded, inside
    /// `[SND.UNA, SND.MAX)` and its counts exact.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if self.snd_una > self.snd_nxt {
            return Err("SND.UNA after SND.NXT");
        }
        if self.snd_nxt > self.snd_max {
            return Err("SND.NXT after SND.MAX");
        }
        if self.tx.len() > self.tx.capacity() || self.rx.len() > self.rx.capacity() {
            return Err("buffer over capacity");
        }
        if self.ooo.len() > self.config.max_ooo_ranges.max(1) {
            return Err("too many out-of-order ranges");
        }
        if self.rcv_adv < self.rcv_nxt && self.state.is_synchronized() && !self.fin_received {
            return Err("advertised window edge behind RCV.NXT");
        }
        self.sb.check(self.snd_una, self.snd_max)?;
        if !self.opts.sack && !self.sb.is_empty() {
            return Err("scoreboard without SACK");
        }
        let sent_data = self.snd_max - self.tx_seq;
        if sent_data > 0 && sent_data as usize > self.tx.len() + 1 {
            return Err("sent past the send buffer");
        }
        Ok(())
    }

    // ---- user calls ------------------------------------------------------------------------

    /// Queues as much of `data` as the send buffer takes; returns how much (0 once the sending
    /// side is closed or the connection failed).
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !self.is_writable() {
            return 0;
        }
        self.tx.push(data)
    }

    /// Moves received bytes into `buf`; returns how many (0 when none are waiting; see
    /// [`Tcb::recv_closed`] for the end of the stream).
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.rx.pop(buf)
    }

    /// Closes the sending side (RFC 9293 §3.10.4): a FIN follows the queued data.
    pub fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => {
                self.state = State::Closed;
                self.timers.clear();
            }
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Aborts the connection (RFC 9293 §3.10.5): a RST is sent if the peer knows of it, and
    /// the connection is closed at once.
    pub fn abort(&mut self) {
        if matches!(self.state, State::Closed | State::Listen | State::TimeWait) {
            self.state = State::Closed;
            self.timers.clear();
            return;
        }
        if self.state != State::SynSent {
            self.rst_pending = Some((self.snd_nxt, Some(self.rcv_nxt)));
        }
        self.state = State::Closed;
        self.timers.clear();
    }

    /// Ends the connection with `error`.
    pub(super) fn fail(&mut self, error: TcpError) {
        self.state = State::Closed;
        self.error = Some(error);
        self.timers.clear();
        self.retransmit_from = None;
        self.sb.clear();
        self.ack_now = false;
        self.probe_now = false;
    }

    // ---- helpers ---------------------------------------------------------------------------

    /// The sender MSS for congestion arithmetic: the peer's MSS, bounded by our MTU, less the
    /// timestamps option that every segment carries (RFC 6691).
    pub(super) fn smss(&self) -> usize {
        let mtu_mss = self.config.mtu.saturating_sub(40);
        let ts = if self.opts.timestamps { 12 } else { 0 };
        usize::from(self.opts.send_mss)
            .min(mtu_mss)
            .saturating_sub(ts)
            .max(1)
    }

    /// RCV.WND: what remains of the window last advertised.
    pub(super) fn rcv_wnd(&self) -> usize {
        let w = self.rcv_adv - self.rcv_nxt;
        if w > 0 { w as usize } else { 0 }
    }

    /// Our timestamp clock: milliseconds, offset.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        ((now.as_nanos() / 1_000_000) as u32).wrapping_add(self.ts_offset)
    }

    /// The sequence number our FIN has (or will have): after the last queued byte.
    pub(super) fn fin_seq_out(&self) -> SeqNumber {
        self.tx_seq + self.tx.len() as u32
    }

    /// Whether our FIN has been sent and acknowledged.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin_queued && self.tx.is_empty() && self.snd_una == self.tx_seq + 1
    }

    /// Queues a challenge ACK (RFC 5961), at most `challenge_ack_limit` a second (§7).
    fn challenge_ack(&mut self, now: Instant) {
        if now - self.challenge_window >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.config.challenge_ack_limit {
            self.challenge_count += 1;
            self.ack_now = true;
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.clear();
        self.timers.time_wait = Some(now + self.config.msl * 2);
    }

    // ---- segment arrival (RFC 9293 §3.10.7) ------------------------------------------------

    /// Processes a segment the IP layer demultiplexed to this connection. `Ok` when it was
    /// taken in; `Err` with the reason when it was dropped. Either way, call
    /// [`Tcb::poll_transmit`] afterwards: an ACK, a challenge ACK or a RST may be due.
    pub fn on_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Result<(), Dropped> {
        if seg.dst_port != self.local.port || seg.src_port != self.remote.port {
            return Err(Dropped::NotOurs);
        }
        match self.state {
            State::Closed | State::Listen => Err(Dropped::Closed),
            State::SynSent => self.on_segment_syn_sent(now, seg),
            _ => self.on_segment_synchronized(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Result<(), Dropped> {
        let rst = seg.flags.contains(TcpFlags::RST);
        if let Some(ack) = seg.ack_number {
            if ack <= self.iss || ack > self.snd_max {
                if !rst {
                    self.rst_pending = Some((ack, None));
                }
                return Err(Dropped::BadAck);
            }
        }
        if rst {
            // RFC 5961 §3 in SYN-SENT: the ACK must be acceptable, checked above.
            if seg.ack_number.is_some() {
                self.fail(TcpError::Refused);
                return Ok(());
            }
            return Err(Dropped::BadRst);
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return Err(Dropped::NotSyn);
        }
        self.on_peer_syn(now, seg);
        match seg.ack_number {
            Some(ack) => {
                self.snd_wl2 = ack;
                self.on_syn_acked(now, seg, ack);
                self.state = if self.fin_queued {
                    State::FinWait1
                } else {
                    State::Established
                };
                // Data on a SYN-ACK is rare; it is not taken (nor acknowledged), so the peer
                // sends it again.
                self.ack_now = true;
            }
            None => {
                // Simultaneous open: our SYN goes out again, as a SYN-ACK.
                self.state = State::SynReceived;
                self.offer = self.offer.answer(seg);
                self.opts = Negotiated::new(&self.offer, seg);
                self.snd_nxt = self.iss;
            }
        }
        Ok(())
    }

    /// The peer acknowledged our SYN with `ack`.
    fn on_syn_acked(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNumber) {
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        self.take_rtt_sample(now, seg, ack);
        self.retries = 0;
        self.rtt.reset_backoff();
        self.timers.retransmit = None;
        if self.config.keepalive.is_some() {
            self.timers.keepalive = self.config.keepalive.map(|idle| now + idle);
        }
    }

    /// An RTT sample from the ACK of new data (RFC 7323 §4.1 with timestamps, else the timed
    /// segment, RFC 6298 §3).
    fn take_rtt_sample(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNumber) {
        if self.opts.timestamps {
            if let Some((_, tsecr)) = seg.timestamp {
                let ms = self.ts_now(now).wrapping_sub(tsecr);
                // A TSecr we cannot have sent (from the future, or over a minute old) is no
                // sample.
                if tsecr != 0 && u128::from(ms) <= self.config.max_rto.as_millis() {
                    self.rtt.sample(Duration::from_millis(u64::from(ms)));
                }
            }
            return;
        }
        if let Some((end, at)) = self.timed {
            if ack >= end {
                self.rtt.sample(now - at);
                self.timed = None;
            }
        }
    }

    /// RFC 9293 §3.10.7.4, for SYN-RECEIVED and the synchronized states.
    fn on_segment_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Result<(), Dropped> {
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK repeats the SYN we have.
        // Its SYN is trimmed off, as the acceptability test would trim any old byte, and the
        // rest is the ACK that completes the handshake.
        if self.state == State::SynReceived
            && seg.flags.contains(TcpFlags::SYN)
            && seg.ack_number.is_some()
            && seg.seq_number == self.irs
            && !seg.flags.contains(TcpFlags::RST)
        {
            let mut trimmed = *seg;
            trimmed.flags.remove(TcpFlags::SYN);
            trimmed.seq_number = self.irs + 1;
            return self.on_segment_synchronized(now, &trimmed);
        }
        let rst = seg.flags.contains(TcpFlags::RST);
        let syn = seg.flags.contains(TcpFlags::SYN);
        let fin = seg.flags.contains(TcpFlags::FIN);
        let seq = seg.seq_number;

        // RFC 7323 §5.3 R1: PAWS, before the sequence number test.
        if self.opts.timestamps && !rst {
            match seg.timestamp {
                None => return Err(Dropped::NoTimestamp),
                Some((tsval, _)) => {
                    let older = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                    if older && now - self.ts_recent_at < PAWS_IDLE {
                        self.ack_now = true;
                        let end = seq + seg.payload.len() as u32;
                        if !seg.payload.is_empty() && end <= self.rcv_nxt {
                            // An old duplicate (RFC 7323 §5.3 R1 still ACKs it): D-SACK it.
                            self.note_duplicate(seq, end);
                        }
                        return Err(Dropped::Paws);
                    }
                }
            }
        }

        // First: the sequence number (the acceptability test of §3.10.7.4).
        let seg_len = seg.segment_len();
        let wnd = self.rcv_wnd();
        let in_window = |s: SeqNumber| s.in_range(self.rcv_nxt, self.rcv_nxt + wnd as u32);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_window(seq),
            (_, 0) => false,
            (len, _) => in_window(seq) || in_window(seq + (len as u32 - 1)),
        };
        // With a zero window, valid ACKs and RSTs are still taken (§3.10.7.4): the segment's
        // text is not.
        let text_ok = acceptable;
        if !(acceptable || (wnd == 0 && seq == self.rcv_nxt)) {
            if !rst {
                self.ack_now = true;
                if !seg.payload.is_empty() && seq + seg.payload.len() as u32 <= self.rcv_nxt {
                    // Data we already have: report it (RFC 2883 D-SACK).
                    self.note_duplicate(seq, seq + seg.payload.len() as u32);
                }
                if self.state == State::SynReceived && syn && seq == self.irs {
                    // The peer's SYN again: our SYN-ACK was lost.
                    self.snd_nxt = self.iss;
                }
                if self.state == State::TimeWait && fin {
                    self.timers.time_wait = Some(now + self.config.msl * 2);
                }
            }
            return Err(Dropped::OutOfWindow);
        }

        // Second: RST (RFC 5961 §3: only an exact RST resets; another in-window one is
        // challenged).
        if rst {
            if seq != self.rcv_nxt {
                self.challenge_ack(now);
                return Err(Dropped::Challenged);
            }
            match self.state {
                State::Closing | State::LastAck | State::TimeWait => {
                    self.state = State::Closed;
                    self.timers.clear();
                }
                State::SynReceived => self.fail(TcpError::Refused),
                _ => self.fail(TcpError::Reset),
            }
            return Ok(());
        }

        // Fourth: SYN in a synchronized state (RFC 5961 §4; also SYN-RECEIVED, §3.10.7.4).
        if syn {
            self.challenge_ack(now);
            return Err(Dropped::Challenged);
        }

        // Fifth: ACK.
        let Some(ack) = seg.ack_number else {
            return Err(Dropped::NoAck);
        };
        if self.state == State::SynReceived {
            if ack <= self.snd_una || ack > self.snd_max {
                self.rst_pending = Some((ack, None));
                return Err(Dropped::BadAck);
            }
            self.state = if self.fin_queued {
                State::FinWait1
            } else {
                State::Established
            };
            self.on_syn_acked(now, seg, ack);
            self.snd_wnd = usize::from(seg.window_len) << self.opts.send_shift;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
        }
        // RFC 5961 §5: acceptable from SND.UNA - MAX.SND.WND to SND.NXT (here SND.MAX).
        let lowest = self.snd_una - self.max_snd_wnd.min(1 << 30) as u32;
        if ack < lowest || ack > self.snd_max {
            self.challenge_ack(now);
            return Err(Dropped::Challenged);
        }
        if self.config.keepalive.is_some() && self.state.is_synchronized() {
            self.keepalive_sent = 0;
            self.timers.keepalive = self.config.keepalive.map(|idle| now + idle);
        }
        // RFC 7323 §4.3: TS.Recent from the segment at the left edge of the window.
        if self.opts.timestamps {
            if let Some((tsval, _)) = seg.timestamp {
                if seq <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                    self.ts_recent = tsval;
                    self.ts_recent_at = now;
                }
            }
        }
        self.process_ack(now, seg, ack);
        match self.state {
            State::FinWait1 if self.fin_acked() => self.state = State::FinWait2,
            State::Closing if self.fin_acked() => self.enter_time_wait(now),
            State::LastAck if self.fin_acked() => {
                self.state = State::Closed;
                self.timers.clear();
                return Ok(());
            }
            _ => {}
        }

        // Seventh: the text.
        if text_ok && self.state.can_receive() {
            self.on_data(now, seg);
        }

        // Eighth: FIN.
        if fin && text_ok && self.state.can_receive() {
            let fin_at = seq + seg.payload.len() as u32;
            if fin_at >= self.rcv_nxt && fin_at - self.rcv_nxt <= self.rx.free() as i32 {
                self.fin_seq = Some(fin_at);
                if fin_at != self.rcv_nxt {
                    // Ahead of a hole: acknowledge now, so the peer learns of the hole.
                    self.ack_now = true;
                }
            }
        }
        self.take_fin(now);
        Ok(())
    }

    /// The peer's FIN, once every byte before it is in.
    fn take_fin(&mut self, now: Instant) {
        if self.fin_received || self.fin_seq != Some(self.rcv_nxt) || !self.state.can_receive() {
            return;
        }
        self.fin_received = true;
        self.rcv_nxt += 1;
        self.rcv_adv = self.rcv_adv.max(self.rcv_nxt);
        self.ack_now = true;
        self.ooo.clear();
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 if self.fin_acked() => self.enter_time_wait(now),
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// The ACK field of an acceptable segment (RFC 9293 §3.10.7.4 "fifth"): the cumulative
    /// ACK, spurious-retransmission detection (RFC 3522), then with SACK the scoreboard and
    /// RFC 6675 / RFC 8985 loss detection, without it RFC 6582 NewReno with RFC 3042 limited
    /// transmit; last the window.
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNumber) {
        let window = usize::from(seg.window_len) << self.opts.send_shift;
        let mss = self.smss();
        let sack = self.opts.sack;
        if ack > self.snd_una {
            let acked = (ack - self.snd_una) as usize;
            let data = (ack - self.tx_seq).max(0) as usize;
            let consumed = self.tx.consume(data);
            self.tx_seq += consumed as u32;
            self.snd_una = ack;
            if self.snd_nxt < ack {
                self.snd_nxt = ack;
            }
            self.take_rtt_sample(now, seg, ack);
            self.retries = 0;
            self.rtt.reset_backoff();
            self.detect_spurious(seg, ack);
            if sack {
                self.sb.on_cumulative_ack(ack, now);
            }
            let flight = (self.snd_max - self.snd_una).max(0) as usize;
            if self.in_recovery {
                if ack >= self.recover {
                    // RFC 6582 §3.2 step 4 option 1, RFC 6675 §5: recovery ends; the window
                    // is ssthresh, guarded against a burst.
                    self.in_recovery = false;
                    let cwnd = self.cc.ssthresh().min(flight.max(mss) + mss);
                    self.cc.set_window(cwnd);
                } else if !sack {
                    // A partial ACK: deflate, and the next hole goes out at once (RFC 6582
                    // §3.2 step 5).
                    let mut cwnd = self.cc.window().saturating_sub(acked);
                    if acked >= mss {
                        cwnd += mss;
                    }
                    self.cc.set_window(cwnd.max(mss));
                    self.retransmit_from = Some(self.snd_una);
                }
            } else {
                self.cc.on_ack(acked, mss, now, self.rtt.srtt());
            }
            if !self.in_recovery && ack >= self.recover {
                self.end_undo_episode();
            }
            self.dup_acks = 0;
            if self.retransmit_from.is_some_and(|from| from < self.snd_una) {
                self.retransmit_from = None;
            }
            // RFC 6298 §5.2, §5.3.
            self.timers.retransmit = if self.snd_una == self.snd_max {
                None
            } else {
                Some(now + self.rtt.rto())
            };
        } else if !sack
            && ack == self.snd_una
            && self.snd_max > self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.contains(TcpFlags::FIN)
            && window == self.snd_wnd
        {
            // A duplicate ACK (RFC 5681 §2).
            self.dup_acks = self.dup_acks.saturating_add(1);
            if self.in_recovery {
                // RFC 6582 §3.2 step 3: inflate.
                self.cc.set_window(self.cc.window().saturating_add(mss));
            } else if self.dup_acks == 3 && ack >= self.recover {
                // Fast retransmit (RFC 5681 §3.2, RFC 6582 §3.2 step 2).
                let flight = (self.snd_max - self.snd_una).max(0) as usize;
                self.begin_recovery(now, flight);
                self.cc.set_window(self.cc.ssthresh() + 3 * mss);
                self.retransmit_from = Some(self.snd_una);
            }
        }
        if sack && self.snd_max > self.snd_una {
            let update = self
                .sb
                .on_sack(&seg.sack_ranges, self.snd_una, self.snd_max, now);
            if let Some((left, right)) = update.dsack {
                // A D-SACK for data we resent: a hint of reordering (RFC 8985 §6.2 step 4).
                if right <= self.high_rxt && self.high_rxt - left < 1 << 30 {
                    self.sb.on_dsack();
                }
                self.on_dsack(left);
            }
            self.sack_loss_detection(now);
        } else if sack {
            self.timers.rack = None;
        }
        // The window update rule (§3.10.7.4): only from a segment newer than the last update.
        if self.snd_wl1 < seg.seq_number || (self.snd_wl1 == seg.seq_number && self.snd_wl2 <= ack)
        {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq_number;
            self.snd_wl2 = ack;
            if window > 0 {
                self.timers.persist = None;
                self.persist_backoff = 0;
            }
        }
    }

    /// A loss begins recovery: cut the window once for the episode, remember how to undo it.
    fn begin_recovery(&mut self, now: Instant, flight: usize) {
        self.new_undo_episode(false);
        self.cc.on_congestion_event(flight, self.smss(), now);
        self.recover = self.snd_max;
        self.in_recovery = true;
        self.timed = None;
        self.stats.fast_recoveries += 1;
    }

    /// A new congestion episode: a previous one still waiting for D-SACKs keeps its cut.
    pub(super) fn new_undo_episode(&mut self, timeout: bool) {
        match self.undo.as_mut() {
            Some(undo) if !undo.ended => undo.timeout |= timeout,
            _ => {
                if self.undo.is_some() {
                    self.cc.commit();
                }
                self.undo = Some(Undo::new(timeout));
            }
        }
    }

    /// Recovery is over without an Eifel verdict: with timestamps the cut stands; without, it
    /// stands unless D-SACKs report every retransmission (RFC 3708), which may come later.
    fn end_undo_episode(&mut self) {
        let Some(undo) = self.undo.as_mut() else {
            return;
        };
        if undo.ended {
            return;
        }
        undo.ended = true;
        let all_reported = undo
            .resent
            .is_some_and(|list| list.iter().all(Option::is_none));
        let none_resent = undo.first.is_none() && all_reported;
        if self.opts.timestamps || undo.resent.is_none() || none_resent {
            self.undo = None;
            self.cc.commit();
        } else if all_reported {
            let timeout = undo.timeout;
            self.undo = None;
            self.respond_spurious(timeout);
        }
    }

    /// A D-SACK for the segment at `left` (RFC 3708 §3): when the episode is over and every
    /// retransmission was reported as a duplicate, none was needed.
    fn on_dsack(&mut self, left: SeqNumber) {
        if self.opts.timestamps {
            return;
        }
        let Some(undo) = self.undo.as_mut() else {
            return;
        };
        if undo.dsacked(left) && undo.ended {
            let timeout = undo.timeout;
            self.undo = None;
            self.respond_spurious(timeout);
        }
    }

    /// SACK loss detection (RFC 6675 IsLost until the path reorders, RACK always) and, on a
    /// new loss outside recovery, RFC 6675 §5 step 4: enter recovery. The RACK timer is set
    /// for records that may yet be deemed lost.
    pub(super) fn sack_loss_detection(&mut self, now: Instant) {
        let mss = self.smss();
        let (lost, timer) = self
            .sb
            .detect_loss(now, mss, self.in_recovery, self.rtt.srtt());
        self.timers.rack = timer;
        // RFC 6675 §5.1: after a timeout, no new recovery until HighACK reaches its
        // RecoveryPoint.
        if lost > 0 && !self.in_recovery && self.snd_una >= self.recover {
            let flight = (self.snd_max - self.snd_una).max(0) as usize;
            self.begin_recovery(now, flight);
            self.sb.on_recovery();
            self.recovery_kick = true;
        }
    }

    /// Eifel detection (RFC 3522): the first ACK that covers the episode's first
    /// retransmission tells, by the TSval it echoes, whether the original was received after
    /// all. If so, the response is undone (RFC 4015).
    fn detect_spurious(&mut self, seg: &TcpRepr<'_>, ack: SeqNumber) {
        let Some(undo) = self.undo else {
            return;
        };
        let Some((from, tsval)) = undo.first else {
            return;
        };
        let timeout = undo.timeout;
        if ack <= from || undo.ended {
            return;
        }
        if !self.opts.timestamps {
            // Without timestamps, the D-SACKs decide (RFC 3708).
            return;
        }
        self.undo = None;
        let spurious = self.opts.timestamps
            && seg
                .timestamp
                .is_some_and(|(_, tsecr)| tsecr != 0 && (tsecr.wrapping_sub(tsval) as i32) < 0);
        if !spurious {
            self.cc.commit();
            return;
        }
        self.respond_spurious(timeout);
    }

    /// The response to a spurious retransmission (RFC 4015 §2): the window and threshold come
    /// back, segments deemed lost and not yet resent are in flight again, new data follows;
    /// a spurious fast retransmit also tells that the path reorders.
    fn respond_spurious(&mut self, timeout: bool) {
        self.stats.undos += 1;
        self.cc.undo();
        self.sb.undo_lost();
        self.in_recovery = false;
        self.retransmit_from = None;
        self.dup_acks = 0;
        if !timeout {
            // A fast retransmit of a segment that was only late: the path reorders.
            self.sb.set_reordering_seen();
        }
        // RFC 4015 §2: resume with new data.
        if self.snd_nxt < self.snd_max {
            self.snd_nxt = self.snd_max;
        }
    }

    /// The text of an acceptable segment, in order or not (RFC 9293 §3.10.7.4 "seventh").
    fn on_data(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let payload = seg.payload;
        if payload.is_empty() {
            return;
        }
        let seq = seg.seq_number;
        let skip = (self.rcv_nxt - seq).max(0) as usize;
        if skip > 0 {
            self.note_duplicate(seq, seq + skip.min(payload.len()) as u32);
        }
        if skip >= payload.len() {
            // All old: a duplicate, acknowledged at once (RFC 5681 §4.2).
            self.ack_now = true;
            return;
        }
        let data = &payload[skip..];
        let start = seq + skip as u32;
        let offset = (start - self.rcv_nxt) as usize;
        let written = self.rx.write_ahead(offset, data);
        if written < data.len() {
            self.ack_now = true;
        }
        if written == 0 {
            return;
        }
        if offset == 0 {
            let had_holes = !self.ooo.is_empty();
            self.rx.commit(written);
            self.rcv_nxt += written as u32;
            while let Some(end) = self.ooo.pop_contiguous(self.rcv_nxt) {
                let more = (end - self.rcv_nxt).max(0) as usize;
                self.rx.commit(more);
                self.rcv_nxt += more as u32;
            }
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt);
            self.unacked_bytes += written;
            if had_holes || self.config.delayed_ack.is_none() {
                // Filling a hole is acknowledged at once (RFC 5681 §4.2).
                self.ack_now = true;
            } else if self.unacked_bytes >= 2 * self.smss_recv() {
                self.ack_now = true;
            } else if self.timers.delayed_ack.is_none() {
                self.timers.delayed_ack = self.config.delayed_ack.map(|d| now + d);
            }
        } else {
            // Out of order: kept if the range list has room, and acknowledged at once with
            // SACK blocks (RFC 5681 §4.2, RFC 2018).
            let end = start + written as u32;
            if self.ooo.contains(start, end) {
                self.note_duplicate(start, end);
            }
            let _ = self.ooo.insert(start, end);
            self.ack_now = true;
        }
    }

    /// A duplicate of `[start, end)` arrived: the next ACK reports it first (RFC 2883 §4).
    fn note_duplicate(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.opts.sack && start < end {
            self.dsack = Some((start, end));
            self.ack_now = true;
        }
    }

    /// The full-sized segment we expect to receive: our MSS less the timestamps option.
    pub(super) fn smss_recv(&self) -> usize {
        let ts = if self.opts.timestamps { 12 } else { 0 };
        usize::from(self.offer.mss).saturating_sub(ts).max(1)
    }

    /// The payload bytes of `seg` (from [`Tcb::poll_transmit`]), as the send buffer's two
    /// slices; empty if they were acknowledged since.
    pub fn payload(&self, seg: &Segment) -> (&[u8], &[u8]) {
        if seg.payload_len == 0 {
            return (&[], &[]);
        }
        let offset = seg.seq_number - self.tx_seq;
        if offset < 0 {
            return (&[], &[]);
        }
        self.tx.slices(offset as usize, seg.payload_len)
    }
}

impl Tcb {
    /// A connection completed by a SYN cookie ([`super::syncookie`]): `ack` is the ACK that
    /// returned our cookie `iss`, `mss` what the cookie carried. It starts ESTABLISHED, with no
    /// window scaling, SACK or timestamps (the cookie's SYN-ACK offered none); pass `ack` to
    /// [`Tcb::on_segment`] next for the data and window it carries.
    pub fn from_cookie(
        local: Endpoint,
        remote: Endpoint,
        ack: &TcpRepr<'_>,
        iss: SeqNumber,
        mss: u16,
        now: Instant,
        config: Config,
    ) -> Tcb {
        let mut tcb = Tcb::new(local, remote, iss, now, config);
        tcb.offer.window_shift = None;
        tcb.offer.timestamps = false;
        tcb.offer.sack = false;
        tcb.opts = Negotiated {
            send_mss: mss.max(64),
            send_shift: 0,
            recv_shift: 0,
            timestamps: false,
            sack: false,
        };
        tcb.state = State::Established;
        tcb.irs = ack.seq_number - 1u32;
        tcb.rcv_nxt = ack.seq_number;
        // The cookie's SYN-ACK advertised this window (unscaled).
        let window = tcb.config.recv_buffer.min(usize::from(u16::MAX)) as u32;
        tcb.rcv_adv = tcb.rcv_nxt + window;
        tcb.last_ack_sent = tcb.rcv_nxt;
        tcb.snd_una = iss + 1;
        tcb.snd_nxt = iss + 1;
        tcb.snd_max = iss + 1;
        tcb.snd_wnd = usize::from(ack.window_len);
        tcb.max_snd_wnd = tcb.snd_wnd;
        tcb.snd_wl1 = ack.seq_number;
        tcb.snd_wl2 = iss + 1;
        tcb.cc = tcb.new_congestion();
        tcb
    }
}
