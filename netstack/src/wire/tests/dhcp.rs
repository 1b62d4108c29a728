//! DHCP messages as literal bytes, both ways; strict option bounds; the fuzz body over the
//! messages, their prefixes and seeded mutations.
//!
//! Not a capture: [`SLIRP_OFFER`] and [`SLIRP_ACK`] are written by hand from RFC 2131's layout
//! (§2, figure 1) with exactly the fields and options QEMU's user networking (slirp's
//! `bootp.c`) puts in its replies to a client 52:54:00:12:34:56: `siaddr` and server id
//! 10.0.2.2, `yiaddr` 10.0.2.15, mask /24, router 10.0.2.2, DNS 10.0.2.3, a one-day lease, the
//! options ended and zero-padded to BOOTP's 300 bytes.

use alloc::vec::Vec;

use super::XorShift;
use super::fuzz::mutate;
use crate::wire::dhcp::{DEFAULT_PARAMETERS, DhcpOptions};
use crate::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, Error, EthernetAddress, Ipv4Address};

const CLIENT: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const XID: u32 = 0x3903_f326;

/// The fixed part of a reply: op 2, Ethernet, xid, yiaddr 10.0.2.15, siaddr 10.0.2.2, chaddr.
#[rustfmt::skip]
const REPLY_HEAD: [u8; 44] = [
    0x02, 0x01, 0x06, 0x00, 0x39, 0x03, 0xf3, 0x26, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, // ciaddr
    0x0a, 0x00, 0x02, 0x0f, // yiaddr
    0x0a, 0x00, 0x02, 0x02, // siaddr
    0x00, 0x00, 0x00, 0x00, // giaddr
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// The options of the OFFER (the ACK's differ in the message type only).
#[rustfmt::skip]
const OFFER_OPTIONS: [u8; 64] = [
    0x63, 0x82, 0x53, 0x63, // magic cookie
    0x35, 0x01, 0x02, // message type: OFFER
    0x36, 0x04, 0x0a, 0x00, 0x02, 0x02, // server identifier 10.0.2.2
    0x01, 0x04, 0xff, 0xff, 0xff, 0x00, // subnet mask
    0x03, 0x04, 0x0a, 0x00, 0x02, 0x02, // router
    0x06, 0x04, 0x0a, 0x00, 0x02, 0x03, // DNS
    0x33, 0x04, 0x00, 0x01, 0x51, 0x80, // lease 86400 s
    0xff, // end
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
];

/// `REPLY_HEAD`, the empty `sname` and `file`, then `options`.
fn message(head: &[u8; 44], options: &[u8; 64]) -> [u8; 300] {
    let mut m = [0u8; 300];
    m[..44].copy_from_slice(head);
    m[236..].copy_from_slice(options);
    m
}

fn slirp_offer() -> [u8; 300] {
    message(&REPLY_HEAD, &OFFER_OPTIONS)
}

fn slirp_ack() -> [u8; 300] {
    let mut options = OFFER_OPTIONS;
    options[6] = 5;
    message(&REPLY_HEAD, &options)
}

/// What this stack's client sends first: DISCOVER, broadcast flag, the parameter request list.
#[rustfmt::skip]
const DISCOVER_HEAD: [u8; 44] = [
    0x01, 0x01, 0x06, 0x00, 0x39, 0x03, 0xf3, 0x26, 0x00, 0x00, 0x80, 0x00,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
#[rustfmt::skip]
const DISCOVER_OPTIONS: [u8; 64] = [
    0x63, 0x82, 0x53, 0x63,
    0x35, 0x01, 0x01, // DISCOVER
    0x37, 0x06, 0x01, 0x03, 0x06, 0x33, 0x3a, 0x3b, // parameters: 1, 3, 6, 51, 58, 59
    0x39, 0x02, 0x05, 0xdc, // max message size 1500
    0xff,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn parse(bytes: &[u8]) -> Result<DhcpRepr<'_>, Error> {
    DhcpRepr::parse(&DhcpPacket::new_checked(bytes)?)
}

fn expected_offer() -> DhcpRepr<'static> {
    let mut r = DhcpRepr::new(DhcpMessageType::Offer, XID, CLIENT);
    r.your_ip = Ipv4Address::new(10, 0, 2, 15);
    r.server_ip = Ipv4Address::new(10, 0, 2, 2);
    r.server_identifier = Some(Ipv4Address::new(10, 0, 2, 2));
    r.subnet_mask = Some(Ipv4Address::new(255, 255, 255, 0));
    r.router = Some(Ipv4Address::new(10, 0, 2, 2));
    r.dns_servers = [Some(Ipv4Address::new(10, 0, 2, 3)), None, None];
    r.lease_time = Some(86400);
    r
}

#[test]
fn slirp_offer_and_ack_parse_field_by_field() {
    let offer = slirp_offer();
    let packet = DhcpPacket::new_checked(&offer[..]).unwrap();
    assert_eq!((packet.op(), packet.transaction_id()), (2, XID));
    assert_eq!(packet.client_hardware_address(), CLIENT);
    assert_eq!(parse(&offer), Ok(expected_offer()));
    let ack = slirp_ack();
    assert_eq!(
        parse(&ack),
        Ok(DhcpRepr {
            message_type: DhcpMessageType::Ack,
            ..expected_offer()
        })
    );
}

#[test]
fn replies_and_requests_emit_byte_for_byte() {
    let offer = expected_offer();
    let mut out = [0xaau8; 300];
    assert_eq!(offer.buffer_len(), 300);
    offer.emit(&mut DhcpPacket::new_unchecked(&mut out[..]));
    // Our option order puts the server id, then the lease, before mask, router and DNS.
    let back = parse(&out).unwrap();
    assert_eq!(back, offer);
    assert_eq!(out[..236], slirp_offer()[..236]);
    let mut discover = DhcpRepr::new(DhcpMessageType::Discover, XID, CLIENT);
    discover.broadcast = true;
    discover.parameter_request_list = Some(&DEFAULT_PARAMETERS);
    discover.max_message_size = Some(1500);
    let mut out = [0u8; 300];
    discover.emit(&mut DhcpPacket::new_unchecked(&mut out[..]));
    assert_eq!(out, message(&DISCOVER_HEAD, &DISCOVER_OPTIONS));
    assert_eq!(parse(&out), Ok(discover));
}

#[test]
fn bad_messages_are_rejected_not_panicked() {
    let offer = slirp_offer();
    for len in 0..240 {
        assert_eq!(parse(&offer[..len]), Err(Error::Truncated), "{len}");
    }
    let with = |at: usize, v: u8| {
        let mut m = offer;
        m[at] = v;
        m
    };
    // Magic cookie, hardware type and length, op disagreeing with the type.
    assert_eq!(parse(&with(236, 0)), Err(Error::Malformed));
    assert_eq!(parse(&with(1, 6)), Err(Error::Unsupported));
    assert_eq!(parse(&with(2, 16)), Err(Error::Unsupported));
    assert_eq!(parse(&with(0, 1)), Err(Error::Malformed));
    // Message type: unknown, wrong length, missing (plain BOOTP).
    assert_eq!(parse(&with(242, 9)), Err(Error::Malformed));
    assert_eq!(parse(&with(241, 2)), Err(Error::Malformed));
    assert_eq!(parse(&with(240, 0x0c)), Err(Error::Unsupported));
    // A server id of 3 bytes, a router list of 5.
    assert_eq!(parse(&with(244, 3)), Err(Error::Malformed));
    assert_eq!(parse(&with(256, 5)), Err(Error::Malformed));
    // An option running past the end of the message.
    let mut m = offer;
    m[273] = 0x0c; // replace End with a host-name option...
    m[274] = 200; // ...longer than what is left
    assert_eq!(parse(&m), Err(Error::Truncated));
    // Without End, the options stop at the end of the buffer.
    assert_eq!(parse(&offer[..273]), Ok(expected_offer()));
    let walked: Vec<u8> = DhcpOptions::new(&offer[240..])
        .map(|o| o.unwrap().0)
        .collect();
    assert_eq!(walked, [53, 54, 1, 3, 6, 51]);
}

#[test]
fn the_fuzz_body_holds_on_the_messages_and_seeded_mutations() {
    let discover = message(&DISCOVER_HEAD, &DISCOVER_OPTIONS);
    let corpus = [slirp_offer(), slirp_ack(), discover];
    for m in &corpus {
        for len in 0..=m.len() {
            crate::wire::fuzz::dhcp(&m[..len]);
        }
    }
    let mut rng = XorShift::new(2131);
    for _ in 0..10_000 {
        let mut buffer = [0u8; 400];
        let seed = &corpus[rng.below(corpus.len())];
        buffer[..300].copy_from_slice(seed);
        // Mutations in the options mostly, where the parsing is.
        let len = if rng.below(4) == 0 {
            mutate(&mut rng, &mut buffer, 300)
        } else {
            let mut tail = [0u8; 160];
            tail[..60].copy_from_slice(&seed[240..]);
            let n = mutate(&mut rng, &mut tail, 60);
            buffer[240..240 + n].copy_from_slice(&tail[..n]);
            240 + n
        };
        crate::wire::fuzz::dhcp(&buffer[..len]);
    }
}
