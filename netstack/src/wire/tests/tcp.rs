//! TCP segments from the capture, both ways: SYN and SYN-ACK with every negotiated option, ACK
//! and data with timestamps, SACK, FIN, RST; the emitted option layouts; truncation, bad
//! checksums, malformed headers and options.

extern crate std;

use std::format;

use super::packets::{TCP_ACK, TCP_DATA, TCP_FIN, TCP_RST, TCP_SACK, TCP_SYN, TCP_SYN_ACK};
use super::{ETH, HOST, PEER, ip_of, transport_of};
use crate::wire::checksum;
use crate::wire::{
    ChecksumCaps, Error, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv4Repr, SeqNumber, TcpFlags, TcpOption, TcpPacket, TcpRepr, TxChecksum,
};

const ALL: [(&str, &[u8]); 7] = [
    ("SYN", &TCP_SYN),
    ("SYN_ACK", &TCP_SYN_ACK),
    ("ACK", &TCP_ACK),
    ("DATA", &TCP_DATA),
    ("SACK", &TCP_SACK),
    ("FIN", &TCP_FIN),
    ("RST", &TCP_RST),
];

fn parse(frame: &[u8]) -> TcpRepr<'_> {
    let (src, dst, bytes) = transport_of(frame);
    TcpRepr::parse(
        &TcpPacket::new_checked(bytes).unwrap(),
        src,
        dst,
        &ChecksumCaps::SOFTWARE,
    )
    .unwrap()
}

/// Emits `repr` from HOST to PEER with the given caps into `out`, returning the length.
fn emit(repr: &TcpRepr<'_>, out: &mut [u8], caps: &ChecksumCaps) -> usize {
    let len = repr.buffer_len();
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..len]),
        HOST,
        PEER,
        caps,
    );
    len
}

/// A segment with no options and no payload, for building variants.
fn bare() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 1234,
        dst_port: 80,
        seq_number: SeqNumber(1000),
        ack_number: Some(SeqNumber(2000)),
        flags: TcpFlags::empty(),
        window_len: 512,
        urgent_at: 0,
        max_seg_size: None,
        window_scale: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    }
}

#[test]
fn syn_header_and_options() {
    let (src, dst, bytes) = transport_of(&TCP_SYN);
    let packet = TcpPacket::new_checked(bytes).unwrap();
    assert_eq!((packet.src_port(), packet.dst_port()), (45678, 80));
    assert_eq!(packet.seq_number(), SeqNumber(0x3ba2_518b));
    assert_eq!(packet.ack_number(), SeqNumber(0));
    assert_eq!(packet.header_len(), 40);
    assert_eq!(packet.flags(), TcpFlags::SYN);
    assert!(packet.syn() && !packet.ack() && !packet.fin() && !packet.rst() && !packet.psh());
    assert!(!packet.urg() && !packet.ece() && !packet.cwr());
    assert_eq!(
        (packet.window_len(), packet.checksum(), packet.urgent_at()),
        (64240, 0x7438, 0)
    );
    assert!(packet.verify_checksum(src, dst));
    assert_eq!(packet.segment_len(), 1);
    let options: [_; 5] = core::array::from_fn({
        let mut iter = packet.options_iter();
        move |_| iter.next().unwrap().unwrap()
    });
    assert_eq!(
        options,
        [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps {
                tsval: 0xb243_ce93,
                tsecr: 0
            },
            TcpOption::NoOperation,
            TcpOption::WindowScale(10),
        ]
    );
    assert_eq!(packet.options_iter().count(), 5);

    assert_eq!(
        parse(&TCP_SYN),
        TcpRepr {
            src_port: 45678,
            dst_port: 80,
            seq_number: SeqNumber(0x3ba2_518b),
            ack_number: None,
            flags: TcpFlags::SYN,
            window_len: 64240,
            urgent_at: 0,
            max_seg_size: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            sack_ranges: [None; 3],
            timestamp: Some((0xb243_ce93, 0)),
            payload: &[],
        }
    );
}

#[test]
fn syn_ack_from_a_listener() {
    let repr = parse(&TCP_SYN_ACK);
    assert_eq!((repr.src_port, repr.dst_port), (8080, 50000));
    assert_eq!(repr.seq_number, SeqNumber(0x893d_ecd5));
    assert_eq!(repr.ack_number, Some(SeqNumber(0x2001)));
    assert_eq!(repr.flags, TcpFlags::SYN, "ACK lives in ack_number");
    assert_eq!(repr.window_len, 65160);
    assert_eq!(
        (repr.max_seg_size, repr.window_scale, repr.sack_permitted),
        (Some(1460), Some(10), true)
    );
    assert_eq!(repr.timestamp, Some((0xe0bd_b400, 2000)));
}

#[test]
fn established_segments() {
    let ack = parse(&TCP_ACK);
    assert_eq!(ack.flags, TcpFlags::empty());
    assert_eq!(ack.ack_number, Some(SeqNumber(0x1001)));
    assert_eq!(ack.timestamp, Some((0xb243_cfc6, 1000)));
    assert_eq!(ack.window_len, 63);
    assert_eq!(
        (ack.max_seg_size, ack.window_scale, ack.sack_permitted),
        (None, None, false)
    );
    assert_eq!(ack.segment_len(), 0);

    let data = parse(&TCP_DATA);
    assert_eq!(data.flags, TcpFlags::PSH);
    assert_eq!(data.payload, b"GET / HTTP/1.1\r\nHost: 10.0.2.2\r\n\r\n");
    assert_eq!(data.segment_len(), 34);

    let sack = parse(&TCP_SACK);
    assert_eq!(sack.seq_number, SeqNumber(0x3ba2_51ae));
    assert_eq!(
        sack.sack_ranges,
        [Some((SeqNumber(0x100b), SeqNumber(0x1015))), None, None]
    );

    let fin = parse(&TCP_FIN);
    assert_eq!(fin.flags, TcpFlags::FIN);
    assert_eq!(fin.segment_len(), 1);
    assert_eq!(fin.sack_ranges[0], sack.sack_ranges[0]);

    let rst = parse(&TCP_RST);
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq_number, SeqNumber(0));
    assert_eq!(rst.ack_number, Some(SeqNumber(0x3001)));
    assert_eq!(
        (rst.window_len, rst.timestamp, rst.options_len()),
        (0, None, 0)
    );
}

#[test]
fn every_segment_is_emitted_as_captured() {
    for (name, frame) in ALL {
        let (src, dst, bytes) = transport_of(frame);
        let repr = parse(frame);
        assert_eq!(repr.buffer_len(), bytes.len(), "{name}");
        let mut out = [0u8; 128];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut out[..bytes.len()]),
            src,
            dst,
            &ChecksumCaps::SOFTWARE,
        );
        assert_eq!(out[..bytes.len()], *bytes, "{name}");
    }
}

#[test]
fn the_whole_syn_frame_is_rebuilt() {
    let eth = EthernetRepr::parse(&EthernetFrame::new_checked(&TCP_SYN[..]).unwrap()).unwrap();
    let tcp = parse(&TCP_SYN);
    let ip = Ipv4Repr {
        src_addr: HOST,
        dst_addr: PEER,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0x76d2,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let caps = ChecksumCaps::SOFTWARE;
    let mut out = [0u8; 74];
    let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
    eth.emit(&mut frame);
    let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut packet, &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(packet.payload_mut()),
        ip.src_addr,
        ip.dst_addr,
        &caps,
    );
    assert_eq!(out, TCP_SYN);
}

#[test]
fn every_prefix_is_rejected() {
    for (name, frame) in ALL {
        let (src, dst, bytes) = transport_of(frame);
        let header_len = usize::from(TcpPacket::new_checked(bytes).unwrap().header_len());
        for len in 0..bytes.len() {
            let prefix = &bytes[..len];
            if len < header_len {
                assert_eq!(
                    TcpPacket::new_checked(prefix).err(),
                    Some(Error::Truncated),
                    "{name} {len}"
                );
                continue;
            }
            // A header with part of the payload: the checksum catches it...
            let packet = TcpPacket::new_checked(prefix).unwrap();
            assert_eq!(
                TcpRepr::parse(&packet, src, dst, &ChecksumCaps::SOFTWARE),
                Err(Error::Checksum)
            );
            // ...and without it, the payload is what there is.
            let repr = TcpRepr::parse(&packet, src, dst, &ChecksumCaps::OFFLOADED).unwrap();
            assert_eq!(repr.payload.len(), len - header_len);
        }
    }
}

/// The SYN segment with its checksum left to be ignored, and `edit` applied.
fn syn_with(edit: impl FnOnce(&mut [u8])) -> [u8; 40] {
    let mut bytes = [0u8; 40];
    bytes.copy_from_slice(transport_of(&TCP_SYN).2);
    edit(&mut bytes);
    bytes
}

fn parse_offloaded(bytes: &[u8]) -> Result<TcpRepr<'_>, Error> {
    TcpRepr::parse(
        &TcpPacket::new_checked(bytes)?,
        HOST,
        PEER,
        &ChecksumCaps::OFFLOADED,
    )
}

#[test]
fn bad_checksum_is_rejected_unless_offloaded() {
    let (src, dst, bytes) = transport_of(&TCP_DATA);
    let mut copy = [0u8; 66];
    copy.copy_from_slice(bytes);
    copy[50] ^= 0x01;
    let packet = TcpPacket::new_checked(&copy[..]).unwrap();
    assert!(!packet.verify_checksum(src, dst));
    assert_eq!(
        TcpRepr::parse(&packet, src, dst, &ChecksumCaps::SOFTWARE),
        Err(Error::Checksum)
    );
    assert!(TcpRepr::parse(&packet, src, dst, &ChecksumCaps::OFFLOADED).is_ok());
}

#[test]
fn malformed_headers() {
    // Data offset 4: shorter than the fixed header.
    let bytes = syn_with(|b| b[12] = 0x40);
    assert_eq!(
        TcpPacket::new_checked(&bytes[..]).err(),
        Some(Error::Malformed)
    );
    // Data offset 15: past the 40-byte buffer.
    let bytes = syn_with(|b| b[12] = 0xf0);
    assert_eq!(
        TcpPacket::new_checked(&bytes[..]).err(),
        Some(Error::Truncated)
    );
    // Port zero, either side.
    assert_eq!(
        parse_offloaded(&syn_with(|b| b[0..2].fill(0))),
        Err(Error::Malformed)
    );
    assert_eq!(
        parse_offloaded(&syn_with(|b| b[2..4].fill(0))),
        Err(Error::Malformed)
    );
}

#[test]
fn malformed_options_drop_the_segment() {
    // The SYN's options, from offset 20: 02 04 05 b4 | 04 02 08 0a <8 bytes> | 01 03 03 0a.
    type Edit = fn(&mut [u8]);
    let cases: [(&str, Edit); 5] = [
        ("MSS of length 0", |b| b[21] = 0),
        ("MSS of length 1", |b| b[21] = 1),
        ("MSS of length 3", |b| b[21] = 3),
        ("timestamps running past the end", |b| b[27] = 20),
        ("a kind with no length byte", |b| {
            b[36..40].copy_from_slice(&[0x01, 0x01, 0x01, 0x03])
        }),
    ];
    for (name, edit) in cases {
        assert_eq!(
            parse_offloaded(&syn_with(edit)),
            Err(Error::Malformed),
            "{name}"
        );
    }
    // An unknown option is skipped, and an End of Option List ends the walk.
    let bytes = syn_with(|b| b[36..40].copy_from_slice(&[0x1e, 0x02, 0x00, 0x99]));
    let repr = parse_offloaded(&bytes).unwrap();
    assert_eq!((repr.max_seg_size, repr.window_scale), (Some(1460), None));
}

#[test]
fn window_scale_is_clamped_to_14() {
    for shift in [15, 255] {
        let bytes = syn_with(|b| b[39] = shift);
        assert_eq!(parse_offloaded(&bytes).unwrap().window_scale, Some(14));
    }
}

#[test]
fn four_sack_blocks_keep_the_first_three() {
    let mut bytes = [0u8; 56];
    bytes[..20].copy_from_slice(&transport_of(&TCP_ACK).2[..20]);
    bytes[12] = 0xe0; // 56 bytes of header
    bytes[20..24].copy_from_slice(&[0x01, 0x01, 0x05, 34]);
    for i in 0..4u32 {
        let at = 24 + 8 * i as usize;
        bytes[at..at + 4].copy_from_slice(&(100 * i + 10).to_be_bytes());
        bytes[at + 4..at + 8].copy_from_slice(&(100 * i + 20).to_be_bytes());
    }
    let repr = parse_offloaded(&bytes).unwrap();
    let block = |i: u32| Some((SeqNumber(100 * i + 10), SeqNumber(100 * i + 20)));
    assert_eq!(repr.sack_ranges, [block(0), block(1), block(2)]);
}

#[test]
fn option_layouts() {
    let cases: [(TcpRepr<'static>, &[u8]); 5] = [
        (
            TcpRepr {
                timestamp: Some((1, 2)),
                ..bare()
            },
            &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        ),
        (
            TcpRepr {
                sack_permitted: true,
                ..bare()
            },
            &[1, 1, 4, 2],
        ),
        (
            TcpRepr {
                max_seg_size: Some(536),
                window_scale: Some(0),
                ..bare()
            },
            &[2, 4, 2, 24, 1, 3, 3, 0],
        ),
        (
            TcpRepr {
                sack_ranges: [Some((SeqNumber(5), SeqNumber(9))), None, None],
                ..bare()
            },
            &[1, 1, 5, 10, 0, 0, 0, 5, 0, 0, 0, 9],
        ),
        (bare(), &[]),
    ];
    for (repr, options) in cases {
        assert_eq!(repr.options_len(), options.len());
        let mut out = [0u8; 60];
        let len = emit(&repr, &mut out, &ChecksumCaps::SOFTWARE);
        assert_eq!(out[20..len], *options, "{repr}");
        assert_eq!(usize::from(out[12] >> 4) * 4, 20 + options.len());
        let again = TcpRepr::parse(
            &TcpPacket::new_checked(&out[..len]).unwrap(),
            HOST,
            PEER,
            &ChecksumCaps::SOFTWARE,
        );
        assert_eq!(again, Ok(repr));
    }
}

#[test]
fn sack_blocks_that_do_not_fit_are_left_out() {
    let block = |i: u32| Some((SeqNumber(i * 100), SeqNumber(i * 100 + 50)));
    // Timestamps and three blocks fill the 40 bytes exactly.
    let full = TcpRepr {
        timestamp: Some((7, 8)),
        sack_ranges: [block(1), block(2), block(3)],
        ..bare()
    };
    assert_eq!(full.options_len(), 40);
    let mut out = [0u8; 60];
    let len = emit(&full, &mut out, &ChecksumCaps::SOFTWARE);
    assert_eq!(parse_offloaded(&out[..len]), Ok(full));

    // With MSS and window scale as well, two blocks fit: the first ones, the most recent.
    let crowded = TcpRepr {
        max_seg_size: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        ..full
    };
    assert_eq!(crowded.options_len(), 4 + 12 + 4 + 4 + 2 * 8);
    let len = emit(&crowded, &mut out, &ChecksumCaps::SOFTWARE);
    let again = parse_offloaded(&out[..len]).unwrap();
    assert_eq!(
        TcpRepr {
            sack_ranges: [block(1), block(2), None],
            ..crowded
        },
        again
    );
}

#[test]
fn ack_flag_follows_ack_number() {
    let mut out = [0u8; 20];
    let without = TcpRepr {
        ack_number: None,
        flags: TcpFlags::ACK | TcpFlags::RST,
        ..bare()
    };
    emit(&without, &mut out, &ChecksumCaps::SOFTWARE);
    let packet = TcpPacket::new_checked(&out[..]).unwrap();
    assert!(!packet.ack() && packet.rst());
    assert_eq!(packet.ack_number(), SeqNumber(0));
    let with = TcpRepr {
        flags: TcpFlags::FIN | TcpFlags::PSH,
        ..bare()
    };
    emit(&with, &mut out, &ChecksumCaps::SOFTWARE);
    let packet = TcpPacket::new_checked(&out[..]).unwrap();
    assert_eq!(
        packet.flags(),
        TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK
    );
    assert_eq!(packet.ack_number(), SeqNumber(2000));
}

#[test]
fn ecn_and_urgent_bits_survive() {
    let repr = TcpRepr {
        flags: TcpFlags::URG | TcpFlags::ECE | TcpFlags::CWR | TcpFlags::AE,
        urgent_at: 3,
        payload: b"abcd",
        ..bare()
    };
    let mut out = [0u8; 24];
    emit(&repr, &mut out, &ChecksumCaps::SOFTWARE);
    let packet = TcpPacket::new_checked(&out[..]).unwrap();
    assert!(packet.urg() && packet.ece() && packet.cwr());
    assert_eq!(out[12] & 0x0f, 0x01, "AE is the low bit of byte 12");
    assert_eq!(parse_offloaded(&out), Ok(repr));
}

#[test]
fn partial_checksum_is_completed_by_the_device() {
    let (src, dst, bytes) = transport_of(&TCP_DATA);
    let repr = parse(&TCP_DATA);
    let mut caps = ChecksumCaps::SOFTWARE;
    caps.tcp.tx = TxChecksum::Partial;
    let mut out = [0u8; 66];
    repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), src, dst, &caps);
    assert_eq!(
        u16::from_be_bytes([out[16], out[17]]),
        checksum::ipv4_pseudo_header(src, dst, IpProtocol::Tcp, 66)
    );
    let completed = !checksum::sum(&out);
    out[16..18].copy_from_slice(&completed.to_be_bytes());
    assert_eq!(out, *bytes);
    // Offloaded entirely: zero.
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut out[..]),
        src,
        dst,
        &ChecksumCaps::OFFLOADED,
    );
    assert_eq!(out[16..18], [0, 0]);
}

#[test]
fn checksum_depends_on_the_addresses() {
    let (src, _, bytes) = transport_of(&TCP_SYN);
    let packet = TcpPacket::new_checked(bytes).unwrap();
    assert!(!packet.verify_checksum(src, Ipv4Address::new(10, 0, 2, 3)));
    assert_eq!(ip_of(&TCP_SYN).len(), 60);
    assert_eq!(ETH + 60, TCP_SYN.len());
}

#[test]
fn flags_format_like_tcpdump() {
    assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "[S.]");
    assert_eq!(
        format!("{}", TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK),
        "[FP.]"
    );
    assert_eq!(format!("{}", TcpFlags::empty()), "[]");
    assert_eq!(!TcpFlags::empty(), TcpFlags::from_bits_truncate(0xffff));
    assert_eq!(
        (TcpFlags::SYN | TcpFlags::FIN) & TcpFlags::FIN,
        TcpFlags::FIN
    );
    assert_eq!(TcpFlags::from_bits_truncate(0x5012).bits(), 0x012);
}

#[test]
fn display() {
    assert_eq!(
        format!("{}", parse(&TCP_SYN)),
        "TCP 45678 > 80 [S] seq=1000493451 win=64240 len=0 mss=1460 wscale=10 sackOK ts=2990788243/0"
    );
    assert_eq!(
        format!("{}", parse(&TCP_SACK)),
        "TCP 45678 > 80 [.] seq=1000493486 ack=4097 win=63 len=0 sack=4107:4117 ts=2990789056/1000"
    );
}
