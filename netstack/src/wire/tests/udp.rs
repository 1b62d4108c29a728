//! UDP datagrams from the capture, both ways; the zero checksum, partial checksums, lengths,
//! truncation and bad checksums.

use super::packets::{UDP_ECHO_REPLY, UDP_NO_CHECKSUM};
use super::{HOST, PEER, transport_of};
use crate::wire::checksum;
use crate::wire::{ChecksumCaps, Error, IpProtocol, Ipv4Address, TxChecksum, UdpPacket, UdpRepr};

fn parse<'a>(bytes: &'a [u8], caps: &ChecksumCaps) -> Result<UdpRepr<'a>, Error> {
    let (src, dst) = (HOST, PEER);
    UdpRepr::parse(&UdpPacket::new_checked(bytes)?, src, dst, caps)
}

#[test]
fn echo_reply_both_ways() {
    let (src, dst, bytes) = transport_of(&UDP_ECHO_REPLY);
    assert_eq!((src, dst), (HOST, PEER));
    let packet = UdpPacket::new_checked(bytes).unwrap();
    assert_eq!((packet.src_port(), packet.dst_port()), (7, 40001));
    assert_eq!((packet.len(), packet.checksum()), (23, 0x97c6));
    assert!(packet.verify_checksum(src, dst));
    let repr = UdpRepr::parse(&packet, src, dst, &ChecksumCaps::SOFTWARE).unwrap();
    assert_eq!(
        repr,
        UdpRepr {
            src_port: 7,
            dst_port: 40001,
            payload: b"hello, morgana\n"
        }
    );
    assert_eq!(repr.buffer_len(), 23);
    let mut out = [0u8; 23];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        src,
        dst,
        &ChecksumCaps::SOFTWARE,
    );
    assert_eq!(out, *bytes);
}

#[test]
fn zero_checksum_means_none() {
    let (src, dst, bytes) = transport_of(&UDP_NO_CHECKSUM);
    let packet = UdpPacket::new_checked(bytes).unwrap();
    assert_eq!(packet.checksum(), 0);
    assert!(packet.verify_checksum(src, dst));
    let repr = UdpRepr::parse(&packet, src, dst, &ChecksumCaps::SOFTWARE).unwrap();
    assert_eq!(
        repr,
        UdpRepr {
            src_port: 40003,
            dst_port: 7,
            payload: b"no checksum"
        }
    );
    // Emitted with the checksum offloaded, it comes out as captured; computed, it gains one.
    let mut out = [0u8; 19];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        src,
        dst,
        &ChecksumCaps::OFFLOADED,
    );
    assert_eq!(out, *bytes);
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        src,
        dst,
        &ChecksumCaps::SOFTWARE,
    );
    assert_ne!(out[6..8], [0, 0]);
    assert!(
        UdpPacket::new_checked(&out[..])
            .unwrap()
            .verify_checksum(src, dst)
    );
}

#[test]
fn computed_zero_is_sent_as_all_ones() {
    // Two payload bytes chosen so that the datagram sums to 0xffff: its checksum would be 0,
    // which means "none", so RFC 768 sends 0xffff.
    let mut payload = [0u8; 2];
    let mut out = [0u8; 10];
    UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload: &payload,
    }
    .emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        HOST,
        PEER,
        &ChecksumCaps::SOFTWARE,
    );
    payload = out[6..8].try_into().unwrap();
    let repr = UdpRepr {
        src_port: 1,
        dst_port: 2,
        payload: &payload,
    };
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut out[..]),
        HOST,
        PEER,
        &ChecksumCaps::SOFTWARE,
    );
    assert_eq!(out[6..8], [0xff, 0xff]);
    assert_eq!(parse(&out, &ChecksumCaps::SOFTWARE), Ok(repr));
}

#[test]
fn partial_checksum_is_completed_by_the_device() {
    let (src, dst, bytes) = transport_of(&UDP_ECHO_REPLY);
    let repr = parse(bytes, &ChecksumCaps::SOFTWARE).unwrap();
    let mut caps = ChecksumCaps::SOFTWARE;
    caps.udp.tx = TxChecksum::Partial;
    let mut out = [0u8; 23];
    repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]), src, dst, &caps);
    assert_eq!(
        u16::from_be_bytes([out[6], out[7]]),
        checksum::ipv4_pseudo_header(src, dst, IpProtocol::Udp, 23)
    );
    // What virtio-net's device does with NEEDS_CSUM: sum from csum_start, store the complement.
    let completed = !checksum::sum(&out);
    out[6..8].copy_from_slice(&completed.to_be_bytes());
    assert_eq!(out, *bytes);
}

#[test]
fn lengths() {
    let (_, _, bytes) = transport_of(&UDP_ECHO_REPLY);
    let mut copy = [0u8; 30];
    copy[..23].copy_from_slice(bytes);
    // Trailing bytes past the length field are not payload.
    let packet = UdpPacket::new_checked(&copy[..]).unwrap();
    assert_eq!(packet.payload(), b"hello, morgana\n");
    assert!(parse(&copy, &ChecksumCaps::SOFTWARE).is_ok());
    // A length past the buffer is truncated; one shorter than the header is malformed.
    copy[5] = 31;
    assert_eq!(
        UdpPacket::new_checked(&copy[..]).err(),
        Some(Error::Truncated)
    );
    copy[5] = 7;
    assert_eq!(
        UdpPacket::new_checked(&copy[..]).err(),
        Some(Error::Malformed)
    );
    copy[5] = 8;
    assert_eq!(UdpPacket::new_checked(&copy[..]).unwrap().payload(), b"");
}

#[test]
fn every_prefix_is_truncated() {
    let (_, _, bytes) = transport_of(&UDP_ECHO_REPLY);
    for len in 0..bytes.len() {
        assert_eq!(
            UdpPacket::new_checked(&bytes[..len]).err(),
            Some(Error::Truncated),
            "{len}"
        );
    }
}

#[test]
fn destination_port_zero_is_malformed() {
    let mut bytes = [0u8; 23];
    bytes.copy_from_slice(transport_of(&UDP_ECHO_REPLY).2);
    bytes[2..4].fill(0);
    assert_eq!(
        parse(&bytes, &ChecksumCaps::OFFLOADED),
        Err(Error::Malformed)
    );
}

#[test]
fn bad_checksum_is_rejected_unless_offloaded() {
    let mut bytes = [0u8; 23];
    bytes.copy_from_slice(transport_of(&UDP_ECHO_REPLY).2);
    bytes[22] ^= 0x20;
    assert_eq!(parse(&bytes, &ChecksumCaps::SOFTWARE), Err(Error::Checksum));
    assert!(parse(&bytes, &ChecksumCaps::OFFLOADED).is_ok());
    // The same datagram between other addresses fails too: the pseudo-header counts. (Swapped
    // addresses would pass: a sum does not know the order of its terms.)
    bytes.copy_from_slice(transport_of(&UDP_ECHO_REPLY).2);
    let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
    assert!(!packet.verify_checksum(HOST, Ipv4Address::new(10, 0, 2, 3)));
}
