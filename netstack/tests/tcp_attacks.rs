//! RFC 5961 at the interface: an off-path attacker who knows the four-tuple but not the exact
//! sequence numbers tries to reset a connection, to tear it down with a SYN and to inject data.
//! Every frame here is built byte by byte by this file (its own checksum code, not the stack's),
//! fed to an `Interface` and the answers read back as frames. The same frames, truncated and
//! with every bit flipped, must never panic the interface or break a connection's invariants.

use morgana_executor::Instant;
use morgana_netstack::iface::{ConnId, Interface, Ipv4Config};
use morgana_netstack::tcp::State;
use morgana_netstack::wire::{EthernetAddress, Ipv4Address};

const US_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const THEM_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const US: [u8; 4] = [10, 0, 0, 1];
const THEM: [u8; 4] = [10, 0, 0, 2];
const PORT: u16 = 80;
const THEIR_PORT: u16 = 40_000;
const THEIR_ISN: u32 = 1_000;
const T0: Instant = Instant::from_nanos(5_000_000_000);

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for pair in data.chunks(2) {
        let word = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
        acc += word;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// An Ethernet + IPv4 + TCP frame from them to us (no TCP options).
fn frame(seq: u32, ack: u32, flags: u8, window: u16, payload: &[u8]) -> Vec<u8> {
    let tcp_len = 20 + payload.len();
    let mut f = Vec::new();
    f.extend_from_slice(&US_MAC);
    f.extend_from_slice(&THEM_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    // IPv4: version 4, IHL 5, total length, id 1, DF, TTL 64, TCP.
    let total = (20 + tcp_len) as u16;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    ip.extend_from_slice(&THEM);
    ip.extend_from_slice(&US);
    let c = fold(sum16(&ip, 0));
    ip[10] = (c >> 8) as u8;
    ip[11] = c as u8;
    f.extend_from_slice(&ip);
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&THEIR_PORT.to_be_bytes());
    tcp.extend_from_slice(&PORT.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[5 << 4, flags]);
    tcp.extend_from_slice(&window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&THEM);
    pseudo.extend_from_slice(&US);
    pseudo.extend_from_slice(&[0, 6, (tcp_len >> 8) as u8, tcp_len as u8]);
    let c = fold(sum16(&tcp, sum16(&pseudo, 0)));
    tcp[16] = (c >> 8) as u8;
    tcp[17] = c as u8;
    f.extend_from_slice(&tcp);
    f
}

/// The TCP fields of a frame we sent: (seq, ack, flags, payload length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Out {
    seq: u32,
    ack: u32,
    flags: u8,
    len: usize,
}

fn parse_out(f: &[u8]) -> Option<Out> {
    if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let t = &f[14 + ihl..14 + total];
    let doff = usize::from(t[12] >> 4) * 4;
    Some(Out {
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        flags: t[13],
        len: t.len() - doff,
    })
}

fn sent(i: &mut Interface) -> Vec<Out> {
    core::iter::from_fn(|| i.pop_tx())
        .filter_map(|f| parse_out(&f))
        .collect()
}

/// An interface with one established connection from them; returns it, the connection and our
/// next sequence number.
fn established() -> (Interface, ConnId, u32) {
    let config = Ipv4Config {
        address: Ipv4Address(US),
        prefix_len: 24,
        gateway: None,
    };
    let mut i = Interface::new(EthernetAddress(US_MAC), config, 1500, T0);
    i.set_isn_secret([7; 16]);
    i.tcp_listen(PORT, 4).unwrap();
    i.arp()
        .merge(T0, Ipv4Address(THEM), EthernetAddress(THEM_MAC), true);
    i.process_frame(T0, &frame(THEIR_ISN, 0, SYN, 65_535, &[]));
    i.poll(T0);
    let synack = sent(&mut i);
    assert_eq!(synack.len(), 1, "{synack:?}");
    assert_eq!(synack[0].flags, SYN | ACK);
    assert_eq!(synack[0].ack, THEIR_ISN + 1);
    let ours = synack[0].seq.wrapping_add(1);
    i.process_frame(T0, &frame(THEIR_ISN + 1, ours, ACK, 65_535, &[]));
    i.poll(T0);
    let (id, _) = i.tcp_accept(PORT).expect("accepted");
    assert_eq!(i.tcp_tcb(id).unwrap().state(), State::Established);
    (i, id, ours)
}

#[test]
fn a_blind_in_window_reset_gets_a_challenge_ack_and_the_connection_lives() {
    let (mut i, id, ours) = established();
    let next = THEIR_ISN + 1;
    i.process_frame(T0, &frame(next + 5_000, 0, RST, 0, &[]));
    i.poll(T0);
    let out = sent(&mut i);
    assert_eq!(
        out,
        [Out {
            seq: ours,
            ack: next,
            flags: ACK,
            len: 0
        }],
        "a challenge ACK"
    );
    assert_eq!(i.tcp_tcb(id).unwrap().state(), State::Established);
    // A reset outside the window is dropped silently.
    i.process_frame(T0, &frame(next.wrapping_add(1 << 30), 0, RST, 0, &[]));
    i.poll(T0);
    assert_eq!(sent(&mut i), []);
    assert_eq!(i.tcp_tcb(id).unwrap().state(), State::Established);
    // Only the exact sequence number resets.
    i.process_frame(T0, &frame(next, 0, RST, 0, &[]));
    i.poll(T0);
    assert_eq!(i.tcp_tcb(id).unwrap().state(), State::Closed);
}

#[test]
fn a_blind_syn_on_an_established_connection_gets_a_challenge_ack() {
    let (mut i, id, ours) = established();
    i.process_frame(T0, &frame(77_777, 0, SYN, 65_535, &[]));
    i.poll(T0);
    let out = sent(&mut i);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].flags, out[0].seq), (ACK, ours), "a challenge ACK");
    assert_eq!(i.tcp_tcb(id).unwrap().state(), State::Established);
}

#[test]
fn blind_data_with_an_unacceptable_ack_is_not_delivered() {
    let (mut i, id, ours) = established();
    let next = THEIR_ISN + 1;
    // RFC 5961 §5: the ACK acknowledges what we never sent (more than a window ahead).
    i.process_frame(
        T0,
        &frame(next, ours.wrapping_add(1 << 30), ACK | PSH, 65_535, b"evil"),
    );
    // ... or lies too far behind (before SND.UNA - MAX.SND.WND).
    i.process_frame(
        T0,
        &frame(next, ours.wrapping_sub(1 << 30), ACK | PSH, 65_535, b"evil"),
    );
    i.poll(T0);
    assert_eq!(i.tcp_tcb(id).unwrap().recv_queue(), 0, "nothing injected");
    let out = sent(&mut i);
    assert!(
        !out.is_empty() && out.iter().all(|o| o.flags == ACK && o.ack == next),
        "challenge ACKs, nothing acknowledged: {out:?}"
    );
    // The real peer's data still goes through.
    i.process_frame(T0, &frame(next, ours, ACK | PSH, 65_535, b"good"));
    i.poll(T0);
    assert_eq!(i.tcp_tcb(id).unwrap().recv_queue(), 4);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let (mut i, id, _) = established();
    let mut acks = 0;
    for k in 0..200u32 {
        i.process_frame(T0, &frame(THEIR_ISN + 2 + k * 100, 0, RST, 0, &[]));
        i.poll(T0);
        acks += sent(&mut i).len();
    }
    assert!(
        (1..=10).contains(&acks),
        "{acks} challenge ACKs for 200 blind resets in one instant"
    );
    assert_eq!(i.tcp_tcb(id).unwrap().state(), State::Established);
}

#[test]
fn every_truncation_and_bit_flip_of_tcp_frames_is_survived() {
    let (_, _, ours) = established();
    let next = THEIR_ISN + 1;
    let frames = [
        frame(THEIR_ISN, 0, SYN, 65_535, &[]),
        frame(next, ours, ACK, 65_535, &[]),
        frame(next, ours, ACK | PSH, 65_535, b"hello, world"),
        frame(next, 0, RST, 0, &[]),
        frame(next + 12, ours, ACK | 0x01, 65_535, &[]),
    ];
    let mut checked = 0;
    for f in &frames {
        let mut variants: Vec<Vec<u8>> = (0..f.len()).map(|n| f[..n].to_vec()).collect();
        for byte in 0..f.len() {
            for bit in 0..8 {
                let mut g = f.clone();
                g[byte] ^= 1 << bit;
                variants.push(g);
            }
        }
        // A fresh established connection for each frame's variants; each variant goes to it.
        let (mut i, id, _) = established();
        let mut now = T0;
        for v in &variants {
            i.process_frame(now, v);
            i.poll(now);
            while i.pop_tx().is_some() {}
            if let Some(tcb) = i.tcp_tcb(id) {
                assert_eq!(tcb.check_invariants(), Ok(()));
            }
            now += core::time::Duration::from_micros(100);
            checked += 1;
        }
    }
    assert!(checked > 2_000, "{checked} variants");
}
