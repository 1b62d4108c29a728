//! The DHCP client (RFC 2131 §4.4) as a pure state machine: messages and a timestamp in,
//! messages to send and lease events out. The interface feeds it the replies that arrive on UDP
//! port 68 and sends what it emits (from `0.0.0.0` to `255.255.255.255` until an address is
//! bound; renewals go unicast to the server).
//!
//! ```text
//!            +--------+  DISCOVER   +-----------+  OFFER: REQUEST   +------------+
//!  start --> |  INIT  | ----------> | SELECTING | ----------------> | REQUESTING |
//!            +--------+             +-----------+                   +------------+
//!              ^  ^  ^  NAK / retries spent / lease expired               | ACK
//!              |  |  +--------------------------------------+             v
//!              |  |       +-----------+  T2   +----------+  |  T1   +---------+
//!              |  +-------| REBINDING | <---- | RENEWING | <------- |  BOUND  |
//!              |   expiry +-----------+       +----------+   ACK -> +---------+
//! ```
//!
//! Retransmissions in SELECTING and REQUESTING back off exponentially, 4 s doubling to 64 s,
//! each randomized by ±1 s (RFC 2131 §4.1) from a seeded generator; REQUESTING gives up after
//! [`REQUEST_TRIES`] and starts over. RENEWING and REBINDING retransmit after half the time left
//! until T2 (respectively the lease's end), at least 60 s when that much is left (§4.4.5). T1 and
//! T2 default to half and seven eighths of the lease. A NAK, or the lease running out, drops the
//! address ([`Event::Lost`]) and starts over after a short randomized pause.
//!
//! Not done: DHCPDECLINE after an ARP probe of the offered address (RFC 5227), DHCPRELEASE on
//! shutdown, INFORM, client identifiers, choosing among several offers (the first wins).

#[cfg(test)]
mod tests;

use core::time::Duration;

use morgana_executor::Instant;

use crate::wire::dhcp::DEFAULT_PARAMETERS;
use crate::wire::{DhcpMessageType, DhcpRepr, EthernetAddress, Ipv4Address};

/// REQUESTs sent in REQUESTING before starting over.
pub const REQUEST_TRIES: u32 = 4;
/// The lease assumed when an ACK omits it (as udhcpc does).
const DEFAULT_LEASE: u32 = 3600;
/// Retransmission floor in RENEWING and REBINDING (RFC 2131 §4.4.5).
const RENEW_RETRY_MIN: Duration = Duration::from_secs(60);
/// The UDP payload we can take (option 57): an Ethernet MTU.
const MAX_MESSAGE_SIZE: u16 = 1500;

/// Where the client is (RFC 2131 figure 5, without INIT-REBOOT and REBOOTING).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpState {
    /// About to discover.
    Init,
    /// DISCOVER sent, waiting for an offer.
    Selecting,
    /// REQUEST sent for an offer, waiting for the ACK.
    Requesting,
    /// Holding a lease.
    Bound,
    /// After T1: renewing with the server that granted the lease (unicast).
    Renewing,
    /// After T2: asking any server (broadcast).
    Rebinding,
}

/// A granted lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Our address.
    pub address: Ipv4Address,
    /// The on-link prefix length (from the subnet mask; the address class without one).
    pub prefix_len: u8,
    /// The default gateway, when the server named one on the prefix.
    pub router: Option<Ipv4Address>,
    /// Up to three DNS servers.
    pub dns_servers: [Option<Ipv4Address>; 3],
    /// The server that granted it (option 54).
    pub server: Ipv4Address,
    /// How long it lasts; `None` is infinite.
    pub duration: Option<Duration>,
    /// When the ACK arrived (RFC 2131 counts from the REQUEST; this errs late by a round
    /// trip).
    pub acquired: Instant,
    /// T1: when renewal begins.
    pub renew_at: Option<Instant>,
    /// T2: when rebinding begins.
    pub rebind_at: Option<Instant>,
    /// When the address must be dropped.
    pub expires_at: Option<Instant>,
}

/// What a reply or a timer changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A lease was granted or renewed: configure (or keep) its address.
    Bound(Lease),
    /// The lease ended (NAK or expiry): drop the address.
    Lost,
}

/// A message to send, and to whom: [`Ipv4Address::BROADCAST`] or the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    /// The message.
    pub message: DhcpRepr<'static>,
    /// The destination address (port 67).
    pub to: Ipv4Address,
}

/// What the client ignored a message for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not a reply to our current transaction (xid, hardware address, type).
    NotOurs,
    /// Not expected in this state, or from another server than the one chosen.
    Unexpected,
    /// Missing or unusable fields (no server id, a non-unicast address, ...).
    Invalid,
}

/// The client. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct DhcpClient {
    mac: EthernetAddress,
    state: DhcpState,
    rng: u64,
    xid: u32,
    /// When the current exchange began (the `secs` field).
    started: Instant,
    /// The chosen offer: server id and address.
    offer: Option<(Ipv4Address, Ipv4Address)>,
    lease: Option<Lease>,
    /// When the next message is due.
    next_tx: Instant,
    /// Messages sent in this state.
    tries: u32,
}

impl DhcpClient {
    /// A client for hardware address `mac`, starting at once; `seed` (platform entropy) draws
    /// the transaction ids and the jitter.
    pub fn new(mac: EthernetAddress, seed: u64, now: Instant) -> Self {
        let mut c = DhcpClient {
            mac,
            state: DhcpState::Init,
            rng: seed | 1,
            xid: 0,
            started: now,
            offer: None,
            lease: None,
            next_tx: now,
            tries: 0,
        };
        c.xid = c.random() as u32;
        c
    }

    /// The state.
    pub fn state(&self) -> DhcpState {
        self.state
    }

    /// The lease held (also in RENEWING and REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The current transaction id.
    pub fn transaction_id(&self) -> u32 {
        self.xid
    }

    fn random(&mut self) -> u64 {
        // xorshift64* (Vigna 2014).
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// RFC 2131 §4.1: 4 s, 8 s, ... up to 64 s, randomized by ±1 s.
    fn backoff(&mut self, tries: u32) -> Duration {
        let base = Duration::from_secs(4u64 << tries.min(4));
        let jitter = Duration::from_millis(self.random() % 2001);
        (base + jitter).saturating_sub(Duration::from_secs(1))
    }

    fn restart(&mut self, now: Instant) {
        self.state = DhcpState::Init;
        self.offer = None;
        self.tries = 0;
        // A short randomized pause, so that a NAK loop does not spin.
        self.next_tx = now + Duration::from_millis(500 + self.random() % 1000);
    }

    /// When [`DhcpClient::poll`] next has something to do.
    pub fn poll_at(&self) -> Instant {
        match (self.state, &self.lease) {
            (DhcpState::Bound, Some(l)) => l.renew_at.unwrap_or(Instant::MAX),
            (DhcpState::Renewing, Some(l)) => self.next_tx.min(l.rebind_at.unwrap_or(Instant::MAX)),
            (DhcpState::Rebinding, Some(l)) => {
                self.next_tx.min(l.expires_at.unwrap_or(Instant::MAX))
            }
            _ => self.next_tx,
        }
    }

    /// Fires the timers: state changes (T1, T2, expiry) and the message due, if any. Call after
    /// every [`DhcpClient::on_message`] and at [`DhcpClient::poll_at`].
    pub fn poll(&mut self, now: Instant) -> (Option<Event>, Option<Outgoing>) {
        let mut event = None;
        if let Some(l) = self.lease {
            if l.expires_at.is_some_and(|t| now >= t) {
                self.lease = None;
                self.restart(now);
                self.next_tx = now;
                event = Some(Event::Lost);
            } else if self.state == DhcpState::Bound && l.renew_at.is_some_and(|t| now >= t) {
                self.state = DhcpState::Renewing;
                self.begin(now);
            } else if self.state == DhcpState::Renewing && l.rebind_at.is_some_and(|t| now >= t) {
                self.state = DhcpState::Rebinding;
                self.begin(now);
            }
        }
        if self.state == DhcpState::Bound || now < self.next_tx {
            return (event, None);
        }
        let out = match self.state {
            DhcpState::Init => {
                self.state = DhcpState::Selecting;
                self.begin(now);
                self.discover(now)
            }
            DhcpState::Selecting => self.discover(now),
            DhcpState::Requesting if self.tries >= REQUEST_TRIES => {
                self.restart(now);
                self.next_tx = now;
                return self.poll(now);
            }
            DhcpState::Requesting => self.request(now),
            DhcpState::Renewing | DhcpState::Rebinding => self.request(now),
            DhcpState::Bound => return (event, None),
        };
        (event, Some(out))
    }

    /// A new exchange: a new transaction id, `secs` from now, tries from zero.
    fn begin(&mut self, now: Instant) {
        self.xid = self.random() as u32;
        self.started = now;
        self.tries = 0;
        self.next_tx = now;
    }

    fn message(&self, now: Instant, kind: DhcpMessageType) -> DhcpRepr<'static> {
        let mut m = DhcpRepr::new(kind, self.xid, self.mac);
        m.secs = u16::try_from(now.saturating_duration_since(self.started).as_secs())
            .unwrap_or(u16::MAX);
        m.parameter_request_list = Some(&DEFAULT_PARAMETERS);
        m.max_message_size = Some(MAX_MESSAGE_SIZE);
        m
    }

    fn discover(&mut self, now: Instant) -> Outgoing {
        let mut m = self.message(now, DhcpMessageType::Discover);
        // We cannot take unicast before we have an address (RFC 2131 §4.1).
        m.broadcast = true;
        self.next_tx = now + self.backoff(self.tries);
        self.tries += 1;
        Outgoing {
            message: m,
            to: Ipv4Address::BROADCAST,
        }
    }

    fn request(&mut self, now: Instant) -> Outgoing {
        let mut m = self.message(now, DhcpMessageType::Request);
        let mut to = Ipv4Address::BROADCAST;
        match (self.state, self.offer, self.lease) {
            (DhcpState::Requesting, Some((server, address)), _) => {
                m.broadcast = true;
                m.server_identifier = Some(server);
                m.requested_ip = Some(address);
                self.next_tx = now + self.backoff(self.tries);
            }
            (state, _, Some(l)) => {
                // §4.3.2: renewing and rebinding fill `ciaddr`, and name neither server nor
                // address in options.
                m.client_ip = l.address;
                let until = if state == DhcpState::Renewing {
                    to = l.server;
                    l.rebind_at
                } else {
                    l.expires_at
                };
                let left = until.map_or(Duration::from_secs(3600), |t| {
                    t.saturating_duration_since(now)
                });
                let wait = (left / 2).max(RENEW_RETRY_MIN).min(left);
                self.next_tx = now.saturating_add(wait.max(Duration::from_secs(1)));
            }
            _ => {
                // Unreachable by construction; start over rather than panic.
                self.restart(now);
                return self.discover(now);
            }
        }
        self.tries += 1;
        Outgoing { message: m, to }
    }

    /// Takes in a message that arrived on port 68. Returns the event it caused, or why it was
    /// ignored; call [`DhcpClient::poll`] next for the message it may make due.
    pub fn on_message(&mut self, now: Instant, m: &DhcpRepr<'_>) -> Result<Option<Event>, Ignored> {
        if m.transaction_id != self.xid
            || m.client_hardware_address != self.mac
            || !m.message_type.is_reply()
        {
            return Err(Ignored::NotOurs);
        }
        match (self.state, m.message_type) {
            (DhcpState::Selecting, DhcpMessageType::Offer) => {
                let server = m.server_identifier.ok_or(Ignored::Invalid)?;
                if !m.your_ip.is_unicast() || !server.is_unicast() {
                    return Err(Ignored::Invalid);
                }
                self.offer = Some((server, m.your_ip));
                self.state = DhcpState::Requesting;
                // The REQUEST keeps the DISCOVER's xid (§4.4.1) and goes out at once.
                self.tries = 0;
                self.next_tx = now;
                Ok(None)
            }
            (DhcpState::Requesting, DhcpMessageType::Ack) => {
                let (server, address) = self.offer.ok_or(Ignored::Unexpected)?;
                if m.server_identifier.is_some_and(|s| s != server) || m.your_ip != address {
                    return Err(Ignored::Unexpected);
                }
                self.bind(now, m, server)
            }
            (DhcpState::Renewing | DhcpState::Rebinding, DhcpMessageType::Ack) => {
                let old = self.lease.ok_or(Ignored::Unexpected)?;
                let server = m.server_identifier.unwrap_or(old.server);
                self.bind(now, m, server)
            }
            (DhcpState::Requesting, DhcpMessageType::Nak) => {
                let (server, _) = self.offer.ok_or(Ignored::Unexpected)?;
                if m.server_identifier.is_some_and(|s| s != server) {
                    return Err(Ignored::Unexpected);
                }
                self.restart(now);
                Ok(None)
            }
            (DhcpState::Renewing | DhcpState::Rebinding, DhcpMessageType::Nak) => {
                self.lease = None;
                self.restart(now);
                Ok(Some(Event::Lost))
            }
            _ => Err(Ignored::Unexpected),
        }
    }

    fn bind(
        &mut self,
        now: Instant,
        m: &DhcpRepr<'_>,
        server: Ipv4Address,
    ) -> Result<Option<Event>, Ignored> {
        if !m.your_ip.is_unicast() || !server.is_unicast() {
            return Err(Ignored::Invalid);
        }
        let prefix_len = match m.subnet_mask {
            Some(mask) => {
                let bits = mask.to_bits();
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return Err(Ignored::Invalid);
                }
                bits.leading_ones() as u8
            }
            // RFC 1122 §3.3.1.1 allows the class's mask without one.
            None => match m.your_ip.octets()[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            },
        };
        let lease_secs = m.lease_time.unwrap_or(DEFAULT_LEASE);
        let (duration, renew_at, rebind_at, expires_at) = if lease_secs == u32::MAX {
            (None, None, None, None)
        } else {
            let lease = u64::from(lease_secs);
            let mut t1 = m.renewal_time.map_or(lease / 2, u64::from);
            let mut t2 = m.rebinding_time.map_or(lease * 7 / 8, u64::from);
            if !(t1 <= t2 && t2 <= lease) {
                (t1, t2) = (lease / 2, lease * 7 / 8);
            }
            let at = |s: u64| Some(now.saturating_add(Duration::from_secs(s)));
            (Some(Duration::from_secs(lease)), at(t1), at(t2), at(lease))
        };
        let mut lease = Lease {
            address: m.your_ip,
            prefix_len,
            router: None,
            dns_servers: m.dns_servers,
            server,
            duration,
            acquired: now,
            renew_at,
            rebind_at,
            expires_at,
        };
        let config = crate::iface::Ipv4Config {
            address: lease.address,
            prefix_len,
            gateway: None,
        };
        lease.router = m
            .router
            .filter(|r| r.is_unicast() && config.is_on_link(*r) && *r != lease.address);
        self.lease = Some(lease);
        self.state = DhcpState::Bound;
        self.offer = None;
        self.tries = 0;
        Ok(Some(Event::Bound(lease)))
    }
}
