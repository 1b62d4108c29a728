//! The DHCP client on the interface: replies on UDP port 68 go to the [`DhcpClient`] (before any
//! socket, and before the interface has an address, whatever IP destination they carry, since a
//! server may unicast them to the offered address); what it sends goes out from port 68 to port
//! 67, from `0.0.0.0` to `255.255.255.255` until an address is bound. Its events reconfigure the
//! interface: a lease sets the address, prefix and gateway; a NAK or an expiry clears them.
//!
//! Connections opened on an address that is then lost or changed keep it and fail; nothing
//! rebinds them.

use alloc::vec;
use core::task::Waker;

use morgana_executor::Instant;

use super::{Interface, Ipv4Config};
use crate::dhcp::{DhcpClient, Event, Lease, Outgoing};
use crate::wire::dhcp::{DHCP_CLIENT_PORT, DHCP_SERVER_PORT};
use crate::wire::{DhcpPacket, DhcpRepr};

impl Ipv4Config {
    /// No address yet (DHCP is at work): `0.0.0.0/32`, no gateway.
    pub const UNCONFIGURED: Ipv4Config = Ipv4Config {
        address: crate::wire::Ipv4Address::UNSPECIFIED,
        prefix_len: 32,
        gateway: None,
    };
}

impl Interface {
    /// Drops the configuration and starts a DHCP client; `seed` should come from the platform's
    /// entropy (it draws transaction ids and retransmission jitter).
    pub fn enable_dhcp(&mut self, seed: u64, now: Instant) {
        self.config = Ipv4Config::UNCONFIGURED;
        self.dhcp = Some(DhcpClient::new(self.mac, seed, now));
        self.config_changed();
    }

    /// The DHCP client, if enabled.
    pub fn dhcp(&self) -> Option<&DhcpClient> {
        self.dhcp.as_ref()
    }

    /// The lease held, if DHCP is enabled and has one.
    pub fn lease(&self) -> Option<Lease> {
        self.dhcp.as_ref().and_then(|c| c.lease().copied())
    }

    /// Bumped at every configuration change (lease bound, renewed or lost).
    pub fn config_generation(&self) -> u64 {
        self.config_generation
    }

    /// Registers the waker to wake at the next configuration change.
    pub fn register_config_waker(&mut self, waker: &Waker) {
        if !self.config_wakers.iter().any(|w| w.will_wake(waker)) {
            self.config_wakers.push(waker.clone());
        }
    }

    fn config_changed(&mut self) {
        self.config_generation += 1;
        self.wake.append(&mut self.config_wakers);
    }

    /// Whether a datagram that is not for our address should still be taken: a DHCP reply to
    /// port 68 while we have no address.
    pub(super) fn awaiting_dhcp_reply(&self, udp: &[u8]) -> bool {
        self.dhcp.is_some()
            && self.config.address.is_unspecified()
            && udp.get(2..4) == Some(&DHCP_CLIENT_PORT.to_be_bytes()[..])
    }

    /// Takes a UDP datagram from port 67 to port 68, if DHCP is on; `false` leaves it to the
    /// sockets.
    pub(super) fn process_dhcp(
        &mut self,
        now: Instant,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> bool {
        if self.dhcp.is_none() || src_port != DHCP_SERVER_PORT || dst_port != DHCP_CLIENT_PORT {
            return false;
        }
        let repr = match DhcpPacket::new_checked(payload).and_then(|p| DhcpRepr::parse(&p)) {
            Ok(r) => r,
            Err(e) => {
                self.counters.count_rx_error(e);
                return true;
            }
        };
        let Some(client) = self.dhcp.as_mut() else {
            return true;
        };
        match client.on_message(now, &repr) {
            Ok(event) => {
                self.counters.dhcp_rx += 1;
                if let Some(e) = event {
                    self.apply_dhcp(e);
                }
                self.poll_dhcp(now);
            }
            Err(_) => self.counters.dhcp_ignored += 1,
        }
        true
    }

    /// Fires the client's timers and sends what is due.
    pub(super) fn poll_dhcp(&mut self, now: Instant) {
        let Some(client) = self.dhcp.as_mut() else {
            return;
        };
        let (event, out) = client.poll(now);
        if let Some(e) = event {
            self.apply_dhcp(e);
        }
        if let Some(out) = out {
            self.send_dhcp(now, &out);
        }
    }

    pub(super) fn dhcp_poll_at(&self) -> Option<Instant> {
        self.dhcp.as_ref().map(|c| c.poll_at())
    }

    fn apply_dhcp(&mut self, event: Event) {
        match event {
            Event::Bound(l) => {
                self.config = Ipv4Config {
                    address: l.address,
                    prefix_len: l.prefix_len,
                    gateway: l.router,
                };
                self.counters.dhcp_leases += 1;
            }
            Event::Lost => {
                self.config = Ipv4Config::UNCONFIGURED;
                self.counters.dhcp_lost += 1;
            }
        }
        self.config_changed();
    }

    fn send_dhcp(&mut self, now: Instant, out: &Outgoing) {
        let mut buf = vec![0; out.message.buffer_len()];
        out.message
            .emit(&mut DhcpPacket::new_unchecked(&mut buf[..]));
        match self.send_udp(now, DHCP_CLIENT_PORT, (out.to, DHCP_SERVER_PORT), &buf) {
            Ok(()) => self.counters.dhcp_tx += 1,
            Err(_) => self.counters.dhcp_tx_failed += 1,
        }
    }
}
