//! The client's state machine, message by message, on a made-up clock.

use alloc::vec::Vec;

use super::*;

const MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const OTHER: Ipv4Address = Ipv4Address::new(10, 0, 2, 9);
const ADDR: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const T0: Instant = Instant::from_nanos(1_000_000_000);

fn secs(s: u64) -> Instant {
    T0 + Duration::from_secs(s)
}

fn reply<'a>(c: &DhcpClient, kind: DhcpMessageType) -> DhcpRepr<'a> {
    let mut m = DhcpRepr::new(kind, c.transaction_id(), MAC);
    m.your_ip = if kind == DhcpMessageType::Nak {
        Ipv4Address::UNSPECIFIED
    } else {
        ADDR
    };
    m.server_identifier = Some(SERVER);
    m.subnet_mask = Some(Ipv4Address::new(255, 255, 255, 0));
    m.router = Some(SERVER);
    m.dns_servers = [Some(Ipv4Address::new(10, 0, 2, 3)), None, None];
    m.lease_time = Some(1000);
    m
}

fn sent(c: &mut DhcpClient, now: Instant) -> Outgoing {
    let (event, out) = c.poll(now);
    assert_eq!(event, None);
    out.expect("a message is due")
}

/// A client bound at `T0`, lease 1000 s (T1 500 s, T2 875 s).
fn bound() -> DhcpClient {
    let mut c = DhcpClient::new(MAC, 42, T0);
    let d = sent(&mut c, T0);
    assert_eq!(d.message.message_type, DhcpMessageType::Discover);
    assert_eq!(
        c.on_message(T0, &reply(&c, DhcpMessageType::Offer)),
        Ok(None)
    );
    sent(&mut c, T0);
    let ev = c.on_message(T0, &reply(&c, DhcpMessageType::Ack)).unwrap();
    assert!(matches!(ev, Some(Event::Bound(_))));
    c
}

#[test]
fn discover_offer_request_ack_binds_the_lease() {
    let mut c = DhcpClient::new(MAC, 42, T0);
    assert_eq!(c.state(), DhcpState::Init);
    assert_eq!(c.poll_at(), T0);
    let d = sent(&mut c, T0);
    assert_eq!(d.to, Ipv4Address::BROADCAST);
    assert!(d.message.broadcast);
    assert_eq!(d.message.client_hardware_address, MAC);
    assert_eq!(
        d.message.parameter_request_list,
        Some(&DEFAULT_PARAMETERS[..])
    );
    assert_eq!(c.state(), DhcpState::Selecting);
    let xid = d.message.transaction_id;
    // An offer for another transaction or client is not ours.
    let mut wrong = reply(&c, DhcpMessageType::Offer);
    wrong.transaction_id ^= 1;
    assert_eq!(c.on_message(T0, &wrong), Err(Ignored::NotOurs));
    wrong = reply(&c, DhcpMessageType::Offer);
    wrong.client_hardware_address = EthernetAddress([2, 0, 0, 0, 0, 1]);
    assert_eq!(c.on_message(T0, &wrong), Err(Ignored::NotOurs));
    wrong = reply(&c, DhcpMessageType::Offer);
    wrong.server_identifier = None;
    assert_eq!(c.on_message(T0, &wrong), Err(Ignored::Invalid));
    // An ACK before any offer is unexpected.
    assert_eq!(
        c.on_message(T0, &reply(&c, DhcpMessageType::Ack)),
        Err(Ignored::Unexpected)
    );
    let at = secs(1);
    assert_eq!(
        c.on_message(at, &reply(&c, DhcpMessageType::Offer)),
        Ok(None)
    );
    let r = sent(&mut c, at);
    assert_eq!(r.message.message_type, DhcpMessageType::Request);
    assert_eq!(r.message.transaction_id, xid, "same xid as the DISCOVER");
    assert_eq!(r.message.requested_ip, Some(ADDR));
    assert_eq!(r.message.server_identifier, Some(SERVER));
    assert_eq!(r.message.secs, 1);
    assert_eq!(r.to, Ipv4Address::BROADCAST);
    // An ACK from a server we did not choose is ignored.
    let mut other = reply(&c, DhcpMessageType::Ack);
    other.server_identifier = Some(OTHER);
    assert_eq!(c.on_message(at, &other), Err(Ignored::Unexpected));
    let Ok(Some(Event::Bound(l))) = c.on_message(at, &reply(&c, DhcpMessageType::Ack)) else {
        panic!("bound");
    };
    assert_eq!(c.state(), DhcpState::Bound);
    assert_eq!(
        (l.address, l.prefix_len, l.router),
        (ADDR, 24, Some(SERVER))
    );
    assert_eq!(l.server, SERVER);
    assert_eq!(l.dns_servers[0], Some(Ipv4Address::new(10, 0, 2, 3)));
    assert_eq!(l.duration, Some(Duration::from_secs(1000)));
    assert_eq!(l.renew_at, Some(secs(501)));
    assert_eq!(l.rebind_at, Some(secs(876)));
    assert_eq!(l.expires_at, Some(secs(1001)));
    assert_eq!(c.poll_at(), secs(501));
    assert_eq!(c.poll(secs(500)), (None, None));
}

#[test]
fn retransmissions_back_off_exponentially_with_jitter() {
    let mut c = DhcpClient::new(MAC, 7, T0);
    let mut now = T0;
    let mut gaps = Vec::new();
    for _ in 0..7 {
        sent(&mut c, now);
        let next = c.poll_at();
        gaps.push(next.saturating_duration_since(now));
        let before = Instant::from_nanos(next.as_nanos() - 1_000_000);
        assert_eq!(c.poll(before).1, None);
        now = next;
    }
    for (k, gap) in gaps.iter().enumerate() {
        let base = Duration::from_secs(4 << k.min(4));
        assert!(
            *gap >= base - Duration::from_secs(1) && *gap <= base + Duration::from_secs(1),
            "{gaps:?}"
        );
    }
    // Another seed jitters differently.
    let mut d = DhcpClient::new(MAC, 8, T0);
    sent(&mut d, T0);
    assert_ne!(d.poll_at(), T0 + gaps[0]);
    assert_ne!(d.transaction_id(), c.transaction_id());
}

#[test]
fn a_nak_while_requesting_starts_over_and_unanswered_requests_too() {
    let mut c = DhcpClient::new(MAC, 1, T0);
    sent(&mut c, T0);
    c.on_message(T0, &reply(&c, DhcpMessageType::Offer))
        .unwrap();
    sent(&mut c, T0);
    assert_eq!(c.on_message(T0, &reply(&c, DhcpMessageType::Nak)), Ok(None));
    assert_eq!(c.state(), DhcpState::Init);
    assert!(c.lease().is_none());
    let again = c.poll_at();
    assert!(again > T0 && again <= secs(2), "a short pause");
    let d = sent(&mut c, again);
    assert_eq!(d.message.message_type, DhcpMessageType::Discover);
    // Now no ACK ever comes: after REQUEST_TRIES requests, discover again.
    c.on_message(again, &reply(&c, DhcpMessageType::Offer))
        .unwrap();
    let mut now = again;
    for _ in 0..REQUEST_TRIES {
        let r = sent(&mut c, now);
        assert_eq!(r.message.message_type, DhcpMessageType::Request);
        now = c.poll_at();
    }
    let d = sent(&mut c, now);
    assert_eq!(d.message.message_type, DhcpMessageType::Discover);
    assert_eq!(c.state(), DhcpState::Selecting);
}

#[test]
fn renewal_is_unicast_at_t1_and_an_ack_extends_the_lease() {
    let mut c = bound();
    let r = sent(&mut c, secs(500));
    assert_eq!(c.state(), DhcpState::Renewing);
    assert_eq!(r.to, SERVER, "unicast to the server");
    assert_eq!(r.message.client_ip, ADDR);
    assert_eq!(
        (r.message.requested_ip, r.message.server_identifier),
        (None, None)
    );
    assert!(!r.message.broadcast);
    // Half the time to T2 (187.5 s), at least 60 s.
    assert_eq!(c.poll_at(), secs(500) + Duration::from_millis(187_500));
    let Ok(Some(Event::Bound(l))) = c.on_message(secs(501), &reply(&c, DhcpMessageType::Ack))
    else {
        panic!("renewed");
    };
    assert_eq!(c.state(), DhcpState::Bound);
    assert_eq!(l.expires_at, Some(secs(1501)));
}

#[test]
fn without_answers_the_client_rebinds_then_loses_the_address() {
    let mut c = bound();
    sent(&mut c, secs(500));
    let mut now;
    let mut renewals = 1;
    loop {
        now = c.poll_at();
        let (ev, out) = c.poll(now);
        if c.state() == DhcpState::Rebinding {
            assert_eq!(now, secs(875));
            let out = out.unwrap();
            assert_eq!(out.to, Ipv4Address::BROADCAST, "rebinding broadcasts");
            assert_eq!(out.message.client_ip, ADDR);
            break;
        }
        assert_eq!(ev, None);
        assert!(out.is_some());
        renewals += 1;
    }
    assert!(renewals >= 2, "{renewals}");
    loop {
        now = c.poll_at();
        let (ev, out) = c.poll(now);
        if ev.is_some() {
            assert_eq!(ev, Some(Event::Lost));
            assert_eq!(now, secs(1000));
            assert_eq!(c.lease(), None);
            assert_eq!(
                out.map(|o| o.message.message_type),
                Some(DhcpMessageType::Discover),
                "and starts over at once"
            );
            break;
        }
        assert!(now < secs(1000));
    }
}

#[test]
fn a_nak_while_renewing_drops_the_address() {
    let mut c = bound();
    sent(&mut c, secs(500));
    assert_eq!(
        c.on_message(secs(500), &reply(&c, DhcpMessageType::Nak)),
        Ok(Some(Event::Lost))
    );
    assert_eq!((c.state(), c.lease()), (DhcpState::Init, None));
}

#[test]
fn odd_leases_are_handled() {
    // Infinite: no renewal ever.
    let mut c = DhcpClient::new(MAC, 3, T0);
    sent(&mut c, T0);
    c.on_message(T0, &reply(&c, DhcpMessageType::Offer))
        .unwrap();
    sent(&mut c, T0);
    let mut ack = reply(&c, DhcpMessageType::Ack);
    ack.lease_time = Some(u32::MAX);
    ack.subnet_mask = None;
    ack.router = Some(Ipv4Address::new(192, 168, 1, 1)); // off the prefix: not used
    let Ok(Some(Event::Bound(l))) = c.on_message(T0, &ack) else {
        panic!()
    };
    assert_eq!((l.duration, l.renew_at, l.expires_at), (None, None, None));
    assert_eq!(
        (l.prefix_len, l.router),
        (8, None),
        "class A without a mask"
    );
    assert_eq!(c.poll_at(), Instant::MAX);
    // T1 > T2 from the server falls back to the defaults; a non-contiguous mask is refused.
    let mut c = DhcpClient::new(MAC, 4, T0);
    sent(&mut c, T0);
    c.on_message(T0, &reply(&c, DhcpMessageType::Offer))
        .unwrap();
    sent(&mut c, T0);
    let mut ack = reply(&c, DhcpMessageType::Ack);
    ack.subnet_mask = Some(Ipv4Address::new(255, 0, 255, 0));
    assert_eq!(c.on_message(T0, &ack), Err(Ignored::Invalid));
    ack.subnet_mask = None;
    ack.renewal_time = Some(900);
    ack.rebinding_time = Some(100);
    let Ok(Some(Event::Bound(l))) = c.on_message(T0, &ack) else {
        panic!()
    };
    assert_eq!(
        (l.renew_at, l.rebind_at),
        (Some(secs(500)), Some(secs(875)))
    );
}
