//! Loss recovery end to end: several losses in one window (SACK against NewReno), a link that
//! only reorders (undo and RACK against a clean link), a spurious timeout (Eifel undo), and
//! D-SACK blocks from the receiver.

extern crate std;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use super::data::senders;
use super::harness::{LinkConfig, Pair, bulk, config, pattern};
use crate::tcp::{Config, RecoveryStats};
use crate::wire::SeqNumber;

/// A's first data byte (the harness's ISS plus one).
const DATA: u32 = 0xffff_f001;
const MSS: u32 = 1448;

/// Sends `bytes` from A to B over a clean link, dropping the first transmission of the
/// segments whose indexes are in `drop`; returns the time until B has everything, and A's
/// counters.
fn transfer_dropping(config_a: Config, drop: &[u32], bytes: usize) -> (Duration, RecoveryStats) {
    let mut pair = Pair::established(config_a, config(), LinkConfig::clean(), 7);
    let mut pending: Vec<SeqNumber> = drop.iter().map(|i| SeqNumber(DATA) + i * MSS).collect();
    pair.filter = Some(Box::new(move |s| {
        if !s.to_b || s.seg.payload_len == 0 {
            return false;
        }
        match pending.iter().position(|&q| q == s.seg.seq_number) {
            Some(i) => {
                pending.swap_remove(i);
                true
            }
            None => false,
        }
    }));
    let data = pattern(bytes, 3);
    let start = pair.now;
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0; 16384];
    let ok = pair.run_until(Duration::from_secs(60), |p| {
        sent += p.a.send(&data[sent..]);
        let b = p.b.as_mut().unwrap();
        loop {
            let n = b.recv(&mut buf);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() >= bytes
    });
    assert!(ok && got == data, "transfer completes intact");
    assert!(pair.a.check_invariants().is_ok());
    (pair.now - start, pair.a.recovery_stats())
}

#[test]
fn sack_repairs_several_losses_in_one_round_trip() {
    // The first flight is ten segments (RFC 6928); lose three of them. 14,480 bytes: just
    // that flight, so the tail cannot help.
    let bytes = 10 * MSS as usize;
    let lost = [1, 3, 5];
    let sack = transfer_dropping(config(), &lost, bytes);
    let newreno = transfer_dropping(
        Config {
            sack: false,
            ..config()
        },
        &lost,
        bytes,
    );
    std::eprintln!("three losses in a window: SACK {sack:?}, NewReno {newreno:?}");
    let (sack_time, sack_stats) = sack;
    let (newreno_time, newreno_stats) = newreno;
    assert_eq!(sack_stats.timeouts, 0, "SACK needs no timeout");
    assert_eq!(sack_stats.fast_recoveries, 1);
    assert_eq!(
        sack_stats.retransmits, 3,
        "exactly the three holes go again"
    );
    // One RTT (20 ms) for the flight, one for the repairs, a little for the last ACK.
    assert!(
        sack_time <= Duration::from_millis(50),
        "SACK repairs the window in about one RTT: {sack_time:?}"
    );
    // NewReno repairs one hole per round trip (RFC 6582 partial ACKs), or times out.
    assert!(
        newreno_time >= sack_time + Duration::from_millis(35),
        "NewReno needs more round trips: {newreno_time:?} against {sack_time:?}"
    );
    assert!(newreno_stats.retransmits >= 3);
}

/// A link that only reorders: a fifth of the segments held back by up to 4 ms (a fifth of
/// the RTT), no loss, no duplicates.
fn reordering() -> LinkConfig {
    LinkConfig {
        reorder: 0.2,
        reorder_by: Duration::from_millis(4),
        ..LinkConfig::clean()
    }
}

#[test]
fn reordering_alone_costs_little_goodput() {
    // Goodput on the reordering link is at least 0.8 of the clean link's for every sender:
    // after the first spurious fast retransmit is undone (Eifel) the path is known to
    // reorder and RACK's quarter-RTT window absorbs the 4 ms displacements. Before this work,
    // the same transfer took about four times as long.
    let bytes = 1 << 20;
    for (name, sender) in senders() {
        let (mut clean, mut reo) = (0.0, 0.0);
        let mut undos = 0;
        let mut recoveries = 0;
        for seed in 1..=5 {
            clean += bulk(sender.clone(), LinkConfig::clean(), seed, bytes)
                .0
                .as_secs_f64();
            let (took, stats) = bulk(sender.clone(), reordering(), seed, bytes);
            reo += took.as_secs_f64();
            undos += stats.undos;
            recoveries += stats.fast_recoveries;
            assert_eq!(
                stats.timeouts, 0,
                "{name} seed {seed}: no timeout without loss"
            );
        }
        let ratio = clean / reo;
        std::eprintln!(
            "reordering only, {name}: goodput {ratio:.2} of a clean link ({recoveries} recoveries, {undos} undone)"
        );
        assert!(ratio >= 0.8, "{name}: goodput {ratio:.2} of a clean link");
        assert_eq!(
            undos, recoveries,
            "{name}: every recovery was spurious and undone"
        );
    }
}

#[test]
fn spurious_timeout_is_undone() {
    for (name, sender) in senders() {
        let mut pair = Pair::established(sender, config(), LinkConfig::clean(), 9);
        // Grow the window with a first transfer.
        let data = pattern(200_000, 5);
        let mut sent = 0;
        let mut buf = [0; 16384];
        let mut got = 0;
        pair.run_until(Duration::from_secs(10), |p| {
            sent += p.a.send(&data[sent..]);
            got += p.b.as_mut().unwrap().recv(&mut buf);
            got == data.len()
        });
        let cwnd = pair.a.congestion_window();
        let ssthresh = pair.a.ssthresh();
        // The path's delay jumps to 300 ms each way: the 200 ms RTO expires while the
        // segments are only late.
        pair.link.delay = Duration::from_millis(300);
        pair.a.send(&pattern(10_000, 6));
        pair.run_until(Duration::from_secs(10), |p| {
            got += p.b.as_mut().unwrap().recv(&mut buf);
            got == data.len() + 10_000
        });
        let stats = pair.a.recovery_stats();
        std::eprintln!(
            "spurious RTO, {name}: {stats:?}, cwnd {cwnd} -> {}",
            pair.a.congestion_window()
        );
        assert!(stats.timeouts >= 1, "{name}: the timer expired");
        assert!(stats.undos >= 1, "{name}: Eifel found it spurious");
        assert!(
            pair.a.congestion_window() >= cwnd && pair.a.ssthresh() >= ssthresh,
            "{name}: window and threshold restored"
        );
    }
}

#[test]
fn receiver_reports_duplicates_with_dsack() {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), 11);
    pair.a.send(&pattern(3000, 1));
    pair.run_for(Duration::from_millis(100));
    // The first segment arrives again, as a duplicated packet would.
    let first = pair
        .log
        .iter()
        .find(|s| s.to_b && s.seg.payload_len > 0)
        .cloned()
        .expect("data sent");
    let from = pair.log.len();
    pair.deliver(&first);
    pair.poll_output();
    let acks = pair.sent_since(from, false);
    let left = first.seg.seq_number;
    let right = left + first.seg.payload_len as u32;
    assert_eq!(acks.len(), 1);
    assert_eq!(
        acks[0].seg.sack_ranges[0],
        Some((left, right)),
        "D-SACK first"
    );
    assert_eq!(acks[0].seg.sack_ranges[1], None);
}

#[test]
fn without_timestamps_dsacks_undo_spurious_recoveries() {
    // RFC 3708: no timestamps, so no Eifel; the receiver's D-SACKs for the needless
    // retransmissions prove them spurious, and RACK takes over once the path reorders.
    let sender = Config {
        timestamps: false,
        ..config()
    };
    let bytes = 1 << 20;
    let (mut clean, mut reo) = (0.0, 0.0);
    let (mut undos, mut recoveries) = (0, 0);
    for seed in 1..=5 {
        clean += bulk(sender.clone(), LinkConfig::clean(), seed, bytes)
            .0
            .as_secs_f64();
        let (took, stats) = bulk(sender.clone(), reordering(), seed, bytes);
        reo += took.as_secs_f64();
        undos += stats.undos;
        recoveries += stats.fast_recoveries;
    }
    let ratio = clean / reo;
    std::eprintln!(
        "reordering only, SACK without timestamps: goodput {ratio:.2} of a clean link ({recoveries} recoveries, {undos} undone)"
    );
    assert!(undos >= 1, "D-SACKs undid a spurious recovery");
    assert!(ratio >= 0.8, "goodput {ratio:.2} of a clean link");
}

/// Both ways at once: B's data segments carry SACK blocks for A's lost segments, and those
/// blocks take room from the payload, not from the MTU (the harness fails any segment that
/// does not fit). A 1448-byte payload with three SACK blocks would be a 1536-byte datagram.
#[test]
fn data_segments_carrying_sack_blocks_still_fit_the_mtu() {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), 11);
    // Lose the first transmission of A's segments 1, 3 and 5: B holds three holes.
    let mut pending: Vec<SeqNumber> = [1u32, 3, 5]
        .iter()
        .map(|i| SeqNumber(DATA) + i * MSS)
        .collect();
    pair.filter = Some(Box::new(move |s| {
        if !s.to_b || s.seg.payload_len == 0 {
            return false;
        }
        match pending.iter().position(|&q| q == s.seg.seq_number) {
            Some(i) => {
                pending.swap_remove(i);
                true
            }
            None => false,
        }
    }));
    let data = pattern(64 * 1024, 5);
    let (mut sent_a, mut sent_b) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let mut buf = [0; 16384];
    let mut sacks_on_data = 0;
    let ok = pair.run_until(Duration::from_secs(30), |p| {
        sent_a += p.a.send(&data[sent_a..]);
        let b = p.b.as_mut().unwrap();
        sent_b += b.send(&data[sent_b..]);
        loop {
            let n = b.recv(&mut buf);
            if n == 0 {
                break;
            }
            got_b.extend_from_slice(&buf[..n]);
        }
        loop {
            let n = p.a.recv(&mut buf);
            if n == 0 {
                break;
            }
            got_a.extend_from_slice(&buf[..n]);
        }
        got_a.len() == data.len() && got_b.len() == data.len()
    });
    for s in pair.log.iter().filter(|s| !s.to_b && s.seg.payload_len > 0) {
        if s.seg.sack_ranges.iter().flatten().count() > 0 {
            sacks_on_data += 1;
        }
    }
    assert!(ok, "both transfers finish");
    assert!(got_a == data && got_b == data);
    assert!(sacks_on_data > 0, "B's data carried SACK blocks");
}
