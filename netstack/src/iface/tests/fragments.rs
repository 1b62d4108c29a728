//! IPv4 reassembly through the interface: a real Linux `ping -s 3000` (three fragments) in every
//! order, duplicates, overlaps, timeouts, the bounds, and garbage.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use morgana_executor::Instant;

use super::super::fragment::{MAX_BYTES, MAX_DATAGRAMS, REASSEMBLY_TIMEOUT};
use super::super::*;

// Captured on Linux 6.18 in a network namespace: a veth pair, 10.0.2.15 (02:00:00:00:00:0f)
// running `ping -c 1 -s 3000 10.0.2.2` towards 52:54:00:12:34:56, `tcpdump -w` on the peer end.
// The 3008-byte echo request (id 0x4fae, seq 1) left in three fragments of IP ident 0xa59e. Its
// data is a 16-byte timestamp then byte `i` = `i as u8`, which `ping_fragment` fills in.
const LINUX: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0f]);
const LINUX_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const US_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const US: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const T0: Instant = Instant::from_nanos(5_000_000_000);

/// Offset 0, MF: Ethernet, IPv4, the ICMP header and the timestamp.
#[rustfmt::skip]
const PING_FRAG_0: [u8; 58] = [
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x08, 0x00,
    0x45, 0x00, 0x05, 0xdc, 0xa5, 0x9e, 0x20, 0x00, 0x40, 0x01, 0x97, 0x72, 0x0a, 0x00, 0x02, 0x0f,
    0x0a, 0x00, 0x02, 0x02,
    // ICMP echo request, checksum 0x6737, id 0x4fae, seq 1
    0x08, 0x00, 0x67, 0x37, 0x4f, 0xae, 0x00, 0x01,
    // struct timeval
    0x29, 0xf5, 0x08, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x24, 0x0b, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// Offset 1480, MF: Ethernet and IPv4 headers.
#[rustfmt::skip]
const PING_FRAG_1: [u8; 34] = [
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x08, 0x00,
    0x45, 0x00, 0x05, 0xdc, 0xa5, 0x9e, 0x20, 0xb9, 0x40, 0x01, 0x96, 0xb9, 0x0a, 0x00, 0x02, 0x0f,
    0x0a, 0x00, 0x02, 0x02,
];
/// Offset 2960, last: Ethernet and IPv4 headers (48 payload bytes follow).
#[rustfmt::skip]
const PING_FRAG_2: [u8; 34] = [
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x44, 0xa5, 0x9e, 0x01, 0x72, 0x40, 0x01, 0xbb, 0x98, 0x0a, 0x00, 0x02, 0x0f,
    0x0a, 0x00, 0x02, 0x02,
];

/// The echo request's data byte at ICMP offset `k` (past the timestamp).
fn ping_byte(k: usize) -> u8 {
    (k - 8) as u8
}

/// Fragment `n` (0..3) of the capture, whole.
fn ping_fragment(n: usize) -> Vec<u8> {
    let (head, from, to): (&[u8], usize, usize) = match n {
        0 => (&PING_FRAG_0, 24, 1480),
        1 => (&PING_FRAG_1, 1480, 2960),
        _ => (&PING_FRAG_2, 2960, 3008),
    };
    let mut f = head.to_vec();
    f.extend((from..to).map(ping_byte));
    f
}

/// The whole ICMP message of the capture.
fn ping_icmp() -> Vec<u8> {
    let mut m = PING_FRAG_0[34..].to_vec();
    m.extend((24..3008).map(ping_byte));
    m
}

/// A fragment from Linux of ICMP `ident`, carrying `data` at `offset`.
fn fragment(ident: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    fragment_of(IpProtocol::Icmp, ident, offset, more, data)
}

fn fragment_of(
    protocol: IpProtocol,
    ident: u16,
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: LINUX_IP,
        dst_addr: US,
        protocol,
        payload_len: data.len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: false,
        more_frags: more,
        frag_offset: offset as u16,
    };
    let mut f = vec![0; 34 + data.len()];
    EthernetRepr {
        src_addr: LINUX,
        dst_addr: US_MAC,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut f[14..]),
        &ChecksumCaps::SOFTWARE,
    );
    f[34..].copy_from_slice(data);
    f
}

fn iface() -> Interface {
    // An MTU that lets the 3028-byte echo reply out whole (there is no fragmentation on output).
    let config = Ipv4Config {
        address: US,
        prefix_len: 24,
        gateway: None,
    };
    let mut i = Interface::new(US_MAC, config, 9000, T0);
    i.arp().merge(T0, LINUX_IP, LINUX, true);
    i
}

fn drain(i: &mut Interface) -> Vec<Vec<u8>> {
    core::iter::from_fn(|| i.pop_tx()).collect()
}

/// The ICMP message of the one echo reply sent, checked to answer the capture's request.
fn assert_replied(i: &mut Interface) {
    let out = drain(i);
    assert_eq!(out.len(), 1, "one echo reply");
    let ip = Ipv4Packet::new_checked(&out[0][14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (US, LINUX_IP));
    let reply = ip.payload();
    let request = ping_icmp();
    assert_eq!(reply.len(), 3008);
    assert_eq!(reply[0], 0, "echo reply");
    assert_eq!(reply[4..], request[4..], "same id, seq and 3000 data bytes");
    assert_eq!(i.counters().icmp_echo_replies_sent, 1);
    i.reassembler().check();
    assert_eq!(i.reassembler().in_progress(), 0);
    assert_eq!(i.reassembler().held_bytes(), 0);
}

#[test]
fn the_capture_is_what_it_says() {
    let icmp = ping_icmp();
    assert_eq!(
        crate::wire::checksum::sum(&icmp),
        0xffff,
        "ICMP checksum holds"
    );
    for n in 0..3 {
        let f = ping_fragment(n);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            ip.payload(),
            &icmp[usize::from(ip.frag_offset())..][..ip.payload().len()]
        );
    }
}

#[test]
fn a_linux_ping_of_3000_bytes_is_reassembled_in_every_order() {
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let mut i = iface();
        for (k, &n) in order.iter().enumerate() {
            i.process_frame(T0, &ping_fragment(n));
            if k < 2 {
                assert!(drain(&mut i).is_empty(), "{order:?}: not yet whole");
                assert_eq!(i.reassembler().in_progress(), 1);
                i.reassembler().check();
            }
        }
        assert_replied(&mut i);
        let c = i.counters();
        assert_eq!((c.rx_fragments, c.frag_reassembled), (3, 1), "{order:?}");
    }
}

#[test]
fn a_fragmented_udp_datagram_reaches_its_socket() {
    let data: Vec<u8> = (0..2000u32).map(|k| (k * 7) as u8).collect();
    let repr = UdpRepr {
        src_port: 5000,
        dst_port: 9,
        payload: &data,
    };
    let mut udp = vec![0; repr.buffer_len()];
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut udp[..]),
        LINUX_IP,
        US,
        &ChecksumCaps::SOFTWARE,
    );
    let mut i = iface();
    i.udp().bind(9, 4).unwrap();
    i.process_frame(
        T0,
        &fragment_of(IpProtocol::Udp, 9, 1480, false, &udp[1480..]),
    );
    i.process_frame(T0, &fragment_of(IpProtocol::Udp, 9, 0, true, &udp[..1480]));
    assert_eq!(i.udp().recv(9), Some(((LINUX_IP, 5000), data)));
    assert_eq!(i.counters().udp_delivered, 1);
}

#[test]
fn duplicates_are_ignored_and_equal_overlaps_merge() {
    let mut i = iface();
    i.process_frame(T0, &ping_fragment(1));
    i.process_frame(T0, &ping_fragment(1));
    // A retransmission cut differently: 0..1000 and 992..1480, overlapping by 8 equal bytes.
    let icmp = ping_icmp();
    i.process_frame(T0, &fragment(0xa59e, 992, true, &icmp[992..1480]));
    i.process_frame(T0, &fragment(0xa59e, 0, true, &icmp[..1000]));
    i.process_frame(T0, &ping_fragment(2));
    assert_replied(&mut i);
    assert_eq!(i.counters().frag_duplicate, 1);
}

#[test]
fn an_overlap_with_different_bytes_drops_the_datagram() {
    let mut i = iface();
    i.process_frame(T0, &ping_fragment(0));
    let mut evil = ping_icmp()[1472..2000].to_vec();
    evil[2] ^= 1; // inside the 8 bytes both hold
    i.process_frame(T0, &fragment(0xa59e, 1472, true, &evil));
    assert_eq!(i.counters().frag_overlap, 1);
    assert_eq!(i.reassembler().in_progress(), 0);
    // What follows starts a new datagram, which lacks its first fragment.
    i.process_frame(T0, &ping_fragment(1));
    i.process_frame(T0, &ping_fragment(2));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.counters().frag_reassembled, 0);
    // Two last fragments that disagree on the length.
    let mut i = iface();
    i.process_frame(T0, &ping_fragment(2));
    i.process_frame(T0, &fragment(0xa59e, 2960, false, &ping_icmp()[2960..3000]));
    assert_eq!(i.counters().frag_overlap, 1);
    assert_eq!(i.reassembler().in_progress(), 0);
}

#[test]
fn malformed_and_oversized_fragments_are_dropped_and_counted() {
    let mut i = iface();
    // Not a multiple of 8 before the end.
    i.process_frame(T0, &fragment(1, 0, true, &[0; 12]));
    // Empty.
    i.process_frame(T0, &fragment(2, 8, false, &[]));
    // Past the end of a datagram whose last fragment has come.
    i.process_frame(T0, &fragment(3, 8, false, &[0; 8]));
    i.process_frame(T0, &fragment(3, 16, true, &[0; 8]));
    let c = i.counters();
    assert_eq!(c.frag_malformed, 3);
    // The highest offset (65528) with 16 bytes: past 65,535 with the header.
    i.process_frame(T0, &fragment(4, 65528, false, &[0; 16]));
    assert_eq!(i.counters().frag_too_big, 1);
    // Fragments of an unknown protocol are not held.
    let mut f = fragment(5, 0, true, &[0; 8]);
    f[14 + 9] = 99;
    let mut p = Ipv4Packet::new_unchecked(&mut f[14..]);
    p.fill_checksum();
    i.process_frame(T0, &f);
    assert_eq!(i.counters().frag_unsupported, 1);
    assert_eq!(i.reassembler().in_progress(), 0);
    i.reassembler().check();
}

#[test]
fn an_incomplete_datagram_times_out() {
    let mut i = iface();
    i.process_frame(T0, &ping_fragment(0));
    i.process_frame(T0 + Duration::from_secs(1), &ping_fragment(1));
    assert_eq!(i.poll_at(), Some(T0 + REASSEMBLY_TIMEOUT));
    i.poll(T0 + (REASSEMBLY_TIMEOUT - Duration::from_nanos(1)));
    assert_eq!(i.reassembler().in_progress(), 1);
    i.poll(T0 + REASSEMBLY_TIMEOUT);
    assert_eq!(i.counters().frag_timeout, 1);
    assert_eq!(i.reassembler().in_progress(), 0);
    assert_eq!(i.poll_at(), None);
    i.process_frame(T0 + REASSEMBLY_TIMEOUT, &ping_fragment(2));
    assert!(
        drain(&mut i).is_empty(),
        "the late last fragment starts afresh"
    );
}

#[test]
fn a_flood_of_incomplete_datagrams_stays_bounded_and_a_real_one_gets_through() {
    let mut i = iface();
    let chunk = [0x55u8; 1480];
    // 200 datagrams of 40 fragments each, every one missing its last.
    for id in 0..200u16 {
        for k in 0..40 {
            i.process_frame(T0, &fragment(id, k * 1480, true, &chunk));
        }
        i.reassembler().check();
        assert!(i.reassembler().in_progress() <= MAX_DATAGRAMS);
        assert!(i.reassembler().held_bytes() <= MAX_BYTES);
    }
    let c = i.counters();
    assert!(c.frag_evicted >= 190, "{c:?}");
    for n in 0..3 {
        i.process_frame(T0, &ping_fragment(n));
    }
    let out = drain(&mut i);
    assert_eq!(out.len(), 1, "the real ping is answered");
    assert_eq!(i.counters().frag_reassembled, 1);
    // The many-holes attack: every other 8-byte block of one datagram.
    let mut i = iface();
    for k in 0..200 {
        i.process_frame(T0, &fragment(7, k * 16, true, &[1; 8]));
    }
    // Each new datagram the flood starts is dropped again at the limit.
    assert_eq!(i.counters().frag_too_many_pieces, 200 / 65);
    i.reassembler().check();
}

#[test]
fn random_fragments_never_panic_and_keep_the_invariants() {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut i = iface();
    let mut now = T0;
    for _ in 0..20_000 {
        let r = next();
        let ident = (r % 5) as u16;
        let offset = ((r >> 8) % 64) as usize * 8;
        let len = ((r >> 16) % 10) as usize * 8 + usize::from((r >> 20) % 16 == 0);
        let more = (r >> 24) & 3 != 0;
        let fill = if (r >> 26) & 15 == 0 {
            (r >> 30) as u8
        } else {
            0x11
        };
        i.process_frame(now, &fragment(ident, offset, more, &vec![fill; len]));
        if (r >> 40) % 512 == 0 {
            now += Duration::from_secs(10);
            i.poll(now);
        }
        i.reassembler().check();
        drain(&mut i);
    }
    let c = i.counters();
    assert!(
        c.frag_reassembled > 0 && c.frag_overlap > 0 && c.frag_timeout > 0,
        "{c:?}"
    );
    // Truncations and bit flips of the captured fragments.
    for n in 0..3 {
        let f = ping_fragment(n);
        for len in 0..f.len().min(80) {
            iface().process_frame(T0, &f[..len]);
        }
        for at in 0..f.len().min(80) {
            let mut g = f.clone();
            g[at] ^= 0x81;
            let mut i = iface();
            i.process_frame(T0, &ping_fragment((n + 1) % 3));
            i.process_frame(T0, &g);
            i.reassembler().check();
        }
    }
}
