//! Opening: active and passive, simultaneous, lost SYNs, option negotiation.

use core::time::Duration;

use super::harness::{A, B, LinkConfig, MTU, Pair, config, copy_payload};
use crate::tcp::{Config, State, Tcb};
use crate::wire::{SeqNumber, TcpFlags};
use morgana_executor::Instant;

#[test]
fn active_and_passive_open() {
    let mut pair = Pair::new(config(), config(), LinkConfig::clean(), 1);
    let ok = pair.run_until(Duration::from_secs(5), |p| {
        p.a.state() == State::Established
            && p.b
                .as_ref()
                .is_some_and(|b| b.state() == State::Established)
    });
    assert!(ok);
    let syn = &pair.log[0];
    assert!(syn.to_b && syn.seg.flags.contains(TcpFlags::SYN) && syn.seg.ack_number.is_none());
    assert_eq!(syn.seg.max_seg_size, Some(1460));
    assert!(
        syn.seg.sack_permitted && syn.seg.timestamp.is_some() && syn.seg.window_scale.is_some()
    );
    let synack = &pair.log[1];
    assert!(!synack.to_b && synack.seg.flags.contains(TcpFlags::SYN));
    assert_eq!(synack.seg.ack_number, Some(syn.seg.seq_number + 1));
    let ack = &pair.log[2];
    assert!(ack.to_b && ack.seg.flags.is_empty());
    assert_eq!(ack.seg.ack_number, Some(synack.seg.seq_number + 1));
    // One RTT: the handshake took 2 × 10 ms for A, and a third leg for B.
    let n = pair.a.negotiated();
    assert!(n.timestamps && n.sack);
    assert_eq!(n.send_mss, 1460);
}

#[test]
fn window_scaling_negotiated() {
    let big = Config {
        recv_buffer: 1 << 20,
        send_buffer: 1 << 20,
        ..config()
    };
    let mut pair = Pair::established(big.clone(), big, LinkConfig::clean(), 2);
    let a = pair.a.negotiated();
    assert_eq!(a.recv_shift, 5, "1 MiB needs a shift of 5");
    assert_eq!(a.send_shift, 5);
    // Advertised windows are scaled: B's first data ACK carries (1 MiB >> 5).
    let from = pair.log.len();
    pair.a.send(&[1; 100]);
    pair.run_for(Duration::from_millis(100));
    let acks = pair.sent_since(from, false);
    let window = usize::from(acks.last().unwrap().seg.window_len) << 5;
    assert!(
        window.abs_diff((1 << 20) - 100) < 32,
        "scaled window {window}"
    );
}

#[test]
fn window_scaling_not_negotiated_when_one_side_does_not_offer() {
    let big = Config {
        recv_buffer: 1 << 20,
        ..config()
    };
    let plain = Config {
        window_scaling: false,
        recv_buffer: 1 << 20,
        ..config()
    };
    let pair = Pair::established(big, plain, LinkConfig::clean(), 3);
    let synack = &pair.log[1];
    assert_eq!(
        synack.seg.window_scale, None,
        "no scale option in the SYN-ACK"
    );
    let a = pair.a.negotiated();
    assert_eq!((a.recv_shift, a.send_shift), (0, 0));
    // Without scaling, the window is capped at 65535.
    let last = pair.log.iter().rev().find(|s| s.to_b).unwrap();
    assert_eq!(last.seg.window_len, u16::MAX);
}

#[test]
fn lost_syn_is_retransmitted_with_backoff() {
    let mut pair = Pair::new(config(), config(), LinkConfig::clean(), 4);
    let mut dropped = 0;
    pair.filter = Some(alloc::boxed::Box::new(move |s| {
        if s.seg.flags.contains(TcpFlags::SYN) && s.to_b && dropped < 2 {
            dropped += 1;
            return true;
        }
        false
    }));
    let start = pair.now;
    assert!(pair.run_until(Duration::from_secs(10), |p| p.a.state()
        == State::Established));
    let syns: alloc::vec::Vec<_> = pair
        .log
        .iter()
        .filter(|s| s.to_b && s.seg.flags.contains(TcpFlags::SYN))
        .map(|s| s.at - start)
        .collect();
    assert_eq!(
        syns,
        [
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(3)
        ]
    );
}

#[test]
fn simultaneous_open() {
    let now = Instant::from_nanos(1_000_000_000);
    let mut a = Tcb::connect(A, B, SeqNumber(100), now, config());
    let mut b = Tcb::connect(B, A, SeqNumber(9000), now, config());
    let syn_a = a.poll_transmit(now, MTU).unwrap();
    let syn_b = b.poll_transmit(now, MTU).unwrap();
    // The SYNs cross.
    a.on_segment(now, &syn_b.repr(&[])).unwrap();
    b.on_segment(now, &syn_a.repr(&[])).unwrap();
    assert_eq!(a.state(), State::SynReceived);
    assert_eq!(b.state(), State::SynReceived);
    let synack_a = a.poll_transmit(now, MTU).unwrap();
    let synack_b = b.poll_transmit(now, MTU).unwrap();
    assert!(synack_a.flags.contains(TcpFlags::SYN) && synack_a.ack_number == Some(SeqNumber(9001)));
    a.on_segment(now, &synack_b.repr(&[])).unwrap();
    b.on_segment(now, &synack_a.repr(&[])).unwrap();
    assert_eq!(a.state(), State::Established);
    assert_eq!(b.state(), State::Established);
    // And data flows.
    a.send(b"hello");
    let seg = a.poll_transmit(now, MTU).unwrap();
    let payload = copy_payload(&a, &seg);
    b.on_segment(now, &seg.repr(&payload)).unwrap();
    let mut buf = [0; 16];
    assert_eq!(b.recv(&mut buf), 5);
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn connect_to_closed_port_is_refused() {
    let now = Instant::from_nanos(1_000_000_000);
    let mut a = Tcb::connect(A, B, SeqNumber(100), now, config());
    let syn = a.poll_transmit(now, MTU).unwrap();
    let rst = crate::tcp::Segment::reset_for(&syn.repr(&[])).unwrap();
    assert_eq!(rst.ack_number, Some(SeqNumber(101)));
    a.on_segment(now, &rst.repr(&[])).unwrap();
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(crate::tcp::TcpError::Refused));
}

#[test]
fn syn_ack_with_wrong_ack_gets_a_reset() {
    let now = Instant::from_nanos(1_000_000_000);
    let mut a = Tcb::connect(A, B, SeqNumber(100), now, config());
    let syn = a.poll_transmit(now, MTU).unwrap();
    let mut bogus = syn.repr(&[]);
    core::mem::swap(&mut bogus.src_port, &mut bogus.dst_port);
    bogus.ack_number = Some(SeqNumber(5000));
    bogus.seq_number = SeqNumber(77);
    assert!(a.on_segment(now, &bogus).is_err());
    let rst = a.poll_transmit(now, MTU).unwrap();
    assert!(rst.flags.contains(TcpFlags::RST));
    assert_eq!(rst.seq_number, SeqNumber(5000));
    assert_eq!(a.state(), State::SynSent);
}
