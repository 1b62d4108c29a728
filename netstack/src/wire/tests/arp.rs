//! ARP requests and replies from the capture, both ways; truncation and unsupported variants.

use super::packets::{ARP_REPLY, ARP_REQUEST, HOST_MAC, PEER_MAC};
use super::{ETH, HOST, PEER};
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, Error, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr,
};

fn request() -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(PEER_MAC),
        source_protocol_addr: PEER,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: HOST,
    }
}

fn reply() -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(HOST_MAC),
        source_protocol_addr: HOST,
        target_hardware_addr: EthernetAddress(PEER_MAC),
        target_protocol_addr: PEER,
    }
}

#[test]
fn parse_request_fields() {
    let packet = ArpPacket::new_checked(&ARP_REQUEST[ETH..]).unwrap();
    assert_eq!(packet.hardware_type(), 1);
    assert_eq!(packet.protocol_type(), EtherType::Ipv4);
    assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
    assert_eq!(packet.operation(), ArpOperation::Request);
    assert_eq!(packet.source_hardware_addr(), PEER_MAC);
    assert_eq!(packet.source_protocol_addr(), PEER.octets());
    assert_eq!(packet.target_hardware_addr(), [0; 6]);
    assert_eq!(packet.target_protocol_addr(), HOST.octets());
    assert_eq!(ArpRepr::parse(&packet), Ok(request()));
}

#[test]
fn parse_and_emit_request_and_reply() {
    for (frame, repr) in [(&ARP_REQUEST, request()), (&ARP_REPLY, reply())] {
        let packet = ArpPacket::new_checked(&frame[ETH..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet), Ok(repr));
        assert_eq!(repr.buffer_len(), 28);
        let mut out = [0u8; 28];
        repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
        assert_eq!(out, frame[ETH..]);
    }
}

#[test]
fn answer_the_request_as_linux_did() {
    // The reply Linux sent, rebuilt from the request alone: swap the roles, fill in our address.
    let asked = ArpRepr::parse(&ArpPacket::new_checked(&ARP_REQUEST[ETH..]).unwrap()).unwrap();
    let answer = ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(HOST_MAC),
        source_protocol_addr: asked.target_protocol_addr,
        target_hardware_addr: asked.source_hardware_addr,
        target_protocol_addr: asked.source_protocol_addr,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(HOST_MAC),
        dst_addr: asked.source_hardware_addr,
        ethertype: EtherType::Arp,
    };
    let mut out = [0u8; 42];
    let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
    eth.emit(&mut frame);
    answer.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    assert_eq!(out, ARP_REPLY);
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut padded = [0u8; 46];
    padded[..28].copy_from_slice(&ARP_REPLY[ETH..]);
    let packet = ArpPacket::new_checked(&padded[..]).unwrap();
    assert_eq!(ArpRepr::parse(&packet), Ok(reply()));
}

#[test]
fn every_prefix_is_truncated() {
    for len in 0..28 {
        let prefix = &ARP_REQUEST[ETH..ETH + len];
        assert_eq!(
            ArpPacket::new_checked(prefix).err(),
            Some(Error::Truncated),
            "{len}"
        );
    }
}

#[test]
fn long_address_lengths_are_bounded_by_the_buffer() {
    let mut bytes = [0u8; 28];
    bytes.copy_from_slice(&ARP_REQUEST[ETH..]);
    bytes[4] = 255;
    bytes[5] = 255;
    assert_eq!(
        ArpPacket::new_checked(&bytes[..]).err(),
        Some(Error::Truncated)
    );
    // Lengths that fit the buffer are readable, and unsupported.
    bytes[4] = 8;
    bytes[5] = 2;
    let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.source_hardware_addr().len(), 8);
    assert_eq!(packet.target_protocol_addr().len(), 2);
    assert_eq!(ArpRepr::parse(&packet), Err(Error::Unsupported));
}

#[test]
fn other_kinds_are_unsupported() {
    let cases: [(usize, u8); 4] = [
        (1, 6),    // hardware type IEEE 802 instead of Ethernet
        (2, 0x86), // protocol type 0x86dd, IPv6
        (4, 8),    // hardware address length 8
        (7, 3),    // operation 3, RARP request
    ];
    for (at, value) in cases {
        let mut bytes = [0u8; 28];
        bytes.copy_from_slice(&ARP_REQUEST[ETH..]);
        bytes[at] = value;
        if at == 2 {
            bytes[3] = 0xdd;
        }
        let len = if at == 4 { 28 + 2 * 2 } else { 28 };
        let mut long = [0u8; 32];
        long[..28].copy_from_slice(&bytes);
        let packet = ArpPacket::new_checked(&long[..len]).unwrap();
        assert_eq!(
            ArpRepr::parse(&packet),
            Err(Error::Unsupported),
            "byte {at} = {value}"
        );
    }
}

#[test]
fn operations() {
    assert_eq!(ArpOperation::from(1), ArpOperation::Request);
    assert_eq!(u16::from(ArpOperation::Reply), 2);
    assert_eq!(u16::from(ArpOperation::from(9)), 9);
}
