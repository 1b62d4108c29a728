//! Data: both ways, Nagle, and bulk transfers under loss, reordering and duplication, timed
//! against the Mathis et al. formula.

extern crate std;

use alloc::vec::Vec;
use core::time::Duration;

use super::harness::{LinkConfig, Pair, bulk, config, pattern};
use crate::tcp::{Config, CongestionAlgorithm};

#[test]
fn data_both_ways() {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), 40);
    let ab = pattern(100_000, 1);
    let ba = pattern(70_000, 2);
    let (mut sent_ab, mut sent_ba) = (0, 0);
    let (mut got_ab, mut got_ba) = (Vec::new(), Vec::new());
    let mut buf = [0; 8192];
    let ok = pair.run_until(Duration::from_secs(30), |p| {
        sent_ab += p.a.send(&ab[sent_ab..]);
        let b = p.b.as_mut().unwrap();
        sent_ba += b.send(&ba[sent_ba..]);
        loop {
            let n = b.recv(&mut buf);
            got_ab.extend_from_slice(&buf[..n]);
            let m = p.a.recv(&mut buf);
            got_ba.extend_from_slice(&buf[..m]);
            if n == 0 && m == 0 {
                break;
            }
        }
        got_ab.len() == ab.len() && got_ba.len() == ba.len()
    });
    assert!(ok);
    assert_eq!(got_ab, ab);
    assert_eq!(got_ba, ba);
}

/// Minshall's Nagle: a response of one full segment and a short tail goes out whole at once,
/// as a keep-alive HTTP server needs (plain Nagle would hold the tail until the peer's delayed
/// ACK for the first segment); a second short write waits while that tail is unacknowledged.
#[test]
fn a_short_tail_after_full_segments_is_not_held_by_nagle() {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), 43);
    let from = pair.log.len();
    pair.a.send(&[7u8; 2106]);
    pair.poll_output();
    let now: Vec<usize> = pair
        .sent_since(from, true)
        .iter()
        .map(|s| s.seg.payload_len)
        .filter(|&n| n > 0)
        .collect();
    assert_eq!(now, [1448, 658], "both at once");
    let from = pair.log.len();
    pair.a.send(b"more");
    pair.poll_output();
    assert!(
        pair.sent_since(from, true)
            .iter()
            .all(|s| s.seg.payload_len == 0),
        "held: a short segment is in flight"
    );
    pair.run_for(Duration::from_millis(100));
    let later: Vec<usize> = pair
        .sent_since(from, true)
        .iter()
        .map(|s| s.seg.payload_len)
        .filter(|&n| n > 0)
        .collect();
    assert_eq!(later, [4], "sent once the tail was acknowledged");
}

#[test]
fn nagle_coalesces_small_writes() {
    for (nodelay, expect_max) in [(false, 2), (true, 10)] {
        let cfg = Config {
            nodelay,
            ..config()
        };
        let mut pair = Pair::established(cfg, config(), LinkConfig::clean(), 41);
        let from = pair.log.len();
        for _ in 0..10 {
            pair.a.send(b"tiny");
            pair.poll_output();
        }
        pair.run_for(Duration::from_millis(200));
        let data: Vec<_> = pair
            .sent_since(from, true)
            .into_iter()
            .filter(|s| s.seg.payload_len > 0)
            .collect();
        let bytes: usize = data.iter().map(|s| s.seg.payload_len).sum();
        assert_eq!(bytes, 40);
        if nodelay {
            assert_eq!(data.len(), expect_max, "every write goes out");
        } else {
            // The first write goes out; the other nine wait for its ACK and go as one.
            assert_eq!(data.len(), expect_max, "Nagle coalesces");
            assert_eq!(data[1].seg.payload_len, 36);
        }
    }
}

fn full() -> bool {
    std::env::var_os("MORGANA_TEST_FULL").is_some()
}

/// The four senders the Mathis tests run: NewReno and CUBIC, with and without SACK.
pub(super) fn senders() -> [(&'static str, Config); 4] {
    let with = |congestion, sack| Config {
        congestion,
        sack,
        ..config()
    };
    [
        ("newreno+sack", with(CongestionAlgorithm::NewReno, true)),
        ("newreno", with(CongestionAlgorithm::NewReno, false)),
        ("cubic+sack", with(CongestionAlgorithm::Cubic, true)),
        ("cubic", with(CongestionAlgorithm::Cubic, false)),
    ]
}

/// Runs the seeds at loss `p` for each sender, checks against Mathis, and returns the worst
/// ratio.
fn bulk_at(p: f64) -> f64 {
    let (seeds, bytes) = if full() {
        (200, 10 << 20)
    } else {
        (20, 1 << 20)
    };
    // The MSS in use (1460 less the 12 bytes of timestamps) and the link's base RTT.
    let mss = 1448.0;
    let rtt = 0.020;
    let mut worst_all: f64 = 0.0;
    for (name, sender) in senders() {
        let mut worst: f64 = 0.0;
        let mut total = 0.0;
        let mut ratios = 0.0;
        for seed in 1..=seeds {
            let (took, _) = bulk(sender.clone(), LinkConfig::lossy(p), seed, bytes);
            let took = took.as_secs_f64();
            total += took;
            if p > 0.0 {
                let rate = 1.22 * mss / (rtt * p.sqrt());
                let predicted = bytes as f64 / rate;
                let ratio = took / predicted;
                ratios += ratio;
                worst = worst.max(ratio);
                assert!(
                    ratio <= 3.0,
                    "{name} seed {seed} at p={p}: {took:.3} s, Mathis predicts {predicted:.3} s (ratio {ratio:.2})"
                );
            }
        }
        let n = f64::from(seeds as u32);
        std::eprintln!(
            "bulk p={p} {name}: {seeds} seeds of {bytes} bytes, mean {:.3} s, time/Mathis ratio mean {:.2} worst {worst:.2}",
            total / n,
            ratios / n,
        );
        worst_all = worst_all.max(worst);
    }
    worst_all
}

#[test]
fn bulk_transfer_without_loss() {
    bulk_at(0.0);
}

#[test]
fn bulk_transfer_at_one_percent_loss() {
    bulk_at(0.01);
}

#[test]
fn bulk_transfer_at_five_percent_loss() {
    bulk_at(0.05);
}
