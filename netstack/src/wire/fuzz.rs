//! The bodies of the fuzz targets in `netstack/fuzz/`, one per parser, as plain functions.
//!
//! They live here, compiled always, rather than in the fuzz crate or behind a feature, so that
//! the ordinary `cargo test` runs the very same bodies over the test packets and seeded
//! pseudo-random inputs (`wire/tests/fuzz.rs`), and there is no feature to forget to test. They
//! allocate nothing and are not called by the stack, so an appliance's image links none of them.
//!
//! Each body feeds the bytes to a view's `new_checked` and, when that accepts them, to every
//! accessor and to `Repr::parse` with checksums verified and skipped; whatever parses is emitted
//! again and parsed back, and must come back equal. A panic anywhere, an assertion included, is
//! a finding.

use core::fmt::{self, Write};

use super::{
    ArpPacket, ArpRepr, ChecksumCaps, DhcpPacket, DhcpRepr, EtherType, EthernetFrame, EthernetRepr,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpOptions, TcpPacket,
    TcpRepr, UdpPacket, UdpRepr,
};

/// The largest packet re-emitted; longer ones are only parsed. libFuzzer's inputs are 4096 bytes
/// at most by default.
const MAX_EMIT: usize = 4096 + 64;

/// Formats a value into nothing, so that `Display` and `Debug` run without allocating.
fn format(value: &(impl fmt::Display + fmt::Debug)) {
    struct Sink;
    impl Write for Sink {
        fn write_str(&mut self, _: &str) -> fmt::Result {
            Ok(())
        }
    }
    let _ = write!(Sink, "{value} {value:?}");
}

/// Splits off two IPv4 addresses (the pseudo-header's) from the front of a transport input.
fn addresses(data: &[u8]) -> Option<(Ipv4Address, Ipv4Address, &[u8])> {
    let src = Ipv4Address::from_bytes(data.get(..4)?)?;
    let dst = Ipv4Address::from_bytes(data.get(4..8)?)?;
    Some((src, dst, &data[8..]))
}

/// An Ethernet frame, and whatever ARP or IPv4 packet it carries, down to the transport.
pub fn ethernet(data: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let repr = EthernetRepr::parse(&frame).expect("a checked frame parses");
    format(&repr);
    format(&repr.src_addr);
    let (_, _) = (repr.dst_addr.is_broadcast(), repr.dst_addr.is_multicast());
    let mut out = [0; 14];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(
        out[..],
        data[..14],
        "an Ethernet header is emitted as it came"
    );
    match repr.ethertype {
        EtherType::Arp => arp(frame.payload()),
        EtherType::Ipv4 => ipv4(frame.payload()),
        _ => {}
    }
}

/// An ARP packet.
pub fn arp(data: &[u8]) {
    let Ok(packet) = ArpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.hardware_type(),
        packet.protocol_type(),
        packet.operation(),
    );
    let _ = (packet.source_hardware_addr(), packet.source_protocol_addr());
    let _ = (packet.target_hardware_addr(), packet.target_protocol_addr());
    let Ok(repr) = ArpRepr::parse(&packet) else {
        return;
    };
    format(&repr);
    let mut out = [0; ArpRepr::LEN];
    repr.emit(&mut ArpPacket::new_unchecked(&mut out[..]));
    assert_eq!(
        out[..],
        data[..ArpRepr::LEN],
        "an Ethernet/IPv4 ARP packet is emitted as it came"
    );
}

/// An IPv4 packet, and the ICMP, UDP or TCP it carries (unless it is a fragment).
pub fn ipv4(data: &[u8]) {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = (
        packet.version(),
        packet.dscp(),
        packet.ecn(),
        packet.ident(),
        packet.ttl(),
    );
    let _ = (
        packet.dont_frag(),
        packet.more_frags(),
        packet.frag_offset(),
        packet.is_fragment(),
    );
    let _ = (
        packet.checksum(),
        packet.src_addr(),
        packet.dst_addr(),
        packet.options(),
    );
    let payload = packet.payload();
    let Some(repr) = both(
        Ipv4Repr::parse(&packet, &ChecksumCaps::SOFTWARE),
        Ipv4Repr::parse(&packet, &ChecksumCaps::OFFLOADED),
    ) else {
        return;
    };
    format(&repr);
    let _ = (
        repr.src_addr.is_unicast(),
        repr.dst_addr.is_multicast(),
        repr.dst_addr.is_broadcast(),
    );
    assert_eq!(repr.payload_len, payload.len());

    let len = repr.buffer_len() + payload.len();
    if len <= MAX_EMIT {
        let mut out = [0; MAX_EMIT];
        let mut emitted = Ipv4Packet::new_unchecked(&mut out[..len]);
        repr.emit(&mut emitted, &ChecksumCaps::SOFTWARE);
        emitted.payload_mut().copy_from_slice(payload);
        let again = Ipv4Packet::new_checked(&out[..len]).expect("an emitted packet is well formed");
        assert_eq!(Ipv4Repr::parse(&again, &ChecksumCaps::SOFTWARE), Ok(repr));
        assert_eq!(again.payload(), payload);
    }

    if !repr.is_fragment() {
        match repr.protocol {
            IpProtocol::Icmp => icmp(payload),
            IpProtocol::Udp => udp_between(repr.src_addr, repr.dst_addr, payload),
            IpProtocol::Tcp => tcp_between(repr.src_addr, repr.dst_addr, payload),
            IpProtocol::Unknown(_) => {}
        }
    }
}

/// An ICMPv4 message.
pub fn icmp(data: &[u8]) {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let _ = (
        packet.msg_type(),
        packet.msg_code(),
        packet.checksum(),
        packet.rest_of_header(),
    );
    let _ = (
        packet.echo_ident(),
        packet.echo_seq_no(),
        packet.next_hop_mtu(),
        packet.data(),
    );
    let Some(repr) = both(
        Icmpv4Repr::parse(&packet, &ChecksumCaps::SOFTWARE),
        Icmpv4Repr::parse(&packet, &ChecksumCaps::OFFLOADED),
    ) else {
        return;
    };
    format(&repr);
    if let Icmpv4Repr::DstUnreachable { invoking, .. } | Icmpv4Repr::TimeExceeded { invoking, .. } =
        repr
    {
        let _ = (
            invoking.src_addr(),
            invoking.dst_addr(),
            invoking.protocol(),
            invoking.ident(),
        );
        let _ = (invoking.header_len(), invoking.payload(), invoking.ports());
    }
    let len = repr.buffer_len();
    assert_eq!(len, data.len(), "an ICMP message is all header and data");
    if len <= MAX_EMIT {
        let mut out = [0; MAX_EMIT];
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut out[..len]),
            &ChecksumCaps::SOFTWARE,
        );
        let again =
            Icmpv4Packet::new_checked(&out[..len]).expect("an emitted message is well formed");
        assert_eq!(Icmpv4Repr::parse(&again, &ChecksumCaps::SOFTWARE), Ok(repr));
    }
}

/// A UDP datagram; the first 8 bytes are the pseudo-header's source and destination addresses.
pub fn udp(data: &[u8]) {
    if let Some((src, dst, rest)) = addresses(data) {
        udp_between(src, dst, rest);
    }
}

fn udp_between(src: Ipv4Address, dst: Ipv4Address, data: &[u8]) {
    let Ok(packet) = UdpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.src_port(),
        packet.dst_port(),
        packet.len(),
        packet.checksum(),
        packet.payload(),
    );
    let Some(repr) = both(
        UdpRepr::parse(&packet, src, dst, &ChecksumCaps::SOFTWARE),
        UdpRepr::parse(&packet, src, dst, &ChecksumCaps::OFFLOADED),
    ) else {
        return;
    };
    format(&repr);
    let len = repr.buffer_len();
    if len <= MAX_EMIT {
        for caps in [ChecksumCaps::SOFTWARE, ChecksumCaps::OFFLOADED] {
            let mut out = [0; MAX_EMIT];
            repr.emit(
                &mut UdpPacket::new_unchecked(&mut out[..len]),
                src,
                dst,
                &caps,
            );
            let again =
                UdpPacket::new_checked(&out[..len]).expect("an emitted datagram is well formed");
            assert_eq!(
                UdpRepr::parse(&again, src, dst, &ChecksumCaps::SOFTWARE),
                Ok(repr)
            );
        }
    }
}

/// A TCP segment, options included; the first 8 bytes are the pseudo-header's source and
/// destination addresses. The bytes after them are also walked as a bare options list.
pub fn tcp(data: &[u8]) {
    if let Some((src, dst, rest)) = addresses(data) {
        tcp_options(rest);
        tcp_between(src, dst, rest);
    }
}

/// Walks `data` as TCP option bytes; each option read is emitted and read back equal.
pub fn tcp_options(data: &[u8]) {
    let mut count = 0;
    for option in TcpOptions::new(data) {
        count += 1;
        assert!(count <= data.len(), "every option consumes a byte at least");
        let Ok(option) = option else { continue };
        format(&option);
        let mut out = [0; 256];
        let len = option.emit(&mut out);
        assert_eq!(len, option.buffer_len());
        let again = TcpOptions::new(&out[..len]).next();
        assert_eq!(
            again,
            Some(Ok(option)),
            "an option is read back as it was written"
        );
    }
}

fn tcp_between(src: Ipv4Address, dst: Ipv4Address, data: &[u8]) {
    let Ok(packet) = TcpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.src_port(),
        packet.dst_port(),
        packet.seq_number(),
        packet.ack_number(),
    );
    let _ = (
        packet.flags(),
        packet.window_len(),
        packet.checksum(),
        packet.urgent_at(),
    );
    let _ = (packet.payload(), packet.segment_len());
    tcp_options(packet.options());
    let Some(repr) = both(
        TcpRepr::parse(&packet, src, dst, &ChecksumCaps::SOFTWARE),
        TcpRepr::parse(&packet, src, dst, &ChecksumCaps::OFFLOADED),
    ) else {
        return;
    };
    format(&repr);
    assert_eq!(repr.segment_len(), packet.segment_len());
    assert!(repr.options_len() <= super::MAX_OPTIONS_LEN && repr.options_len() % 4 == 0);

    let len = repr.buffer_len();
    if len <= MAX_EMIT {
        let mut out = [0; MAX_EMIT];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut out[..len]),
            src,
            dst,
            &ChecksumCaps::SOFTWARE,
        );
        let again = TcpPacket::new_checked(&out[..len]).expect("an emitted segment is well formed");
        // SACK blocks that do not fit beside the other options are left out on emit.
        let mut expected = repr;
        let kept = repr.sack_blocks_to_emit();
        for range in &mut expected.sack_ranges[kept..] {
            *range = None;
        }
        assert_eq!(
            TcpRepr::parse(&again, src, dst, &ChecksumCaps::SOFTWARE),
            Ok(expected)
        );
    }
}

/// A DHCP message (the UDP payload): the view's accessors, the option walk, the parse; what
/// parses is emitted and must parse back equal.
pub fn dhcp(data: &[u8]) {
    use super::dhcp::DhcpOptions;
    let Ok(packet) = DhcpPacket::new_checked(data) else {
        return;
    };
    let _ = (packet.op(), packet.hops(), packet.secs(), packet.flags());
    let _ = (packet.client_ip(), packet.your_ip(), packet.server_ip());
    let _ = (packet.relay_agent_ip(), packet.client_hardware_address());
    let _ = (packet.transaction_id(), packet.magic());
    for option in DhcpOptions::new(packet.options()) {
        if option.is_err() {
            break;
        }
    }
    let Ok(repr) = DhcpRepr::parse(&packet) else {
        return;
    };
    format(&repr);
    let mut out = [0u8; 1024];
    let len = repr.buffer_len();
    assert!(len <= out.len(), "a DHCP message emits at most 1 KiB");
    repr.emit(&mut DhcpPacket::new_unchecked(&mut out[..]));
    let back = DhcpRepr::parse(&DhcpPacket::new_checked(&out[..len]).expect("emitted"))
        .expect("an emitted DHCP message parses");
    assert_eq!(back, repr, "a DHCP message parses back as emitted");
}

/// A fuzz target's body.
pub type Body = fn(&[u8]);

/// Every body, by the name of its fuzz target.
pub const TARGETS: [(&str, Body); 6] = [
    ("ethernet", ethernet),
    ("arp", arp),
    ("ipv4", ipv4),
    ("icmp", icmp),
    ("udp", udp),
    ("tcp", tcp),
];

/// The parse with checksums skipped, after checking it against the parse with them verified:
/// verifying may only reject more, and never changes what is parsed.
fn both<R: PartialEq + fmt::Debug>(
    verified: super::Result<R>,
    skipped: super::Result<R>,
) -> Option<R> {
    let Ok(repr) = skipped else {
        assert!(
            verified.is_err(),
            "verifying the checksum only rejects more"
        );
        return None;
    };
    if let Ok(verified) = verified {
        assert_eq!(verified, repr);
    }
    Some(repr)
}
