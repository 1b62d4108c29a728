//! DHCP through the interface (frames in and out) and between two stacks over a `SimLink`, with a
//! minimal server on the other stack that NAKs once, then grants, renews and falls silent.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;

use morgana_executor::sim::SimPlatform;
use morgana_executor::{Executor, Instant, sleep, spawn, timeout};

use super::super::*;
use crate::phy::{SimLink, SimLinkConfig};
use crate::wire::{DhcpMessageType, DhcpPacket, DhcpRepr};

const US_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const SERVER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const US: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const T0: Instant = Instant::from_nanos(5_000_000_000);

/// A UDP datagram from the server to `dst`:68 in a frame to `mac`.
fn server_frame(mac: EthernetAddress, dst: Ipv4Address, dhcp: &DhcpRepr<'_>) -> Vec<u8> {
    let mut payload = vec![0; dhcp.buffer_len()];
    dhcp.emit(&mut DhcpPacket::new_unchecked(&mut payload[..]));
    let udp = UdpRepr {
        src_port: 67,
        dst_port: 68,
        payload: &payload,
    };
    let ip = Ipv4Repr {
        src_addr: SERVER,
        dst_addr: dst,
        protocol: IpProtocol::Udp,
        payload_len: udp.buffer_len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let mut f = vec![0; 14 + 20 + udp.buffer_len()];
    EthernetRepr {
        src_addr: SERVER_MAC,
        dst_addr: mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut f[14..]),
        &ChecksumCaps::SOFTWARE,
    );
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut f[34..]),
        SERVER,
        dst,
        &ChecksumCaps::SOFTWARE,
    );
    f
}

/// The DHCP message in a frame the interface sent, with its IP source and destination.
fn client_message(frame: &[u8]) -> (Ipv4Address, Ipv4Address, DhcpRepr<'_>) {
    assert_eq!(&frame[12..14], &[8, 0]);
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((udp.src_port(), udp.dst_port()), (68, 67));
    let ip_payload: &[u8] = &frame[34..];
    let dhcp = &ip_payload[8..usize::from(udp.len())];
    let m = DhcpRepr::parse(&DhcpPacket::new_checked(dhcp).unwrap()).unwrap();
    (ip.src_addr(), ip.dst_addr(), m)
}

fn answer(to: &DhcpRepr<'_>, kind: DhcpMessageType) -> DhcpRepr<'static> {
    let mut r = DhcpRepr::new(kind, to.transaction_id, to.client_hardware_address);
    r.server_identifier = Some(SERVER);
    if kind != DhcpMessageType::Nak {
        r.your_ip = US;
        r.lease_time = Some(60);
        r.subnet_mask = Some(Ipv4Address::new(255, 255, 255, 0));
        r.router = Some(SERVER);
    }
    r
}

#[test]
fn the_interface_takes_a_lease_from_unicast_replies_before_it_has_an_address() {
    let mut i = Interface::new(US_MAC, Ipv4Config::UNCONFIGURED, 1500, T0);
    i.enable_dhcp(99, T0);
    assert_eq!(i.poll_at(), Some(T0));
    i.poll(T0);
    let out: Vec<_> = core::iter::from_fn(|| i.pop_tx()).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..6], &[0xff; 6], "Ethernet broadcast");
    let (src, dst, discover) = client_message(&out[0]);
    assert_eq!(
        (src, dst),
        (Ipv4Address::UNSPECIFIED, Ipv4Address::BROADCAST)
    );
    assert_eq!(discover.message_type, DhcpMessageType::Discover);
    // Without an address nothing but broadcasts leaves, and ARP for 0.0.0.0 is not answered.
    assert_eq!(
        i.send_udp(T0, 1000, (SERVER, 53), b"q"),
        Err(SendError::NoRoute)
    );
    // The offer comes unicast to the offered address, at our MAC (as many servers do).
    let offer = answer(&discover, DhcpMessageType::Offer);
    i.process_frame(T0, &server_frame(US_MAC, US, &offer));
    let out: Vec<_> = core::iter::from_fn(|| i.pop_tx()).collect();
    assert_eq!(out.len(), 1, "the REQUEST at once");
    let (src, _, request) = client_message(&out[0]);
    assert_eq!(src, Ipv4Address::UNSPECIFIED);
    assert_eq!(request.requested_ip, Some(US));
    // Another datagram to the offered address is not taken while we have none.
    let mut stray = server_frame(US_MAC, US, &offer);
    stray[37] = 69; // UDP destination port 69
    i.process_frame(T0, &stray);
    assert_eq!(i.counters().rx_ip_not_for_us, 1);
    let ack = answer(&request, DhcpMessageType::Ack);
    i.process_frame(T0, &server_frame(US_MAC, US, &ack));
    assert_eq!(
        *i.config(),
        Ipv4Config {
            address: US,
            prefix_len: 24,
            gateway: Some(SERVER)
        }
    );
    assert_eq!(i.lease().map(|l| l.address), Some(US));
    let c = i.counters();
    assert_eq!((c.dhcp_tx, c.dhcp_rx, c.dhcp_leases), (2, 2, 1));
    // A replayed ACK of an old transaction changes nothing.
    i.process_frame(T0, &server_frame(US_MAC, US, &ack));
    assert_eq!(i.counters().dhcp_ignored, 1);
}

/// What the server saw: message type, sender, `ciaddr`, when.
type Seen = Rc<RefCell<Vec<(DhcpMessageType, (Ipv4Address, u16), Ipv4Address, Instant)>>>;

/// A minimal DHCP server for one client: offers `US` with a 60 s lease, NAKs the first REQUEST,
/// answers nothing while `silent` is set. Replies go broadcast to a client without an address
/// and unicast to one that has one (`ciaddr`).
async fn dhcp_server(h: StackHandle, seen: Seen, silent: Rc<Cell<bool>>) {
    let sock = UdpSocket::bind(&h, 67).unwrap();
    let mut buf = [0u8; 1500];
    let mut nak_next = true;
    loop {
        let (n, from) = sock.recv_from(&mut buf).await;
        let Ok(m) = DhcpPacket::new_checked(&buf[..n]).and_then(|p| DhcpRepr::parse(&p)) else {
            continue;
        };
        seen.borrow_mut()
            .push((m.message_type, from, m.client_ip, Instant::now()));
        if silent.get() {
            continue;
        }
        let kind = match m.message_type {
            DhcpMessageType::Discover => DhcpMessageType::Offer,
            DhcpMessageType::Request if nak_next => {
                nak_next = false;
                DhcpMessageType::Nak
            }
            DhcpMessageType::Request => DhcpMessageType::Ack,
            _ => continue,
        };
        let reply = answer(&m, kind);
        let mut out = vec![0; reply.buffer_len()];
        reply.emit(&mut DhcpPacket::new_unchecked(&mut out[..]));
        let to = if m.client_ip.is_unspecified() {
            Ipv4Address::BROADCAST
        } else {
            m.client_ip
        };
        sock.send_to(&out, (to, 68)).await.unwrap();
    }
}

#[test]
fn a_lease_from_a_server_over_a_sim_link_with_a_nak_a_renewal_and_an_expiry() {
    let sim = Rc::new(SimPlatform::new(11));
    let ex = Executor::new(sim);
    ex.block_on(async move {
        let (a, b) = SimLink::pair(SimLinkConfig::default());
        let now = Instant::now();
        let mut sa = Stack::with_dhcp(a, Some([1; 16]), 0x5eed, now);
        let server_config = Ipv4Config {
            address: SERVER,
            prefix_len: 24,
            gateway: None,
        };
        let mut sb = Stack::with_isn_secret(b, server_config, [2; 16], now);
        let (client, server) = (sa.handle(), sb.handle());
        spawn(async move { sa.run().await }).detach();
        spawn(async move { sb.run().await }).detach();
        let seen: Seen = Rc::default();
        let silent = Rc::new(Cell::new(false));
        spawn(dhcp_server(server.clone(), seen.clone(), silent.clone())).detach();

        assert_eq!(client.address(), Ipv4Address::UNSPECIFIED);
        let lease = timeout(Duration::from_secs(10), client.wait_for_lease())
            .await
            .expect("a lease within 10 s");
        let bound_at = Instant::now();
        assert_eq!((lease.address, lease.prefix_len), (US, 24));
        assert_eq!((lease.router, lease.server), (Some(SERVER), SERVER));
        assert_eq!(client.address(), US);
        let kinds: Vec<_> = seen.borrow().iter().map(|s| s.0).collect();
        use DhcpMessageType::{Discover, Request};
        assert_eq!(
            kinds,
            [Discover, Request, Discover, Request],
            "NAK, then over"
        );
        assert!(
            seen.borrow()
                .iter()
                .all(|s| s.1 == (Ipv4Address::UNSPECIFIED, 68))
        );
        let c = client.counters();
        assert_eq!((c.dhcp_leases, c.dhcp_lost), (1, 0));
        // The address works.
        timeout(Duration::from_secs(1), client.ping(SERVER, 1, 1, b"hi"))
            .await
            .expect("ping")
            .unwrap();

        // At T1 (30 s) the client renews, unicast from its address, and keeps it.
        sleep(Duration::from_secs(31)).await;
        let renewal = *seen.borrow().last().unwrap();
        assert_eq!((renewal.0, renewal.1, renewal.2), (Request, (US, 68), US));
        assert_eq!(renewal.3.saturating_duration_since(bound_at).as_secs(), 30);
        assert_eq!(client.counters().dhcp_leases, 2);
        let renewed = client.lease().unwrap();
        assert!(renewed.expires_at > lease.expires_at);

        // The server falls silent: rebinding at T2 (broadcast), then the address is lost at
        // the end of the lease, and discovery starts over.
        silent.set(true);
        let generation = client.config_generation();
        timeout(Duration::from_secs(70), client.config_changed(generation))
            .await
            .expect("the lease ends");
        assert_eq!(client.address(), Ipv4Address::UNSPECIFIED);
        assert_eq!(client.lease(), None);
        assert_eq!(client.counters().dhcp_lost, 1);
        let lost_at = Instant::now();
        assert_eq!(
            lost_at.saturating_duration_since(renewal.3).as_secs(),
            60,
            "60 s after the renewal"
        );
        assert!(
            seen.borrow().iter().any(|s| s.0 == Request
                && s.1 == (US, 68)
                && s.2 == US
                && s.3 > renewal.3 + Duration::from_secs(50)),
            "a rebinding request after T2"
        );
        // Back on speaking terms: a new lease.
        silent.set(false);
        timeout(Duration::from_secs(30), client.wait_for_lease())
            .await
            .expect("leased again");
        assert_eq!(client.address(), US);
    });
}
