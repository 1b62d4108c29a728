//! RFC 5961 (blind reset, SYN and data injection get challenge ACKs and change nothing) and
//! RFC 7323 PAWS.

use core::time::Duration;

use super::harness::{A, B, LinkConfig, MTU, Pair, config};
use crate::tcp::{Dropped, Segment, State, Tcb};
use crate::wire::{TcpFlags, TcpRepr};

/// An established pair, quiet, with some data delivered to B.
fn quiet_pair(seed: u64) -> Pair {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), seed);
    pair.a.send(&[7; 3000]);
    pair.run_for(Duration::from_millis(200));
    pair
}

/// A segment "from A" with A's current numbers and its latest TSval.
fn forged(pair: &Pair) -> TcpRepr<'static> {
    let (_, snd_nxt, rcv_nxt) = pair.a.sequence_numbers();
    let tsval = pair
        .log
        .iter()
        .rev()
        .find(|s| s.to_b)
        .and_then(|s| s.seg.timestamp)
        .map(|t| t.0);
    TcpRepr {
        src_port: A.port,
        dst_port: B.port,
        seq_number: snd_nxt,
        ack_number: Some(rcv_nxt),
        flags: TcpFlags::empty(),
        window_len: 1000,
        urgent_at: 0,
        max_seg_size: None,
        window_scale: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: tsval.map(|v| (v, 0)),
        payload: &[],
    }
}

fn drain(tcb: &mut Tcb, now: morgana_executor::Instant) -> alloc::vec::Vec<Segment> {
    core::iter::from_fn(|| tcb.poll_transmit(now, MTU)).collect()
}

#[test]
fn blind_reset_in_window_is_challenged() {
    let mut pair = quiet_pair(20);
    let now = pair.now;
    let before = pair.b.as_ref().unwrap().sequence_numbers();
    let mut rst = forged(&pair);
    rst.flags = TcpFlags::RST;
    rst.ack_number = None;
    rst.seq_number += 1000;
    assert_eq!(pair.b().on_segment(now, &rst), Err(Dropped::Challenged));
    assert_eq!(pair.b().state(), State::Established);
    let out = drain(pair.b(), now);
    assert_eq!(out.len(), 1, "one challenge ACK");
    assert_eq!(out[0].ack_number, Some(before.2));
    assert!(!out[0].flags.contains(TcpFlags::RST));
    assert_eq!(pair.b.as_ref().unwrap().sequence_numbers(), before);
    // Out of window: silently dropped.
    rst.seq_number += 1 << 20;
    assert_eq!(pair.b().on_segment(now, &rst), Err(Dropped::OutOfWindow));
    assert!(drain(pair.b(), now).is_empty());
    // The exact RST does reset.
    rst.seq_number = before.2;
    assert_eq!(pair.b().on_segment(now, &rst), Ok(()));
    assert_eq!(pair.b().state(), State::Closed);
}

#[test]
fn blind_syn_is_challenged() {
    let mut pair = quiet_pair(21);
    let now = pair.now;
    let before = pair.b.as_ref().unwrap().sequence_numbers();
    let mut syn = forged(&pair);
    syn.flags = TcpFlags::SYN;
    syn.ack_number = None;
    syn.seq_number += 5;
    assert_eq!(pair.b().on_segment(now, &syn), Err(Dropped::Challenged));
    assert_eq!(pair.b().state(), State::Established);
    let out = drain(pair.b(), now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack_number, Some(before.2));
    assert_eq!(pair.b.as_ref().unwrap().sequence_numbers(), before);
}

#[test]
fn blind_data_with_a_bad_ack_is_challenged_and_not_delivered() {
    let mut pair = quiet_pair(22);
    let now = pair.now;
    let mut buf = [0; 4096];
    let queued = pair.b().recv(&mut buf);
    assert_eq!(queued, 3000);
    let before = pair.b.as_ref().unwrap().sequence_numbers();
    let mut data = forged(&pair);
    data.payload = b"injected";
    data.ack_number = data.ack_number.map(|a| a - (1 << 24));
    assert_eq!(pair.b().on_segment(now, &data), Err(Dropped::Challenged));
    assert_eq!(pair.b().recv_queue(), 0);
    assert_eq!(pair.b.as_ref().unwrap().sequence_numbers(), before);
    assert_eq!(drain(pair.b(), now).len(), 1, "challenge ACK");
    // An ACK of data never sent is challenged too.
    data.ack_number = Some(before.1 + 100);
    assert_eq!(pair.b().on_segment(now, &data), Err(Dropped::Challenged));
    assert_eq!(pair.b().recv_queue(), 0);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut pair = quiet_pair(23);
    let now = pair.now;
    let mut rst = forged(&pair);
    rst.flags = TcpFlags::RST;
    rst.seq_number += 10;
    let mut acks = 0;
    for _ in 0..100 {
        let _ = pair.b().on_segment(now, &rst);
        acks += drain(pair.b(), now).len();
    }
    assert_eq!(acks, 10);
}

#[test]
fn paws_drops_an_old_timestamp() {
    let mut pair = quiet_pair(24);
    let now = pair.now;
    let before = pair.b.as_ref().unwrap().sequence_numbers();
    let mut old = forged(&pair);
    old.payload = b"stale";
    let (tsval, tsecr) = old.timestamp.unwrap();
    old.timestamp = Some((tsval.wrapping_sub(100), tsecr));
    assert_eq!(pair.b().on_segment(now, &old), Err(Dropped::Paws));
    assert_eq!(pair.b().recv_queue(), 3000);
    assert_eq!(pair.b.as_ref().unwrap().sequence_numbers(), before);
    assert_eq!(
        drain(pair.b(), now).len(),
        1,
        "an ACK for the dropped segment"
    );
    // The same segment with a current timestamp is taken.
    old.timestamp = Some((tsval, tsecr));
    assert_eq!(pair.b().on_segment(now, &old), Ok(()));
    assert_eq!(pair.b().recv_queue(), 3005);
}
