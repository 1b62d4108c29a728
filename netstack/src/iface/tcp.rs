//! TCP over the interface: the connection table, demultiplexing of received segments to their
//! [`Tcb`] by (local port, remote address, remote port), listeners with a bounded backlog of
//! half-open and not yet accepted connections, RSTs for segments nobody wants, and the output of
//! every connection's segments through the same route/ARP path as UDP.
//!
//! Pure like the rest of [`Interface`]: [`Interface::poll`] drains each connection's
//! [`Tcb::poll_transmit`], wakes the readers, writers and acceptors that can make progress, and
//! forgets closed connections; [`Interface::poll_at`] folds in every [`Tcb::poll_at`].

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::task::Waker;
use core::time::Duration;

use morgana_executor::Instant;

use super::{Interface, SendError};
use crate::portmap::{PortMap, VecMap};
use crate::tcp::syncookie::{self, SynCookies};
use crate::tcp::{self, IsnGenerator, Segment, State, Tcb, TcpError};
use crate::udp::Endpoint;
use crate::wire::{IpProtocol, Ipv4Address, Ipv4Repr, TcpPacket, TcpRepr};

/// Resets sent per second at most for segments nobody wanted (a token bucket of this size).
pub const RESETS_PER_SEC: u32 = 100;

/// Half-open plus not yet accepted connections a listener keeps by default.
pub const DEFAULT_BACKLOG: usize = 16;
/// How long a connection whose socket was dropped may take to close before it is aborted
/// (bounds FIN-WAIT-2 against a peer that never closes).
pub const ORPHAN_LINGER: Duration = Duration::from_secs(60);
const EPHEMERAL_FIRST: u16 = 49152;

/// A connection's handle in the table.
pub type ConnId = u64;

/// (local port, remote address, remote port) packed into one number, the order of the tuple.
type Key = u64;

fn key(local_port: u16, remote: Ipv4Address, remote_port: u16) -> Key {
    (u64::from(local_port) << 48) | (u64::from(remote.to_bits()) << 16) | u64::from(remote_port)
}

/// The connections by id, in id order. Ids only grow, so a new connection goes at the end and
/// a lookup is a bisection. A sorted `Vec` rather than a `BTreeMap`: as fast at these sizes,
/// and a few hundred bytes of code where each `BTreeMap` instantiation links several KiB into
/// the image. Boxed, so removal shifts pointers, not connections.
#[derive(Debug, Default)]
struct Conns(Vec<(ConnId, Box<Conn>)>);

impl Conns {
    fn find(&self, id: ConnId) -> Option<usize> {
        self.0.binary_search_by_key(&id, |&(i, _)| i).ok()
    }

    fn get(&self, id: &ConnId) -> Option<&Conn> {
        self.find(*id).map(|i| &*self.0[i].1)
    }

    fn get_mut(&mut self, id: &ConnId) -> Option<&mut Conn> {
        self.find(*id).map(|i| &mut *self.0[i].1)
    }

    fn contains_key(&self, id: &ConnId) -> bool {
        self.find(*id).is_some()
    }

    /// Adds the connection with an id greater than any in the table.
    fn push(&mut self, id: ConnId, conn: Conn) {
        debug_assert!(self.0.last().is_none_or(|&(last, _)| last < id));
        self.0.push((id, Box::new(conn)));
    }

    fn remove(&mut self, id: &ConnId) {
        if let Some(i) = self.find(*id) {
            self.0.remove(i);
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn values(&self) -> impl Iterator<Item = &Conn> {
        self.0.iter().map(|(_, c)| &**c)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.0.iter_mut().map(|(_, c)| &mut **c)
    }
}

/// Why a TCP listener could not be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpBindError {
    /// Another listener holds the port.
    InUse,
    /// Port zero.
    Unaddressable,
    /// The stack was created without an ISN secret ([`super::Stack::with_isn_secret`]).
    NoIsnSecret,
}

impl core::fmt::Display for TcpBindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TcpBindError::InUse => "port already bound",
            TcpBindError::Unaddressable => "cannot bind port zero",
            TcpBindError::NoIsnSecret => "no ISN secret: TCP is disabled on this stack",
        })
    }
}

impl core::error::Error for TcpBindError {}

/// Why a TCP socket operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpSocketError {
    /// The peer answered our SYN with a RST.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions went unanswered.
    TimedOut,
    /// Writing after [`shutdown`](super::TcpStream::shutdown), or on a connection that ended.
    Closed,
    /// The stack was created without an ISN secret.
    NoIsnSecret,
    /// No ephemeral port is free for this destination.
    NoPorts,
    /// Port zero, or an address that is not unicast.
    BadDestination,
}

impl From<TcpError> for TcpSocketError {
    fn from(e: TcpError) -> Self {
        match e {
            TcpError::Refused => TcpSocketError::Refused,
            TcpError::Reset => TcpSocketError::Reset,
            TcpError::TimedOut => TcpSocketError::TimedOut,
        }
    }
}

impl core::fmt::Display for TcpSocketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TcpSocketError::Refused => "connection refused",
            TcpSocketError::Reset => "connection reset by peer",
            TcpSocketError::TimedOut => "connection timed out",
            TcpSocketError::Closed => "connection closed",
            TcpSocketError::NoIsnSecret => "no ISN secret: TCP is disabled on this stack",
            TcpSocketError::NoPorts => "no free ephemeral port",
            TcpSocketError::BadDestination => "bad destination address or port",
        })
    }
}

impl core::error::Error for TcpSocketError {}

#[derive(Debug)]
struct Conn {
    tcb: Tcb,
    /// In this listener's backlog, not yet accepted.
    listener: Option<u16>,
    /// A socket holds it.
    owned: bool,
    /// When a connection nobody holds is aborted if still open.
    orphan_deadline: Option<Instant>,
    reader: Option<Waker>,
    writer: Option<Waker>,
    last_state: State,
    indexed: bool,
}

#[derive(Debug)]
struct Listener {
    backlog: usize,
    pending: VecDeque<ConnId>,
    acceptor: Option<Waker>,
    /// When this listener last answered with a SYN cookie: returning ACKs are checked for
    /// cookies only for two cookie ticks after that.
    cookies_sent: Option<Instant>,
}

/// The TCP connections and listeners of an interface.
#[derive(Debug, Default)]
pub struct TcpTable {
    conns: Conns,
    /// The indexed connections by [`Key`].
    index: VecMap<Key, ConnId>,
    listeners: PortMap<Listener>,
    next_id: ConnId,
    next_port: u16,
}

impl TcpTable {
    fn insert(&mut self, tcb: Tcb, listener: Option<u16>) -> ConnId {
        let id = self.next_id;
        self.next_id += 1;
        let key = key(tcb.local().port, tcb.remote().addr, tcb.remote().port);
        if let Some(old) = self.index.insert(key, id) {
            if let Some(c) = self.conns.get_mut(&old) {
                c.indexed = false;
            }
        }
        let last_state = tcb.state();
        self.conns.push(
            id,
            Conn {
                tcb,
                listener,
                owned: listener.is_none(),
                orphan_deadline: None,
                reader: None,
                writer: None,
                last_state,
                indexed: true,
            },
        );
        id
    }

    /// Whether `l`'s backlog is full of established connections waiting for accept (the
    /// application is not accepting). They are among its pending ones, so a backlog with room
    /// answers at once, and a SYN costs no walk over the backlog until it fills.
    fn backlog_full_of_established(&self, l: &Listener) -> bool {
        l.pending.len() >= l.backlog && self.unaccepted(l) >= l.backlog
    }

    /// Established connections in `l`'s backlog, waiting for accept.
    fn unaccepted(&self, l: &Listener) -> usize {
        l.pending
            .iter()
            .filter(|id| {
                self.conns
                    .get(id)
                    .is_some_and(|c| c.tcb.state() != State::SynReceived)
            })
            .count()
    }

    /// Connections in the table (including closed ones a socket still holds).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the table holds no connection.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

impl Interface {
    /// Enables TCP: ISNs are keyed with `secret` (RFC 6528), which must come from the
    /// platform's entropy.
    pub fn set_isn_secret(&mut self, secret: [u8; 16]) {
        self.isn = Some(IsnGenerator::new(secret));
        self.cookies = Some(SynCookies::new(secret));
    }

    /// The settings of connections opened from now on (the MTU is the interface's).
    pub fn set_tcp_config(&mut self, config: tcp::Config) {
        self.tcp_config = config;
    }

    /// The settings new TCP connections get (the MTU aside, which is the interface's).
    pub fn tcp_config(&self) -> &tcp::Config {
        &self.tcp_config
    }

    /// The TCP table.
    pub fn tcp(&self) -> &TcpTable {
        &self.tcp
    }

    fn new_tcp_config(&self) -> tcp::Config {
        tcp::Config {
            mtu: self.mtu,
            ..self.tcp_config.clone()
        }
    }

    /// Listens on `port`, keeping at most `backlog` (at least one) half-open or unaccepted
    /// connections. When half-open ones fill it, further SYNs are answered with SYN cookies
    /// (stateless; connections completed that way lose window scaling, SACK and timestamps);
    /// when established but unaccepted ones reach `backlog`, further SYNs are dropped.
    pub fn tcp_listen(&mut self, port: u16, backlog: usize) -> Result<(), TcpBindError> {
        if port == 0 {
            return Err(TcpBindError::Unaddressable);
        }
        if self.isn.is_none() {
            return Err(TcpBindError::NoIsnSecret);
        }
        if self.tcp.listeners.contains_key(port) {
            return Err(TcpBindError::InUse);
        }
        self.tcp.listeners.insert(
            port,
            Listener {
                backlog: backlog.max(1),
                pending: VecDeque::new(),
                acceptor: None,
                cookies_sent: None,
            },
        );
        Ok(())
    }

    /// Stops listening on `port`: unaccepted connections are aborted. Returns the acceptor's
    /// waker, if one waited.
    pub fn tcp_unlisten(&mut self, port: u16) -> Option<Waker> {
        let l = self.tcp.listeners.remove(port)?;
        for id in l.pending {
            if let Some(c) = self.tcp.conns.get_mut(&id) {
                c.tcb.abort();
                c.listener = None;
            }
        }
        l.acceptor
    }

    /// Takes the oldest established connection from `port`'s backlog, with its peer.
    pub fn tcp_accept(&mut self, port: u16) -> Option<(ConnId, Endpoint)> {
        let l = self.tcp.listeners.get_mut(port)?;
        let conns = &mut self.tcp.conns;
        let at = l.pending.iter().position(|id| {
            conns
                .get(id)
                .is_some_and(|c| c.tcb.state().is_synchronized())
        })?;
        let id = l.pending.remove(at)?;
        let c = conns.get_mut(&id)?;
        c.listener = None;
        c.owned = true;
        Some((id, (c.tcb.remote().addr, c.tcb.remote().port)))
    }

    /// Registers the waker to wake when `port` has a connection to accept.
    pub fn tcp_register_acceptor(&mut self, port: u16, waker: &Waker) {
        if let Some(l) = self.tcp.listeners.get_mut(port) {
            l.acceptor = Some(waker.clone());
        }
    }

    /// Opens a connection to `remote` from an ephemeral port; its SYN goes out on the next
    /// [`Interface::poll`].
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        remote: Endpoint,
    ) -> Result<ConnId, TcpSocketError> {
        let Some(isn) = self.isn.clone() else {
            return Err(TcpSocketError::NoIsnSecret);
        };
        if remote.1 == 0 || !remote.0.is_unicast() || self.config.is_broadcast(remote.0) {
            return Err(TcpSocketError::BadDestination);
        }
        let span = u16::MAX - EPHEMERAL_FIRST + 1;
        let mut port = None;
        for _ in 0..span {
            let p = EPHEMERAL_FIRST + self.tcp.next_port % span;
            self.tcp.next_port = self.tcp.next_port.wrapping_add(1) % span;
            if !self.tcp.listeners.contains_key(p)
                && !self.tcp.index.contains_key(key(p, remote.0, remote.1))
            {
                port = Some(p);
                break;
            }
        }
        let port = port.ok_or(TcpSocketError::NoPorts)?;
        let local = tcp::Endpoint::new(self.config.address, port);
        let remote = tcp::Endpoint::new(remote.0, remote.1);
        let tcb = Tcb::connect(
            local,
            remote,
            isn.isn(local, remote, now),
            now,
            self.new_tcp_config(),
        );
        Ok(self.tcp.insert(tcb, None))
    }

    /// The connection `id`, for the socket's user calls.
    pub fn tcp_tcb(&mut self, id: ConnId) -> Option<&mut Tcb> {
        self.tcp.conns.get_mut(&id).map(|c| &mut c.tcb)
    }

    /// Registers the waker to wake when `id` is readable (or ended).
    pub fn tcp_register_reader(&mut self, id: ConnId, waker: &Waker) {
        if let Some(c) = self.tcp.conns.get_mut(&id) {
            c.reader = Some(waker.clone());
        }
    }

    /// Registers the waker to wake when `id` is writable, changes state, or ended.
    pub fn tcp_register_writer(&mut self, id: ConnId, waker: &Waker) {
        if let Some(c) = self.tcp.conns.get_mut(&id) {
            c.writer = Some(waker.clone());
        }
    }

    /// The socket holding `id` is gone: unread data aborts the connection (a RST, as
    /// `close(2)` does); otherwise it is closed gracefully (a FIN after the queued data) and
    /// forgotten once closed, or aborted after [`ORPHAN_LINGER`].
    pub fn tcp_release(&mut self, now: Instant, id: ConnId) {
        if let Some(c) = self.tcp.conns.get_mut(&id) {
            if c.tcb.recv_queue() > 0 {
                c.tcb.abort();
            } else {
                c.tcb.shutdown_write();
            }
            c.owned = false;
            c.reader = None;
            c.writer = None;
            c.orphan_deadline = Some(now + ORPHAN_LINGER);
        }
    }

    /// When the earliest TCP timer is due.
    pub(super) fn tcp_poll_at(&self) -> Option<Instant> {
        self.tcp
            .conns
            .values()
            .flat_map(|c| [c.tcb.poll_at(), c.orphan_deadline])
            .flatten()
            .min()
    }

    pub(super) fn process_tcp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        broadcast: bool,
        payload: &[u8],
    ) {
        if broadcast {
            self.counters.rx_ip_not_for_us += 1;
            return;
        }
        let repr = match TcpPacket::new_checked(payload)
            .and_then(|p| TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, &self.caps))
        {
            Ok(r) => r,
            Err(e) => {
                self.counters.count_rx_error(e);
                return;
            }
        };
        self.counters.tcp_rx_segments += 1;
        if let Some(id) = self
            .tcp
            .index
            .get(key(repr.dst_port, ip.src_addr, repr.src_port))
            .copied()
        {
            if self
                .tcp
                .conns
                .get(&id)
                .is_some_and(|c| c.tcb.state() != State::Closed)
            {
                self.tcp_segment_to(now, id, &repr);
                return;
            }
        }
        let is_syn = repr.flags.contains(crate::wire::TcpFlags::SYN)
            && !repr.flags.contains(crate::wire::TcpFlags::RST)
            && repr.ack_number.is_none();
        let local = tcp::Endpoint::new(self.config.address, repr.dst_port);
        let remote = tcp::Endpoint::new(ip.src_addr, repr.src_port);
        let is_ack = repr.ack_number.is_some()
            && !repr.flags.contains(crate::wire::TcpFlags::SYN)
            && !repr.flags.contains(crate::wire::TcpFlags::RST);
        if is_ack && self.accept_cookie(now, local, remote, &repr) {
            return;
        }
        if is_syn {
            if let (Some(l), Some(isn)) = (self.tcp.listeners.get(repr.dst_port), &self.isn) {
                if self.tcp.backlog_full_of_established(l) {
                    // The application is not accepting: no cookie would help.
                    self.counters.tcp_syn_dropped += 1;
                    return;
                }
                if l.pending.len() >= l.backlog {
                    self.send_cookie(now, local, remote, &repr);
                    return;
                }
                let isn = isn.isn(local, remote, now);
                let config = self.new_tcp_config();
                if let Ok(tcb) = Tcb::accept(local, remote, &repr, isn, now, config) {
                    let id = self.tcp.insert(tcb, Some(repr.dst_port));
                    if let Some(l) = self.tcp.listeners.get_mut(repr.dst_port) {
                        l.pending.push_back(id);
                    }
                }
                return;
            }
        }
        if let Some(rst) = Segment::reset_for(&repr) {
            if !self.rst_limit.take(now) {
                self.counters.tcp_resets_rate_limited += 1;
                return;
            }
            if self.emit_tcp(now, ip.src_addr, &rst, (&[], &[])).is_ok() {
                self.counters.tcp_resets_sent += 1;
            }
        }
    }

    /// Hands a segment to its connection and sends at once what it answers. Each segment gets
    /// its own answer, as RFC 5681 §4.2 and RFC 9293 §3.10.7.4 ask: when a whole window arrives
    /// in one batch from the device, the duplicate ACKs for out-of-order segments must not
    /// merge into one (the sender counts them to start fast retransmit), and ACKs for every
    /// second segment keep the sender's clock and slow start going.
    fn tcp_segment_to(&mut self, now: Instant, id: ConnId, repr: &TcpRepr<'_>) {
        let mut table = core::mem::take(&mut self.tcp);
        if let Some(c) = table.conns.get_mut(&id) {
            let _ = c.tcb.on_segment(now, repr);
            while let Some(seg) = c.tcb.poll_transmit(now, self.mtu) {
                let dst = c.tcb.remote().addr;
                match self.emit_tcp(now, dst, &seg, c.tcb.payload(&seg)) {
                    Ok(()) => self.counters.tcp_tx_segments += 1,
                    Err(_) => self.counters.tcp_tx_failed += 1,
                }
            }
        }
        self.tcp = table;
    }

    /// Answers a SYN with a cookie SYN-ACK and keeps nothing.
    fn send_cookie(
        &mut self,
        now: Instant,
        local: tcp::Endpoint,
        remote: tcp::Endpoint,
        syn: &TcpRepr<'_>,
    ) {
        let Some(cookies) = &self.cookies else {
            return;
        };
        let (isn, _) = cookies.make(local, remote, syn.seq_number, syn.max_seg_size, now);
        let our_mss = u16::try_from(self.mtu.saturating_sub(40)).unwrap_or(u16::MAX);
        let window = self.tcp_config.recv_buffer.min(usize::from(u16::MAX)) as u16;
        let seg = Segment {
            src_port: local.port,
            dst_port: remote.port,
            seq_number: isn,
            ack_number: Some(syn.seq_number + 1u32),
            flags: crate::wire::TcpFlags::SYN,
            window_len: window,
            max_seg_size: Some(our_mss),
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload_len: 0,
        };
        if let Some(l) = self.tcp.listeners.get_mut(local.port) {
            l.cookies_sent = Some(now);
        }
        if self.emit_tcp(now, remote.addr, &seg, (&[], &[])).is_ok() {
            self.counters.tcp_syncookies_sent += 1;
        }
    }

    /// An ACK for a listener that recently sent cookies: if it returns a valid cookie, the
    /// connection is made (and takes the ACK); `false` when it is not a cookie's ACK to take.
    fn accept_cookie(
        &mut self,
        now: Instant,
        local: tcp::Endpoint,
        remote: tcp::Endpoint,
        ack: &TcpRepr<'_>,
    ) -> bool {
        let (Some(cookies), Some(l)) = (&self.cookies, self.tcp.listeners.get(local.port)) else {
            return false;
        };
        let recent = |t: Instant| now.saturating_duration_since(t) < syncookie::TICK * 2;
        if l.cookies_sent.is_none_or(|t| !recent(t)) {
            return false;
        }
        let Some(ack_number) = ack.ack_number else {
            return false;
        };
        let Some(mss) = cookies.check(local, remote, ack.seq_number, ack_number, now) else {
            self.counters.tcp_syncookies_failed += 1;
            return false;
        };
        if self.tcp.backlog_full_of_established(l) {
            self.counters.tcp_syn_dropped += 1;
            return true;
        }
        let config = self.new_tcp_config();
        let mut tcb = Tcb::from_cookie(local, remote, ack, ack_number - 1u32, mss, now, config);
        let _ = tcb.on_segment(now, ack);
        let id = self.tcp.insert(tcb, Some(local.port));
        if let Some(l) = self.tcp.listeners.get_mut(local.port) {
            l.pending.push_back(id);
        }
        self.counters.tcp_syncookies_ok += 1;
        true
    }

    fn emit_tcp(
        &mut self,
        now: Instant,
        dst: Ipv4Address,
        seg: &Segment,
        payload: (&[u8], &[u8]),
    ) -> Result<(), SendError> {
        let joined;
        let data: &[u8] = if payload.1.is_empty() {
            payload.0
        } else {
            // The send ring wrapped: the one case that copies twice.
            joined = [payload.0, payload.1].concat();
            &joined
        };
        let repr = seg.repr(data);
        let (src, caps) = (self.config.address, self.caps);
        self.send_ip(now, dst, IpProtocol::Tcp, repr.buffer_len(), |buf| {
            repr.emit(&mut TcpPacket::new_unchecked(buf), src, dst, &caps);
        })
    }

    /// Sends what every connection has to send, wakes the sockets that can make progress and
    /// forgets the connections that closed.
    pub(super) fn dispatch_tcp(&mut self, now: Instant) {
        let mut table = core::mem::take(&mut self.tcp);
        let mtu = self.mtu;
        for c in table.conns.values_mut() {
            if !c.owned
                && c.listener.is_none()
                && c.orphan_deadline.is_some_and(|t| now >= t)
                && c.tcb.state() != State::Closed
            {
                c.tcb.abort();
            }
            while let Some(seg) = c.tcb.poll_transmit(now, mtu) {
                let dst = c.tcb.remote().addr;
                match self.emit_tcp(now, dst, &seg, c.tcb.payload(&seg)) {
                    Ok(()) => self.counters.tcp_tx_segments += 1,
                    Err(_) => self.counters.tcp_tx_failed += 1,
                }
            }
            let state = c.tcb.state();
            let changed = state != c.last_state;
            c.last_state = state;
            if changed || c.tcb.is_readable() {
                self.wake.extend(c.reader.take());
            }
            if changed || !state.can_send() || (state.is_synchronized() && c.tcb.is_writable()) {
                self.wake.extend(c.writer.take());
            }
        }
        // Forget closed connections: from the index at once, from the table once no socket
        // holds them.
        let closed: Vec<ConnId> = table
            .conns
            .0
            .iter()
            .filter(|(_, c)| c.tcb.state() == State::Closed)
            .map(|&(id, _)| id)
            .collect();
        for id in closed {
            let Some(c) = table.conns.get_mut(&id) else {
                continue;
            };
            if c.indexed {
                c.indexed = false;
                let r = c.tcb.remote();
                table.index.remove(key(c.tcb.local().port, r.addr, r.port));
            }
            if !c.owned {
                table.conns.remove(&id);
            }
        }
        for l in table.listeners.values_mut() {
            let conns = &table.conns;
            l.pending.retain(|id| conns.contains_key(id));
            if l.pending.iter().any(|id| {
                conns
                    .get(id)
                    .is_some_and(|c| c.tcb.state().is_synchronized())
            }) {
                self.wake.extend(l.acceptor.take());
            }
        }
        self.tcp = table;
    }
}
