//! IPv4 headers from the capture, both ways: plain, with TOS, with options, fragments;
//! addresses; truncation, malformed lengths, bad checksums.

extern crate std;

use std::format;

use super::packets::{
    ICMP_ECHO_REPLY_RECORD_ROUTE, ICMP_PORT_UNREACHABLE, TCP_RST, TCP_SYN, UDP_FRAGMENT_LAST,
    udp_fragment_middle,
};
use super::{ETH, HOST, PEER, ip_of};
use crate::wire::checksum;
use crate::wire::{ChecksumCaps, Error, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TxChecksum};

/// Parses `bytes`, emits the value again (header, then the same payload) and returns the value
/// and whether the emitted bytes equal the input.
fn round_trip(bytes: &[u8]) -> (Ipv4Repr, bool) {
    let packet = Ipv4Packet::new_checked(bytes).unwrap();
    let repr = Ipv4Repr::parse(&packet, &ChecksumCaps::SOFTWARE).unwrap();
    let mut out = [0u8; 1600];
    let len = repr.buffer_len() + repr.payload_len;
    let mut emitted = Ipv4Packet::new_unchecked(&mut out[..len]);
    repr.emit(&mut emitted, &ChecksumCaps::SOFTWARE);
    emitted.payload_mut().copy_from_slice(packet.payload());
    (repr, len == bytes.len() && out[..len] == *bytes)
}

#[test]
fn syn_header_fields() {
    let packet = Ipv4Packet::new_checked(ip_of(&TCP_SYN)).unwrap();
    assert_eq!(packet.version(), 4);
    assert_eq!(packet.header_len(), 20);
    assert_eq!(packet.total_len(), 60);
    assert_eq!(packet.checksum(), 0xabd9);
    assert!(packet.verify_checksum());
    assert!(packet.options().is_empty());
    assert_eq!(packet.payload(), &TCP_SYN[ETH + 20..]);
    let (repr, exact) = round_trip(ip_of(&TCP_SYN));
    assert_eq!(
        repr,
        Ipv4Repr {
            src_addr: HOST,
            dst_addr: PEER,
            protocol: IpProtocol::Tcp,
            payload_len: 40,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0x76d2,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
    );
    assert!(exact, "emitted as captured");
}

#[test]
fn icmp_error_header_with_tos() {
    // Linux sends ICMP errors with TOS 0xc0 (DSCP CS6), without DF.
    let (repr, exact) = round_trip(ip_of(&ICMP_PORT_UNREACHABLE));
    assert_eq!((repr.dscp, repr.ecn), (48, 0));
    assert!(!repr.dont_frag);
    assert_eq!(repr.protocol, IpProtocol::Icmp);
    assert_eq!(repr.ident, 0xa002);
    assert!(exact);
}

#[test]
fn options_are_validated_and_skipped() {
    let bytes = ip_of(&ICMP_ECHO_REPLY_RECORD_ROUTE);
    let packet = Ipv4Packet::new_checked(bytes).unwrap();
    assert_eq!(packet.header_len(), 32);
    // Record Route (RFC 791): type 7, length 11, pointer 12 (full), two addresses, then EOL.
    assert_eq!(
        packet.options(),
        [0x07, 0x0b, 0x0c, 10, 0, 2, 15, 10, 0, 2, 15, 0x00]
    );
    assert_eq!(packet.payload().len(), 16);
    let (repr, exact) = round_trip(bytes);
    assert_eq!(repr.payload_len, 16);
    assert_eq!(repr.protocol, IpProtocol::Icmp);
    assert!(!exact, "options are not emitted");

    // Emitted without options: a 20-byte header that parses to the same value.
    let mut out = [0u8; 36];
    let mut emitted = Ipv4Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut emitted, &ChecksumCaps::SOFTWARE);
    emitted.payload_mut().copy_from_slice(packet.payload());
    let again = Ipv4Packet::new_checked(&out[..]).unwrap();
    assert_eq!(again.header_len(), 20);
    assert_eq!(Ipv4Repr::parse(&again, &ChecksumCaps::SOFTWARE), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
}

#[test]
fn fragments_expose_their_fields() {
    let middle = udp_fragment_middle();
    let packet = Ipv4Packet::new_checked(ip_of(&middle)).unwrap();
    assert!(packet.more_frags() && !packet.dont_frag() && packet.is_fragment());
    assert_eq!(packet.frag_offset(), 1480);
    assert_eq!(packet.ident(), 0x0338);
    assert_eq!(packet.payload().len(), 1480);
    let (repr, exact) = round_trip(ip_of(&middle));
    assert!(repr.is_fragment() && repr.more_frags);
    assert_eq!(
        (repr.frag_offset, repr.payload_len, repr.protocol),
        (1480, 1480, IpProtocol::Udp)
    );
    assert!(exact);

    let (last, exact) = round_trip(ip_of(&UDP_FRAGMENT_LAST));
    assert!(last.is_fragment() && !last.more_frags);
    assert_eq!(
        (last.frag_offset, last.payload_len, last.ident),
        (2960, 48, 0x0338)
    );
    assert!(exact);
}

#[test]
fn ethernet_padding_is_not_payload() {
    // A 54-byte RST padded to Ethernet's 60-byte minimum.
    let mut frame = [0u8; 60];
    frame[..54].copy_from_slice(&TCP_RST);
    let packet = Ipv4Packet::new_checked(ip_of(&frame)).unwrap();
    assert_eq!(packet.total_len(), 40);
    assert_eq!(packet.payload(), &TCP_RST[ETH + 20..]);
}

#[test]
fn every_prefix_is_truncated() {
    let bytes = ip_of(&TCP_SYN);
    for len in 0..bytes.len() {
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..len]).err(),
            Some(Error::Truncated),
            "{len}"
        );
    }
    let bytes = ip_of(&ICMP_ECHO_REPLY_RECORD_ROUTE);
    for len in 0..bytes.len() {
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..len]).err(),
            Some(Error::Truncated),
            "{len}"
        );
    }
}

/// A copy of the SYN's IPv4 packet with a byte changed.
fn syn_with(at: usize, value: u8) -> [u8; 60] {
    let mut bytes = [0u8; 60];
    bytes.copy_from_slice(ip_of(&TCP_SYN));
    bytes[at] = value;
    bytes
}

#[test]
fn malformed_lengths() {
    // IHL 4: a header shorter than its fixed part.
    assert_eq!(
        Ipv4Packet::new_checked(&syn_with(0, 0x44)[..]).err(),
        Some(Error::Malformed)
    );
    // IHL 0.
    assert_eq!(
        Ipv4Packet::new_checked(&syn_with(0, 0x40)[..]).err(),
        Some(Error::Malformed)
    );
    // A total length of 19, shorter than the header.
    assert_eq!(
        Ipv4Packet::new_checked(&syn_with(3, 19)[..]).err(),
        Some(Error::Malformed)
    );
    // IHL 15 (60 bytes) past a total length of 60: fine; past a total length of 40: malformed.
    let bytes = syn_with(0, 0x4f);
    assert!(Ipv4Packet::new_checked(&bytes[..]).is_ok());
    let mut bytes = bytes;
    bytes[3] = 40;
    assert_eq!(
        Ipv4Packet::new_checked(&bytes[..]).err(),
        Some(Error::Malformed)
    );
}

#[test]
fn other_versions_are_malformed() {
    let bytes = syn_with(0, 0x65);
    let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        Ipv4Repr::parse(&packet, &ChecksumCaps::OFFLOADED),
        Err(Error::Malformed)
    );
}

#[test]
fn bad_checksum_is_rejected_unless_offloaded() {
    let bytes = syn_with(8, 63); // TTL 64 -> 63 without fixing the checksum
    let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert!(!packet.verify_checksum());
    assert_eq!(
        Ipv4Repr::parse(&packet, &ChecksumCaps::SOFTWARE),
        Err(Error::Checksum)
    );
    assert_eq!(
        Ipv4Repr::parse(&packet, &ChecksumCaps::OFFLOADED).map(|r| r.ttl),
        Ok(63)
    );
}

#[test]
fn ttl_decrement_with_incremental_checksum() {
    // A router's update (RFC 1624): the TTL/protocol word changes, the rest is not summed again.
    let mut bytes = [0u8; 60];
    bytes.copy_from_slice(ip_of(&TCP_SYN));
    let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
    let old = u16::from_be_bytes([packet.ttl(), 6]);
    packet.set_ttl(63);
    let new = u16::from_be_bytes([63, 6]);
    let updated = checksum::update(packet.checksum(), old, new);
    packet.set_checksum(updated);
    assert!(packet.verify_checksum());
    packet.fill_checksum();
    assert_eq!(packet.checksum(), updated);
}

#[test]
fn emit_with_offloaded_checksum_leaves_it_zero() {
    let repr = Ipv4Repr::parse(
        &Ipv4Packet::new_checked(ip_of(&TCP_SYN)).unwrap(),
        &ChecksumCaps::SOFTWARE,
    )
    .unwrap();
    let mut caps = ChecksumCaps::SOFTWARE;
    caps.ipv4.tx = TxChecksum::Offloaded;
    let mut out = [0xffu8; 60];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]), &caps);
    assert_eq!(out[10..12], [0, 0]);
    // Partial means nothing without a pseudo-header: the header checksum is computed.
    caps.ipv4.tx = TxChecksum::Partial;
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]), &caps);
    assert_eq!(out[10..12], [0xab, 0xd9]);
}

#[test]
fn address_classes() {
    assert!(Ipv4Address::BROADCAST.is_broadcast() && !Ipv4Address::BROADCAST.is_unicast());
    assert!(Ipv4Address::UNSPECIFIED.is_unspecified() && !Ipv4Address::UNSPECIFIED.is_unicast());
    assert!(Ipv4Address::new(224, 0, 0, 251).is_multicast());
    assert!(Ipv4Address::new(239, 255, 255, 250).is_multicast());
    assert!(!Ipv4Address::new(240, 0, 0, 1).is_multicast());
    assert!(Ipv4Address::new(127, 0, 0, 1).is_loopback());
    assert!(Ipv4Address::new(169, 254, 1, 2).is_link_local());
    assert!(
        HOST.is_unicast() && !HOST.is_multicast() && !HOST.is_broadcast() && !HOST.is_unspecified()
    );
    assert!(
        !Ipv4Address::new(10, 0, 2, 255).is_broadcast(),
        "directed broadcast needs the subnet"
    );
}

#[test]
fn address_conversions_and_formats() {
    assert_eq!(format!("{HOST}"), "10.0.2.15");
    assert_eq!(format!("{PEER:?}"), "10.0.2.2");
    assert_eq!("10.0.2.15".parse::<Ipv4Address>(), Ok(HOST));
    assert!("10.0.2".parse::<Ipv4Address>().is_err());
    assert!("10.0.2.256".parse::<Ipv4Address>().is_err());
    assert_eq!(Ipv4Address::from_bits(0x0a00_020f), HOST);
    assert_eq!(HOST.to_bits(), 0x0a00_020f);
    assert_eq!(
        Ipv4Address::from(core::net::Ipv4Addr::new(10, 0, 2, 2)),
        PEER
    );
    assert_eq!(
        core::net::Ipv4Addr::from(HOST),
        core::net::Ipv4Addr::new(10, 0, 2, 15)
    );
    assert_eq!(Ipv4Address::from_bytes(&[1, 2, 3]), None);
    assert_eq!(
        Ipv4Address::from([1, 2, 3, 4]),
        Ipv4Address::new(1, 2, 3, 4)
    );
}

#[test]
fn protocol_numbers() {
    for (value, protocol) in [
        (1, IpProtocol::Icmp),
        (6, IpProtocol::Tcp),
        (17, IpProtocol::Udp),
        (132, IpProtocol::Unknown(132)),
    ] {
        assert_eq!(IpProtocol::from(value), protocol);
        assert_eq!(u8::from(protocol), value);
    }
}

#[test]
fn display() {
    let repr = Ipv4Repr::parse(
        &Ipv4Packet::new_checked(ip_of(&UDP_FRAGMENT_LAST)).unwrap(),
        &ChecksumCaps::SOFTWARE,
    )
    .unwrap();
    assert_eq!(
        format!("{repr}"),
        "IPv4 10.0.2.15 > 10.0.2.2 UDP len=48 ttl=64 frag id=824 off=2960"
    );
}
