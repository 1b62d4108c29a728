//! The body of the `tcp_machine` fuzz target, compiled always (like [`crate::wire::fuzz`]) so
//! that the stable test suite runs it over seeded random inputs too.
//!
//! It opens a connection (our SYN, a SYN-ACK whose options the first input byte chooses), then
//! reads records from the input, each one a segment from the "peer" and a user call:
//!
//! ```text
//! flags(1) modes(1) seq(4) ack(4) window(2) tsval(2) len(1) advance(1) action(1)  = 17 bytes
//! ```
//!
//! `modes` says whether `seq` and `ack` are offsets from `RCV.NXT` and `SND.UNA` (so that
//! most segments land near the window and reach deep into the machine) or raw values, and
//! whether a timestamp is sent, and which SACK blocks the segment carries (about our receive
//! window, or about what we sent: near `SND.UNA`, below it as a D-SACK). After each record the machine's invariants must hold and
//! [`Tcb::poll_transmit`] is drained; a panic anywhere is a finding.

use core::time::Duration;

use morgana_executor::Instant;

use super::{Config, Endpoint, Tcb};
use crate::wire::{Ipv4Address, SeqNumber, TcpFlags, TcpRepr};

const LOCAL: Endpoint = Endpoint::new(Ipv4Address::new(10, 0, 0, 1), 49152);
const REMOTE: Endpoint = Endpoint::new(Ipv4Address::new(10, 0, 0, 2), 80);
const RECORD: usize = 17;

fn segment(seq: SeqNumber, ack: Option<SeqNumber>, flags: TcpFlags, payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: REMOTE.port,
        dst_port: LOCAL.port,
        seq_number: seq,
        ack_number: ack,
        flags,
        window_len: 0,
        urgent_at: 0,
        max_seg_size: None,
        window_scale: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    }
}

/// Drains the machine's output, reading every payload as an adapter would. The send buffer
/// holds at most 64 segments (4096 bytes, MSS at least 64), so a machine still sending after
/// 256 is looping.
fn drain(tcb: &mut Tcb, now: Instant) {
    for _ in 0..256 {
        let Some(seg) = tcb.poll_transmit(now, 1500) else {
            return;
        };
        let (a, b) = tcb.payload(&seg);
        assert!(
            a.len() + b.len() <= seg.payload_len,
            "payload longer than said"
        );
        let ip_len = 20 + seg.repr(&[]).header_len() + seg.payload_len;
        assert!(
            ip_len <= 1500,
            "a {ip_len}-byte datagram for a 1500-byte MTU"
        );
    }
    panic!("poll_transmit never returned None");
}

/// Feeds the segments that `data` describes to an established connection.
pub fn fuzz_segment_sequence(data: &[u8]) {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let config = Config {
        send_buffer: 4096,
        recv_buffer: 8192,
        nodelay: setup & 0x10 != 0,
        max_ooo_ranges: 4,
        ..Config::default()
    };
    let mut now = Instant::from_nanos(1_000_000_000);
    let iss = SeqNumber(0xffff_ff00);
    let mut tcb = Tcb::connect(LOCAL, REMOTE, iss, now, config);
    drain(&mut tcb, now);
    let peer_iss = SeqNumber(u32::from(setup).wrapping_mul(0x0101_0101) ^ 0x8000_0000);
    let mut synack = segment(peer_iss, Some(iss + 1), TcpFlags::SYN, &[]);
    synack.window_len = 4096;
    synack.max_seg_size = (setup & 1 != 0).then_some(100 + u16::from(setup));
    synack.window_scale = (setup & 2 != 0).then_some(setup >> 5);
    synack.sack_permitted = setup & 4 != 0;
    let mut peer_ts = 1000u32;
    synack.timestamp = (setup & 8 != 0).then_some((peer_ts, 0));
    let _ = tcb.on_segment(now, &synack);
    drain(&mut tcb, now);
    let filler = [0x5a; 255];
    while rest.len() >= RECORD {
        let (r, tail) = rest.split_at(RECORD);
        rest = tail;
        let u32_at = |i: usize| u32::from_be_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        let flags = TcpFlags::from_bits_truncate(u16::from(r[0]) & 0x2f);
        let modes = r[1];
        let (snd_una, _, rcv_nxt) = tcb.sequence_numbers();
        let seq = if modes & 1 != 0 {
            SeqNumber(u32_at(2))
        } else {
            rcv_nxt + (u32_at(2) as i32 >> 16) as u32
        };
        let ack = if modes & 2 != 0 {
            SeqNumber(u32_at(6))
        } else {
            snd_una + (u32_at(6) as i32 >> 16) as u32
        };
        let len = usize::from(r[14]).min(filler.len());
        let mut seg = segment(
            seq,
            (r[0] & 0x10 != 0).then_some(ack),
            flags,
            &filler[..len],
        );
        seg.window_len = u16::from_be_bytes([r[10], r[11]]);
        if modes & 4 != 0 {
            peer_ts = peer_ts.wrapping_add(u32::from(u16::from_be_bytes([r[12], r[13]])) >> 4);
            seg.timestamp = Some((peer_ts, u32_at(6)));
        }
        if modes & 8 != 0 {
            let left = rcv_nxt + u32::from(r[12]) * 64;
            seg.sack_ranges[0] = Some((left, left + u32::from(r[13]) * 8));
        }
        if modes & 0x30 != 0 {
            // SACK blocks over what we sent: near SND.UNA, so that most land in the
            // scoreboard; below it (a D-SACK) when bit 5 alone is set.
            let left = match modes & 0x30 {
                0x20 => snd_una - u32::from(r[13]) * 16,
                _ => snd_una + u32::from(r[12]) * 16,
            };
            let right = left + u32::from(r[13]).max(1) * 32;
            seg.sack_ranges[1] = Some((left, right));
            if modes & 0x40 != 0 {
                seg.sack_ranges[2] = Some((right + u32::from(r[14]) * 8, right + 4096));
            }
        }
        now += Duration::from_millis(u64::from(r[15]) * 4);
        let _ = tcb.on_segment(now, &seg);
        if let Err(broken) = tcb.check_invariants() {
            panic!("invariant broken after a segment: {broken}");
        }
        match r[16] & 7 {
            0 => {
                tcb.send(&filler[..usize::from(r[16])]);
            }
            1 => {
                let mut buf = [0; 512];
                tcb.recv(&mut buf);
            }
            2 if r[16] == 0xfa => tcb.shutdown_write(),
            3 if r[16] == 0xfb => tcb.abort(),
            4 => {
                if let Some(at) = tcb.poll_at() {
                    now = now.max(at);
                }
            }
            _ => {}
        }
        drain(&mut tcb, now);
        if let Err(broken) = tcb.check_invariants() {
            panic!("invariant broken after output: {broken}");
        }
    }
}
