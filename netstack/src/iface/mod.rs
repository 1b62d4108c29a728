//! The interface layer: Ethernet demultiplexing, ARP, IPv4 input and output (on-link or through
//! the gateway), ICMP echo and port-unreachable, UDP delivery to the socket table.
//!
//! [`Interface`] is pure: it owns no device. Received frames go in through
//! [`Interface::process_frame`], parsed in place (a UDP payload is copied once, into its
//! socket's queue); frames to send come out of [`Interface::pop_tx`]; [`Interface::poll`] and
//! [`Interface::poll_at`] drive ARP retries. [`Stack`] is the thin async driver over a
//! [`NetDevice`](morgana_drivers::net::NetDevice), and [`UdpSocket`] the async socket handle.
//!
//! TCP: [`tcp`] demultiplexes segments to the connection table and sends what connections
//! emit; [`TcpListener`] and [`TcpStream`] are the async handles. A listener whose backlog is
//! full of half-open connections answers further SYNs with SYN cookies
//! ([`crate::tcp::syncookie`]) and keeps no state for them; RSTs for segments nobody wants are
//! rate-limited to [`tcp::RESETS_PER_SEC`], ICMP errors to [`ICMP_ERRORS_PER_SEC`], each
//! suppression counted.
//!
//! DHCP: [`Stack::with_dhcp`] (or [`Interface::enable_dhcp`]) starts without an address; the
//! [`crate::dhcp`] client's replies are taken on UDP port 68 even then, and its leases set and
//! clear the configuration ([`StackHandle::wait_for_lease`]).
//!
//! IPv4 fragments for us are reassembled by [`fragment::Reassembler`] (bounded in datagrams,
//! bytes and time; overlaps with different bytes drop the datagram) and the whole datagram is
//! dispatched like any other.
//!
//! Not yet: fragmentation on output (a datagram larger than the MTU is refused with
//! [`SendError::TooLarge`]), IP options on output, checksum offload (everything is verified and
//! computed in software).

pub mod arp;
pub mod config;
mod dhcp;
pub mod fragment;
mod stack;
pub mod tcp;
mod tcp_socket;
#[cfg(test)]
mod tests;

pub use arp::ArpTable;
pub use config::{ConfigError, Ipv4Config, parse_cmdline};
pub use stack::{PingError, Stack, StackHandle, UdpSocket};
pub use tcp::{ConnId, DEFAULT_BACKLOG, TcpBindError, TcpSocketError, TcpTable};
pub use tcp_socket::{TcpListener, TcpStream};

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::task::Waker;
use core::time::Duration;

use morgana_executor::Instant;

use crate::udp::{Delivery, Endpoint, UdpTable};
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, ChecksumCaps, DstUnreachable, EtherType, EthernetAddress,
    EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr, InvokingDatagram, IpProtocol,
    Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

/// TTL of the datagrams we originate.
pub const DEFAULT_TTL: u8 = 64;
/// ARP cache entries.
pub const ARP_CACHE_SIZE: usize = 64;
/// Destinations that may wait for ARP at once.
pub const ARP_MAX_PENDING: usize = 16;
/// Frames waiting for the device before new ones are dropped.
pub const TX_QUEUE_LEN: usize = 256;
/// ICMP errors sent per second at most (a token bucket of this size, refilled continuously).
pub const ICMP_ERRORS_PER_SEC: u32 = 10;
/// Echo replies kept for [`Interface::take_echo_reply`].
const ECHO_REPLIES_KEPT: usize = 16;
/// RFC 1812 §4.3.2.3: an ICMP error is at most 576 bytes of IP.
const ICMP_ERROR_MAX: usize = 576;

/// What the interface counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames queued for transmission.
    pub tx_frames: u64,
    /// Frames shorter than an Ethernet header, or whose ARP/IPv4/ICMP/UDP did not parse.
    pub rx_malformed: u64,
    /// Checksum failures (IPv4 header, ICMP, UDP).
    pub rx_checksum: u64,
    /// Frames for another MAC address (or multicast), or sent by ourselves.
    pub rx_not_for_us: u64,
    /// Frames of an EtherType other than IPv4 and ARP, unsupported ARP, IPv4 protocols other than
    /// ICMP and UDP, ICMP messages ignored.
    pub rx_unsupported: u64,
    /// IPv4 packets for another address, or from a non-unicast source.
    pub rx_ip_not_for_us: u64,
    /// IPv4 fragments received (for us, header valid), whatever became of them.
    pub rx_fragments: u64,
    /// Datagrams reassembled from fragments and delivered.
    pub frag_reassembled: u64,
    /// Datagrams in progress dropped because their fragments did not all arrive in time.
    pub frag_timeout: u64,
    /// Datagrams dropped for an overlap with different bytes, or two different total lengths.
    pub frag_overlap: u64,
    /// Fragments repeating bytes already held (ignored).
    pub frag_duplicate: u64,
    /// Fragments that were empty, not a multiple of 8 bytes before the last, or past the end;
    /// their datagram is dropped.
    pub frag_malformed: u64,
    /// Datagrams dropped for exceeding 65,535 bytes.
    pub frag_too_big: u64,
    /// Datagrams dropped for holding too many disjoint pieces.
    pub frag_too_many_pieces: u64,
    /// Datagrams in progress evicted (oldest first) to make room within the bounds.
    pub frag_evicted: u64,
    /// Fragments of protocols the stack does not speak (not reassembled).
    pub frag_unsupported: u64,
    /// UDP datagrams delivered to a socket.
    pub udp_delivered: u64,
    /// UDP datagrams for a port nobody bound.
    pub udp_no_socket: u64,
    /// UDP datagrams dropped because their socket's queue was full.
    pub udp_queue_full: u64,
    /// ICMP echo requests answered.
    pub icmp_echo_replies_sent: u64,
    /// ICMP destination-unreachable messages sent.
    pub icmp_unreachable_sent: u64,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_rate_limited: u64,
    /// ARP requests sent.
    pub arp_requests_sent: u64,
    /// ARP replies sent.
    pub arp_replies_sent: u64,
    /// Frames dropped while waiting for ARP (queue full, too many destinations, no answer).
    pub arp_dropped: u64,
    /// Datagrams with no route (off-link, no gateway).
    pub tx_no_route: u64,
    /// Frames dropped because the transmit queue was full.
    pub tx_queue_full: u64,
    /// TCP segments received (checksum verified).
    pub tcp_rx_segments: u64,
    /// TCP segments sent by connections.
    pub tcp_tx_segments: u64,
    /// TCP segments of connections that could not be sent (no route, queue full).
    pub tcp_tx_failed: u64,
    /// RSTs sent for segments no connection or listener wanted.
    pub tcp_resets_sent: u64,
    /// SYNs dropped because the listener's backlog held `backlog` unaccepted connections (or
    /// a cookie's ACK came then).
    pub tcp_syn_dropped: u64,
    /// SYN-ACKs sent with a SYN cookie (the half-open backlog was full).
    pub tcp_syncookies_sent: u64,
    /// Connections made from a valid returning cookie.
    pub tcp_syncookies_ok: u64,
    /// ACKs to a listener in cookie mode whose cookie was stale or forged (answered by a RST).
    pub tcp_syncookies_failed: u64,
    /// RSTs not sent because of the rate limit.
    pub tcp_resets_rate_limited: u64,
    /// DHCP messages sent.
    pub dhcp_tx: u64,
    /// DHCP messages that could not be sent (no route to the server, queue full).
    pub dhcp_tx_failed: u64,
    /// DHCP replies the client took.
    pub dhcp_rx: u64,
    /// DHCP replies the client ignored (another transaction, unexpected, invalid).
    pub dhcp_ignored: u64,
    /// Leases bound or renewed.
    pub dhcp_leases: u64,
    /// Leases lost (NAK, expiry): the address was dropped.
    pub dhcp_lost: u64,
}

impl Counters {
    /// Counts a frame the wire layer rejected: a bad checksum, or anything else malformed.
    fn count_rx_error(&mut self, error: crate::wire::Error) {
        match error {
            crate::wire::Error::Checksum => self.rx_checksum += 1,
            _ => self.rx_malformed += 1,
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `rate` held (a one-second burst).
#[derive(Debug, Clone, Copy)]
struct RateLimit {
    rate: u32,
    tokens: u32,
    refilled: Instant,
}

impl RateLimit {
    fn new(rate: u32, now: Instant) -> Self {
        RateLimit {
            rate,
            tokens: rate,
            refilled: now,
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let per_token = (Duration::from_secs(1) / self.rate.max(1))
            .as_nanos()
            .max(1);
        let elapsed = now.saturating_duration_since(self.refilled).as_nanos();
        let new = (elapsed / per_token).min(u128::from(self.rate)) as u32;
        if new > 0 {
            self.tokens = (self.tokens + new).min(self.rate);
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// Why a datagram could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Off-link and no gateway.
    NoRoute,
    /// Larger than the MTU allows (no fragmentation on output).
    TooLarge,
    /// The destination is not an address to send to (unspecified, multicast) or port zero.
    BadDestination,
    /// The transmit queue is full.
    QueueFull,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::NoRoute => "no route to host",
            SendError::TooLarge => "datagram larger than the MTU",
            SendError::BadDestination => "bad destination address or port",
            SendError::QueueFull => "transmit queue full",
        })
    }
}

impl core::error::Error for SendError {}

/// A received ICMP echo reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    /// Who answered.
    pub from: Ipv4Address,
    /// The identifier.
    pub ident: u16,
    /// The sequence number.
    pub seq_no: u16,
    /// When it arrived.
    pub at: Instant,
}

/// One IPv4 Ethernet interface. See the [module docs](self).
#[derive(Debug)]
pub struct Interface {
    mac: EthernetAddress,
    config: Ipv4Config,
    mtu: usize,
    caps: ChecksumCaps,
    /// The device verifies TCP/UDP checksums of the frames it marks.
    rx_offload: bool,
    arp: ArpTable,
    udp: UdpTable,
    tx: VecDeque<Vec<u8>>,
    counters: Counters,
    ident: u16,
    icmp_tokens: u32,
    icmp_refill: Instant,
    echo_replies: VecDeque<EchoReply>,
    wake: Vec<Waker>,
    echo_waker: Option<Waker>,
    tcp: TcpTable,
    isn: Option<crate::tcp::IsnGenerator>,
    tcp_config: crate::tcp::Config,
    frags: fragment::Reassembler,
    cookies: Option<crate::tcp::syncookie::SynCookies>,
    rst_limit: RateLimit,
    dhcp: Option<crate::dhcp::DhcpClient>,
    config_generation: u64,
    config_wakers: Vec<Waker>,
}

impl Interface {
    /// An interface with hardware address `mac`, carrying IP packets of up to `mtu` bytes.
    pub fn new(mac: EthernetAddress, config: Ipv4Config, mtu: usize, now: Instant) -> Self {
        Interface {
            mac,
            config,
            mtu,
            caps: ChecksumCaps::SOFTWARE,
            rx_offload: false,
            arp: ArpTable::new(ARP_CACHE_SIZE, ARP_MAX_PENDING),
            udp: UdpTable::new(),
            tx: VecDeque::new(),
            counters: Counters::default(),
            ident: 1,
            icmp_tokens: ICMP_ERRORS_PER_SEC,
            icmp_refill: now,
            echo_replies: VecDeque::new(),
            wake: Vec::new(),
            echo_waker: None,
            tcp: TcpTable::default(),
            isn: None,
            tcp_config: crate::tcp::Config::default(),
            frags: fragment::Reassembler::default(),
            cookies: None,
            rst_limit: RateLimit::new(tcp::RESETS_PER_SEC, now),
            dhcp: None,
            config_generation: 0,
            config_wakers: Vec::new(),
        }
    }

    /// The hardware address.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// The IPv4 configuration.
    pub fn config(&self) -> &Ipv4Config {
        &self.config
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The UDP socket table.
    pub fn udp(&mut self) -> &mut UdpTable {
        &mut self.udp
    }

    /// The ARP table.
    pub fn arp(&mut self) -> &mut ArpTable {
        &mut self.arp
    }

    /// The next frame to transmit.
    pub fn pop_tx(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// Puts back a frame [`Interface::pop_tx`] gave, when the device had no room.
    pub fn unpop_tx(&mut self, frame: Vec<u8>) {
        self.tx.push_front(frame);
    }

    /// Whether frames wait for transmission.
    pub fn has_tx(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Takes the wakers of the sockets that got data, to wake once no borrow is held.
    pub fn take_wakers(&mut self, into: &mut Vec<Waker>) {
        into.append(&mut self.wake);
    }

    /// The oldest echo reply received, if any.
    pub fn take_echo_reply(&mut self) -> Option<EchoReply> {
        self.echo_replies.pop_front()
    }

    /// Registers the waker to wake when an echo reply arrives.
    pub fn register_echo_waker(&mut self, waker: &Waker) {
        self.echo_waker = Some(waker.clone());
    }

    /// Sends due ARP retries and gives up on unanswered ones; sends what TCP connections
    /// have to send (after input, user calls or timers) and wakes their sockets.
    pub fn poll(&mut self, now: Instant) {
        self.poll_dhcp(now);
        let mut requests = Vec::new();
        let dropped = self.arp.poll(now, &mut requests);
        self.counters.arp_dropped += dropped as u64;
        for ip in requests {
            self.send_arp_request(ip);
        }
        self.frags.poll(now, &mut self.counters);
        self.dispatch_tcp(now);
    }

    /// When [`Interface::poll`] next has work.
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.arp.poll_at(),
            self.tcp_poll_at(),
            self.frags.poll_at(),
            self.dhcp_poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The IPv4 reassembler (datagrams in progress).
    pub fn reassembler(&self) -> &fragment::Reassembler {
        &self.frags
    }

    // ----- receive -----

    /// Uses what the device offers of checksum work (virtio-net's CSUM and GUEST_CSUM): with
    /// `tx_fills`, TCP and UDP segments carry only the pseudo-header sum for the device to
    /// complete ([`TxChecksum::Partial`](crate::wire::TxChecksum::Partial)); with
    /// `rx_verified`, frames the device vouches for
    /// ([`process_verified_frame`](Self::process_verified_frame)) skip the TCP/UDP checksum.
    pub fn set_checksum_offload(&mut self, offload: morgana_drivers::net::ChecksumOffload) {
        let tx = if offload.tx_fills {
            crate::wire::TxChecksum::Partial
        } else {
            crate::wire::TxChecksum::Compute
        };
        self.caps.tcp.tx = tx;
        self.caps.udp.tx = tx;
        self.rx_offload = offload.rx_verified;
    }

    /// [`process_frame`](Self::process_frame) for a frame whose TCP or UDP checksum the device
    /// has verified, or left partial because it came from the host and never crossed a wire
    /// (virtio-net's DATA_VALID and NEEDS_CSUM on receive). Honoured only after
    /// [`set_checksum_offload`](Self::set_checksum_offload) said the device verifies.
    pub fn process_verified_frame(&mut self, now: Instant, frame: &[u8]) {
        if !self.rx_offload {
            return self.process_frame(now, frame);
        }
        let saved = self.caps;
        self.caps.tcp.verify_rx = false;
        self.caps.udp.verify_rx = false;
        self.process_frame(now, frame);
        self.caps = saved;
    }

    /// Handles one received Ethernet frame (without FCS). Never panics, whatever the bytes.
    pub fn process_frame(&mut self, now: Instant, frame: &[u8]) {
        self.counters.rx_frames += 1;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let dst = eth.dst_addr();
        if (dst != self.mac && !dst.is_broadcast()) || eth.src_addr() == self.mac {
            self.counters.rx_not_for_us += 1;
            return;
        }
        match eth.ethertype() {
            EtherType::Arp => self.process_arp(now, eth.payload()),
            EtherType::Ipv4 => self.process_ipv4(now, eth.payload()),
            _ => self.counters.rx_unsupported += 1,
        }
    }

    fn process_arp(&mut self, now: Instant, bytes: &[u8]) {
        let repr = match ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(crate::wire::Error::Unsupported) => {
                self.counters.rx_unsupported += 1;
                return;
            }
            Err(_) => {
                self.counters.rx_malformed += 1;
                return;
            }
        };
        let for_us = repr.target_protocol_addr == self.config.address
            && !self.config.address.is_unspecified();
        let sender = repr.source_protocol_addr;
        if sender.is_unicast()
            && repr.source_hardware_addr.is_unicast()
            && sender != self.config.address
        {
            let released = self
                .arp
                .merge(now, sender, repr.source_hardware_addr, for_us);
            for mut frame in released {
                EthernetFrame::new_unchecked(&mut frame[..])
                    .set_dst_addr(repr.source_hardware_addr);
                self.push_tx(frame);
            }
        }
        if for_us
            && repr.operation == ArpOperation::Request
            && repr.source_hardware_addr.is_unicast()
        {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: self.mac,
                source_protocol_addr: self.config.address,
                target_hardware_addr: repr.source_hardware_addr,
                target_protocol_addr: sender,
            };
            self.send_arp(reply, repr.source_hardware_addr);
            self.counters.arp_replies_sent += 1;
        }
    }

    fn process_ipv4(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(packet) = Ipv4Packet::new_checked(bytes) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let ip = match Ipv4Repr::parse(&packet, &self.caps) {
            Ok(r) => r,
            Err(e) => {
                self.counters.count_rx_error(e);
                return;
            }
        };
        let broadcast = self.config.is_broadcast(ip.dst_addr);
        let for_us = ip.dst_addr == self.config.address && !ip.dst_addr.is_unspecified();
        let dhcp_reply = ip.protocol == IpProtocol::Udp
            && !ip.is_fragment()
            && self.awaiting_dhcp_reply(packet.payload());
        // RFC 1122 §3.2.1.3: 0.0.0.0 is a source only while a host configures itself, which
        // is a UDP broadcast (a DHCP client's, for a server on this stack).
        let source_ok = ip.src_addr.is_unicast()
            || (ip.src_addr.is_unspecified() && broadcast && ip.protocol == IpProtocol::Udp);
        if (!for_us && !broadcast && !dhcp_reply) || !source_ok {
            self.counters.rx_ip_not_for_us += 1;
            return;
        }
        if ip.is_fragment() {
            self.counters.rx_fragments += 1;
            if !fragment::wanted(ip.protocol) {
                self.counters.frag_unsupported += 1;
                return;
            }
            if let Some(whole) = self.frags.insert(now, &packet, &ip, &mut self.counters) {
                self.process_reassembled(now, &whole);
            }
            return;
        }
        self.dispatch_ipv4(now, &ip, broadcast, bytes, packet.payload());
    }

    /// A datagram the reassembler put together: its header was checked fragment by fragment
    /// and its checksum rewritten, so it parses.
    fn process_reassembled(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(packet) = Ipv4Packet::new_checked(bytes) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let Ok(ip) = Ipv4Repr::parse(&packet, &ChecksumCaps::SOFTWARE) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let broadcast = self.config.is_broadcast(ip.dst_addr);
        self.dispatch_ipv4(now, &ip, broadcast, bytes, packet.payload());
    }

    fn dispatch_ipv4(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        broadcast: bool,
        bytes: &[u8],
        payload: &[u8],
    ) {
        match ip.protocol {
            IpProtocol::Icmp => self.process_icmp(now, ip, broadcast, payload),
            IpProtocol::Udp => self.process_udp(now, ip, broadcast, bytes, payload),
            IpProtocol::Tcp => self.process_tcp(now, ip, broadcast, payload),
            _ => self.counters.rx_unsupported += 1,
        }
    }

    fn process_icmp(&mut self, now: Instant, ip: &Ipv4Repr, broadcast: bool, payload: &[u8]) {
        let repr = match Icmpv4Packet::new_checked(payload)
            .and_then(|p| Icmpv4Repr::parse(&p, &self.caps))
        {
            Ok(r) => r,
            Err(e) => {
                self.counters.count_rx_error(e);
                return;
            }
        };
        match repr {
            // RFC 1122 §3.2.2.6: an echo request to a broadcast address may be dropped.
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } if !broadcast => {
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.send_icmp(now, ip.src_addr, &reply).is_ok() {
                    self.counters.icmp_echo_replies_sent += 1;
                }
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                if self.echo_replies.len() >= ECHO_REPLIES_KEPT {
                    self.echo_replies.pop_front();
                }
                self.echo_replies.push_back(EchoReply {
                    from: ip.src_addr,
                    ident,
                    seq_no,
                    at: now,
                });
                if let Some(w) = self.echo_waker.take() {
                    self.wake.push(w);
                }
            }
            _ => self.counters.rx_unsupported += 1,
        }
    }

    fn process_udp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        broadcast: bool,
        ip_bytes: &[u8],
        payload: &[u8],
    ) {
        let repr = match UdpPacket::new_checked(payload)
            .and_then(|p| UdpRepr::parse(&p, ip.src_addr, ip.dst_addr, &self.caps))
        {
            Ok(r) => r,
            Err(e) => {
                self.counters.count_rx_error(e);
                return;
            }
        };
        if self.process_dhcp(now, repr.src_port, repr.dst_port, repr.payload) {
            return;
        }
        let from: Endpoint = (ip.src_addr, repr.src_port);
        match self
            .udp
            .deliver(repr.dst_port, from, repr.payload, &mut self.wake)
        {
            Delivery::Queued => self.counters.udp_delivered += 1,
            Delivery::QueueFull => self.counters.udp_queue_full += 1,
            Delivery::NoSocket => {
                self.counters.udp_no_socket += 1;
                // RFC 1122 §3.2.2: never an error about a broadcast.
                if !broadcast {
                    self.send_port_unreachable(now, ip.src_addr, ip_bytes, ip.payload_len);
                }
            }
        }
    }

    fn send_port_unreachable(
        &mut self,
        now: Instant,
        to: Ipv4Address,
        ip_bytes: &[u8],
        payload_len: usize,
    ) {
        // Token bucket: refill one token per 1/ICMP_ERRORS_PER_SEC.
        let per_token = Duration::from_secs(1) / ICMP_ERRORS_PER_SEC;
        let elapsed = now.saturating_duration_since(self.icmp_refill);
        let new =
            (elapsed.as_nanos() / per_token.as_nanos()).min(u128::from(ICMP_ERRORS_PER_SEC)) as u32;
        if new > 0 {
            self.icmp_tokens =
                (self.icmp_tokens + new.min(ICMP_ERRORS_PER_SEC)).min(ICMP_ERRORS_PER_SEC);
            self.icmp_refill = now;
        }
        if self.icmp_tokens == 0 {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        self.icmp_tokens -= 1;
        let ihl = ip_bytes.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
        let header_len = ip_bytes.len().min(ihl);
        let whole = (header_len + payload_len).min(ip_bytes.len());
        let quoted = whole.min(ICMP_ERROR_MAX - Ipv4Packet::<&[u8]>::MIN_HEADER_LEN - 8);
        let Ok(invoking) = InvokingDatagram::new(&ip_bytes[..quoted]) else {
            return;
        };
        let repr = Icmpv4Repr::DstUnreachable {
            code: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
            invoking,
        };
        if self.send_icmp(now, to, &repr).is_ok() {
            self.counters.icmp_unreachable_sent += 1;
        }
    }

    // ----- send -----

    /// Sends a UDP datagram from our `src_port` to `dst`.
    pub fn send_udp(
        &mut self,
        now: Instant,
        src_port: u16,
        dst: Endpoint,
        payload: &[u8],
    ) -> Result<(), SendError> {
        if dst.1 == 0 {
            return Err(SendError::BadDestination);
        }
        let repr = UdpRepr {
            src_port,
            dst_port: dst.1,
            payload,
        };
        let (src, caps) = (self.config.address, self.caps);
        self.send_ip(now, dst.0, IpProtocol::Udp, repr.buffer_len(), |buf| {
            repr.emit(&mut UdpPacket::new_unchecked(buf), src, dst.0, &caps);
        })
    }

    /// Sends an ICMP echo request (see [`Interface::take_echo_reply`] for the answer).
    pub fn send_ping(
        &mut self,
        now: Instant,
        dst: Ipv4Address,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> Result<(), SendError> {
        let repr = Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        self.send_icmp(now, dst, &repr)
    }

    fn send_icmp(
        &mut self,
        now: Instant,
        dst: Ipv4Address,
        repr: &Icmpv4Repr<'_>,
    ) -> Result<(), SendError> {
        let caps = self.caps;
        self.send_ip(now, dst, IpProtocol::Icmp, repr.buffer_len(), |buf| {
            repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
        })
    }

    /// Builds an IPv4 packet of `payload_len` bytes (filled by `fill`) in a frame, routes it and
    /// sends it or queues it for ARP.
    fn send_ip(
        &mut self,
        now: Instant,
        dst: Ipv4Address,
        protocol: IpProtocol,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), SendError> {
        if dst.is_unspecified() || dst.is_multicast() {
            return Err(SendError::BadDestination);
        }
        // Without an address (DHCP at work) only broadcasts go out, from 0.0.0.0.
        if self.config.address.is_unspecified() && !dst.is_broadcast() {
            self.counters.tx_no_route += 1;
            return Err(SendError::NoRoute);
        }
        let ip_len = Ipv4Packet::<&[u8]>::MIN_HEADER_LEN + payload_len;
        if ip_len > self.mtu || ip_len > usize::from(u16::MAX) {
            return Err(SendError::TooLarge);
        }
        // Route: on-link or broadcast goes straight to the destination, the rest to the gateway.
        let broadcast = self.config.is_broadcast(dst);
        let next_hop = if broadcast || self.config.is_on_link(dst) {
            dst
        } else if let Some(gw) = self.config.gateway {
            gw
        } else {
            self.counters.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        if self.tx.len() >= TX_QUEUE_LEN {
            self.counters.tx_queue_full += 1;
            return Err(SendError::QueueFull);
        }
        let header = EthernetFrame::<&[u8]>::HEADER_LEN;
        let mut frame = vec![0; header + ip_len];
        let repr = Ipv4Repr {
            src_addr: self.config.address,
            dst_addr: dst,
            protocol,
            payload_len,
            ttl: DEFAULT_TTL,
            dscp: 0,
            ecn: 0,
            ident: self.ident,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        self.ident = self.ident.wrapping_add(1);
        {
            let mut packet = Ipv4Packet::new_unchecked(&mut frame[header..]);
            repr.emit(&mut packet, &self.caps);
            fill(packet.payload_mut());
        }
        EthernetRepr {
            src_addr: self.mac,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        if broadcast {
            self.push_tx(frame);
            return Ok(());
        }
        match self.arp.lookup(now, next_hop) {
            Some(mac) => {
                EthernetFrame::new_unchecked(&mut frame[..]).set_dst_addr(mac);
                self.push_tx(frame);
            }
            None => {
                let e = self.arp.enqueue(now, next_hop, frame);
                self.counters.arp_dropped += e.dropped as u64;
                if e.send_request {
                    self.send_arp_request(next_hop);
                }
            }
        }
        Ok(())
    }

    fn send_arp_request(&mut self, ip: Ipv4Address) {
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: self.mac,
            source_protocol_addr: self.config.address,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: ip,
        };
        self.send_arp(repr, EthernetAddress::BROADCAST);
        self.counters.arp_requests_sent += 1;
    }

    fn send_arp(&mut self, repr: ArpRepr, to: EthernetAddress) {
        let header = EthernetFrame::<&[u8]>::HEADER_LEN;
        let mut frame = vec![0; header + repr.buffer_len()];
        EthernetRepr {
            src_addr: self.mac,
            dst_addr: to,
            ethertype: EtherType::Arp,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        repr.emit(&mut ArpPacket::new_unchecked(&mut frame[header..]));
        self.push_tx(frame);
    }

    fn push_tx(&mut self, frame: Vec<u8>) {
        if self.tx.len() >= TX_QUEUE_LEN {
            self.counters.tx_queue_full += 1;
            return;
        }
        self.counters.tx_frames += 1;
        self.tx.push_back(frame);
    }
}
