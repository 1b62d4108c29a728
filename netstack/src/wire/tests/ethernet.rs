//! Ethernet II headers from the capture, both ways; addresses and EtherTypes.

extern crate std;

use std::format;

use super::packets::{self, ARP_REQUEST, HOST_MAC, PEER_MAC, TCP_SYN};
use crate::wire::{Error, EtherType, EthernetAddress, EthernetFrame, EthernetRepr};

#[test]
fn parse_broadcast_arp_frame() {
    let frame = EthernetFrame::new_checked(&ARP_REQUEST[..]).unwrap();
    assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
    assert_eq!(frame.src_addr(), EthernetAddress(PEER_MAC));
    assert_eq!(frame.ethertype(), EtherType::Arp);
    assert_eq!(frame.payload(), &ARP_REQUEST[14..]);
    assert_eq!(
        EthernetRepr::parse(&frame),
        Ok(EthernetRepr {
            src_addr: EthernetAddress(PEER_MAC),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
        })
    );
}

#[test]
fn parse_and_emit_unicast_ipv4_frame() {
    let frame = EthernetFrame::new_checked(&TCP_SYN[..]).unwrap();
    let repr = EthernetRepr::parse(&frame).unwrap();
    assert_eq!(repr.src_addr, EthernetAddress(HOST_MAC));
    assert_eq!(repr.dst_addr, EthernetAddress(PEER_MAC));
    assert_eq!(repr.ethertype, EtherType::Ipv4);
    assert_eq!(repr.buffer_len(), EthernetFrame::<&[u8]>::HEADER_LEN);

    let mut out = [0u8; 14];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(out, TCP_SYN[..14]);
}

#[test]
fn every_header_is_emitted_as_captured() {
    for (name, frame) in packets::ALL {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(frame).unwrap()).unwrap();
        let mut out = [0u8; 14];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        assert_eq!(out, frame[..14], "{name}");
    }
}

#[test]
fn short_buffers_are_truncated() {
    for len in 0..14 {
        assert_eq!(
            EthernetFrame::new_checked(&TCP_SYN[..len]).err(),
            Some(Error::Truncated),
            "{len}"
        );
    }
    let header_only = EthernetFrame::new_checked(&TCP_SYN[..14]).unwrap();
    assert!(header_only.payload().is_empty());
}

#[test]
fn address_classes() {
    let host = EthernetAddress(HOST_MAC);
    assert!(host.is_unicast() && host.is_local() && !host.is_multicast() && !host.is_broadcast());
    // QEMU's 52:54:00 prefix is locally administered too; Xen's OUI 00:16:3e is not.
    assert!(EthernetAddress(PEER_MAC).is_local());
    let xen = EthernetAddress([0x00, 0x16, 0x3e, 0x01, 0x02, 0x03]);
    assert!(xen.is_unicast() && !xen.is_local());
    let ipv4_multicast = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
    assert!(ipv4_multicast.is_multicast() && !ipv4_multicast.is_broadcast());
    assert!(EthernetAddress::BROADCAST.is_broadcast() && EthernetAddress::BROADCAST.is_multicast());
    assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3, 4, 5]), None);
    assert_eq!(
        EthernetAddress::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
        Some(EthernetAddress([1, 2, 3, 4, 5, 6]))
    );
}

#[test]
fn address_formats() {
    assert_eq!(
        format!("{}", EthernetAddress(PEER_MAC)),
        "52:54:00:12:34:56"
    );
    assert_eq!(
        format!("{:?}", EthernetAddress(HOST_MAC)),
        "02:00:00:00:00:0f"
    );
}

#[test]
fn ethertype_numbers() {
    for (value, ethertype) in [
        (0x0800, EtherType::Ipv4),
        (0x0806, EtherType::Arp),
        (0x86dd, EtherType::Ipv6),
        (0x8100, EtherType::Unknown(0x8100)),
    ] {
        assert_eq!(EtherType::from(value), ethertype);
        assert_eq!(u16::from(ethertype), value);
    }
    assert_eq!(format!("{}", EtherType::Unknown(0x8100)), "0x8100");
}

#[test]
fn frame_setters() {
    let mut out = [0u8; 20];
    let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
    frame.set_dst_addr(EthernetAddress(PEER_MAC));
    frame.set_src_addr(EthernetAddress(HOST_MAC));
    frame.set_ethertype(EtherType::Ipv6);
    frame.payload_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6]);
    assert_eq!(
        out[..14],
        [
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0, 0, 0, 0, 0x0f, 0x86, 0xdd
        ]
    );
    assert_eq!(out[14..], [1, 2, 3, 4, 5, 6]);
}
