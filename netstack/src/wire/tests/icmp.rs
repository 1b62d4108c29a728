//! ICMP messages from the capture, both ways: echo, port unreachable, time exceeded,
//! fragmentation needed, other types; truncation, bad checksums, malformed quotes.

extern crate std;

use std::format;

use super::packets::{
    ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACHABLE,
    ICMP_TIME_EXCEEDED, UDP_ECHO_REPLY,
};
use super::{ETH, HOST, PEER, ip_of, transport_of};
use crate::wire::{
    ChecksumCaps, DstUnreachable, Error, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, InvokingDatagram,
    IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TimeExceeded, TxChecksum,
};

/// The ICMP message of a captured frame.
fn icmp_of(frame: &[u8]) -> &[u8] {
    transport_of(frame).2
}

fn parse(bytes: &[u8]) -> Result<Icmpv4Repr<'_>, Error> {
    Icmpv4Repr::parse(&Icmpv4Packet::new_checked(bytes)?, &ChecksumCaps::SOFTWARE)
}

/// Emits `repr` and checks the bytes are `expected`.
fn assert_emits(repr: &Icmpv4Repr<'_>, expected: &[u8]) {
    let mut out = [0u8; 128];
    let len = repr.buffer_len();
    assert_eq!(len, expected.len());
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut out[..len]),
        &ChecksumCaps::SOFTWARE,
    );
    assert_eq!(out[..len], *expected);
}

/// The echo data: a timestamp, then the bytes 0x10 to 0x37.
const PING_DATA: &[u8] = ICMP_ECHO_REQUEST.split_at(ETH + 28).1;

#[test]
fn echo_request_and_reply() {
    let request = icmp_of(&ICMP_ECHO_REQUEST);
    let packet = Icmpv4Packet::new_checked(request).unwrap();
    assert_eq!(packet.msg_type(), Icmpv4Message::EchoRequest);
    assert_eq!((packet.msg_code(), packet.checksum()), (0, 0x1e3c));
    assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (0x1c2b, 1));
    assert_eq!(packet.data().len(), 48);
    let repr = parse(request).unwrap();
    assert_eq!(
        repr,
        Icmpv4Repr::EchoRequest {
            ident: 0x1c2b,
            seq_no: 1,
            data: PING_DATA
        }
    );
    assert_emits(&repr, request);

    let reply = icmp_of(&ICMP_ECHO_REPLY);
    let repr = parse(reply).unwrap();
    assert_eq!(
        repr,
        Icmpv4Repr::EchoReply {
            ident: 0x1c2b,
            seq_no: 1,
            data: PING_DATA
        }
    );
    assert_emits(&repr, reply);
}

#[test]
fn answer_a_ping_as_linux_did() {
    // The whole IPv4 packet of Linux's reply, rebuilt from the request; only the identification,
    // which Linux picks at random for a packet without DF, is copied from the capture.
    let (src, dst, request) = transport_of(&ICMP_ECHO_REQUEST);
    let Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    } = parse(request).unwrap()
    else {
        panic!()
    };
    let icmp = Icmpv4Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let linux = Ipv4Packet::new_checked(ip_of(&ICMP_ECHO_REPLY)).unwrap();
    let ip = Ipv4Repr {
        src_addr: dst,
        dst_addr: src,
        protocol: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: linux.ident(),
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let mut out = [0u8; 76];
    let mut packet = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.emit(&mut packet, &ChecksumCaps::SOFTWARE);
    icmp.emit(
        &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
        &ChecksumCaps::SOFTWARE,
    );
    assert_eq!(out[..], *ip_of(&ICMP_ECHO_REPLY));
}

#[test]
fn port_unreachable_quotes_the_datagram() {
    let bytes = icmp_of(&ICMP_PORT_UNREACHABLE);
    let repr = parse(bytes).unwrap();
    let Icmpv4Repr::DstUnreachable {
        code,
        next_hop_mtu,
        invoking,
    } = repr
    else {
        panic!("{repr:?}")
    };
    assert_eq!((code, next_hop_mtu), (DstUnreachable::PortUnreachable, 0));
    assert_eq!((invoking.src_addr(), invoking.dst_addr()), (PEER, HOST));
    assert_eq!(invoking.protocol(), IpProtocol::Udp);
    assert_eq!(invoking.ident(), 0x04d4);
    assert_eq!(invoking.header_len(), 20);
    assert_eq!(invoking.ports(), Some((40000, 9)));
    assert_eq!(
        invoking.payload(),
        b"\x9c\x40\x00\x09\x00\x12\x40\xabdiscard me"
    );
    assert_eq!(invoking.as_bytes(), &bytes[8..]);
    assert_emits(&repr, bytes);
}

#[test]
fn time_exceeded() {
    let bytes = icmp_of(&ICMP_TIME_EXCEEDED);
    let repr = parse(bytes).unwrap();
    let Icmpv4Repr::TimeExceeded { code, invoking } = repr else {
        panic!("{repr:?}")
    };
    assert_eq!(code, TimeExceeded::TtlExpired);
    assert_eq!(invoking.dst_addr(), Ipv4Address::new(10, 0, 3, 5));
    assert_eq!(invoking.ports(), Some((40002, 33434)));
    assert_emits(&repr, bytes);
}

#[test]
fn fragmentation_needed_carries_the_mtu() {
    let (src, _, bytes) = transport_of(&ICMP_FRAG_NEEDED);
    assert_eq!(src, Ipv4Address::new(10, 0, 2, 1));
    let repr = parse(bytes).unwrap();
    let Icmpv4Repr::DstUnreachable {
        code,
        next_hop_mtu,
        invoking,
    } = repr
    else {
        panic!("{repr:?}")
    };
    assert_eq!((code, next_hop_mtu), (DstUnreachable::FragRequired, 1400));
    // The quote is the first 28 bytes of our UDP echo reply.
    assert_eq!(invoking.as_bytes(), &UDP_ECHO_REPLY[ETH..ETH + 28]);
    assert_eq!(invoking.ports(), Some((7, 40001)));
    assert_emits(&repr, bytes);
}

#[test]
fn other_messages_are_kept_whole() {
    // A timestamp request (type 13, RFC 792), which this stack does not interpret.
    let mut bytes = [
        13, 0, 0, 0, 0x12, 0x34, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut packet = Icmpv4Packet::new_unchecked(&mut bytes[..]);
    packet.fill_checksum();
    let repr = parse(&bytes).unwrap();
    assert_eq!(
        repr,
        Icmpv4Repr::Other {
            msg_type: Icmpv4Message::Timestamp,
            code: 0,
            rest_of_header: [0x12, 0x34, 0x00, 0x07],
            data: &bytes[8..],
        }
    );
    assert_emits(&repr, &bytes);
    // An unknown type too.
    let mut bytes = [200, 9, 0, 0, 1, 2, 3, 4];
    Icmpv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
    let repr = parse(&bytes).unwrap();
    assert!(matches!(
        repr,
        Icmpv4Repr::Other {
            msg_type: Icmpv4Message::Unknown(200),
            code: 9,
            ..
        }
    ));
    assert_emits(&repr, &bytes);
}

#[test]
fn echo_with_a_code_is_malformed() {
    let mut bytes = [0u8; 56];
    bytes.copy_from_slice(icmp_of(&ICMP_ECHO_REQUEST));
    bytes[1] = 1;
    let mut packet = Icmpv4Packet::new_unchecked(&mut bytes[..]);
    packet.fill_checksum();
    assert_eq!(parse(&bytes), Err(Error::Malformed));
}

#[test]
fn bad_checksum_is_rejected_unless_offloaded() {
    let mut bytes = [0u8; 56];
    bytes.copy_from_slice(icmp_of(&ICMP_ECHO_REQUEST));
    bytes[55] ^= 1;
    assert_eq!(parse(&bytes), Err(Error::Checksum));
    let packet = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
    assert!(Icmpv4Repr::parse(&packet, &ChecksumCaps::OFFLOADED).is_ok());
}

#[test]
fn every_prefix_is_rejected() {
    for frame in [
        &ICMP_ECHO_REQUEST[..],
        &ICMP_PORT_UNREACHABLE,
        &ICMP_TIME_EXCEEDED,
        &ICMP_FRAG_NEEDED,
    ] {
        let bytes = icmp_of(frame);
        for len in 0..bytes.len() {
            let prefix = &bytes[..len];
            if len < 8 {
                assert_eq!(
                    Icmpv4Packet::new_checked(prefix).err(),
                    Some(Error::Truncated)
                );
                continue;
            }
            // The checksum covers the whole message, so a prefix fails it...
            assert_eq!(parse(prefix), Err(Error::Checksum), "{len}");
            // ...and without the checksum, an error message must still quote 28 bytes.
            let packet = Icmpv4Packet::new_checked(prefix).unwrap();
            let offloaded = Icmpv4Repr::parse(&packet, &ChecksumCaps::OFFLOADED);
            match packet.msg_type() {
                Icmpv4Message::EchoRequest => assert!(offloaded.is_ok()),
                _ if len < 8 + 28 => assert!(offloaded.is_err(), "{len}"),
                _ => assert!(offloaded.is_ok()),
            }
        }
    }
}

#[test]
fn invoking_datagram_validation() {
    let quote = &ICMP_PORT_UNREACHABLE[ETH + 28..];
    assert!(InvokingDatagram::new(quote).is_ok());
    assert_eq!(InvokingDatagram::new(&[]).err(), Some(Error::Truncated));
    assert_eq!(
        InvokingDatagram::new(&quote[..27]).err(),
        Some(Error::Truncated)
    );
    assert!(InvokingDatagram::new(&quote[..28]).is_ok());
    let mut bad = [0u8; 28];
    bad.copy_from_slice(&quote[..28]);
    bad[0] = 0x65;
    assert_eq!(InvokingDatagram::new(&bad).err(), Some(Error::Malformed));
    bad[0] = 0x44;
    assert_eq!(InvokingDatagram::new(&bad).err(), Some(Error::Malformed));
    bad[0] = 0x46; // a 24-byte header leaves 4 bytes of payload
    assert_eq!(InvokingDatagram::new(&bad).err(), Some(Error::Truncated));
    // No ports for a protocol without them.
    bad[0] = 0x45;
    bad[9] = 1;
    assert_eq!(InvokingDatagram::new(&bad).unwrap().ports(), None);
}

#[test]
fn emit_with_offloaded_checksum() {
    let repr = Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"abc",
    };
    let mut caps = ChecksumCaps::SOFTWARE;
    caps.icmp.tx = TxChecksum::Offloaded;
    let mut out = [0xffu8; 11];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]), &caps);
    assert_eq!(out, [8, 0, 0, 0, 0, 1, 0, 2, b'a', b'b', b'c']);
}

#[test]
fn codes() {
    for code in 0..=255u8 {
        assert_eq!(u8::from(DstUnreachable::from(code)), code);
        assert_eq!(u8::from(TimeExceeded::from(code)), code);
        assert_eq!(u8::from(Icmpv4Message::from(code)), code);
    }
    assert_eq!(DstUnreachable::from(13), DstUnreachable::CommProhibited);
    assert_eq!(TimeExceeded::from(1), TimeExceeded::FragReassembly);
}

#[test]
fn display() {
    let repr = parse(icmp_of(&ICMP_PORT_UNREACHABLE)).unwrap();
    assert_eq!(
        format!("{repr}"),
        "ICMP destination unreachable (PortUnreachable) for 10.0.2.2 > 10.0.2.15 UDP"
    );
    let repr = parse(icmp_of(&ICMP_ECHO_REQUEST)).unwrap();
    assert_eq!(format!("{repr}"), "ICMP echo request id=7211 seq=1 len=48");
}
