//! Timers: retransmission backoff and giving up, zero-window probes, delayed ACKs, keepalive.

use alloc::vec::Vec;
use core::time::Duration;

use super::harness::{LinkConfig, Pair, config};
use crate::tcp::{Config, State, TcpError};

#[test]
fn retransmission_backs_off_then_gives_up() {
    let cfg = Config {
        max_retries: 5,
        ..config()
    };
    let mut pair = Pair::established(cfg, config(), LinkConfig::clean(), 30);
    // The link to B goes dead.
    pair.filter = Some(alloc::boxed::Box::new(|s| s.to_b));
    let from = pair.log.len();
    let start = pair.now;
    pair.a.send(b"into the void");
    assert!(pair.run_until(Duration::from_secs(600), |p| p.a.state() == State::Closed));
    assert_eq!(pair.a.error(), Some(TcpError::TimedOut));
    let times: Vec<Duration> = pair
        .sent_since(from, true)
        .iter()
        .map(|s| s.at - start)
        .collect();
    assert_eq!(
        times.len(),
        6,
        "the original and five retransmissions: {times:?}"
    );
    let gaps: Vec<u128> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    for w in gaps.windows(2) {
        assert_eq!(w[1], w[0] * 2, "exponential backoff: {gaps:?}");
    }
    assert!(gaps[0] >= 200, "at least the minimum RTO");
}

#[test]
fn zero_window_is_probed_until_it_opens() {
    let small = Config {
        recv_buffer: 4000,
        ..config()
    };
    let mut pair = Pair::established(config(), small, LinkConfig::clean(), 31);
    let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    let sent = pair.a.send(&data);
    assert_eq!(sent, 20_000);
    pair.run_for(Duration::from_secs(2));
    assert_eq!(pair.b().recv_queue(), 4000, "the window filled");
    // B's application sleeps: A probes with growing intervals and does not give up.
    let from = pair.log.len();
    pair.run_for(Duration::from_secs(30));
    assert_eq!(pair.a.state(), State::Established);
    let probes: Vec<_> = pair.sent_since(from, true);
    assert!(probes.len() >= 3, "probes sent: {}", probes.len());
    let gaps: Vec<_> = probes.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "backoff: {gaps:?}");
    // The application reads; the window update (or the next probe's ACK) restarts the flow.
    let mut got = Vec::new();
    let mut buf = [0; 1000];
    let ok = pair.run_until(Duration::from_secs(120), |p| {
        loop {
            let n = p.b.as_mut().unwrap().recv(&mut buf);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == 20_000
    });
    assert!(ok, "all data arrives");
    assert_eq!(got, data);
}

#[test]
fn delayed_ack_fires_after_40ms_and_every_second_segment_is_acked() {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), 32);
    let from = pair.log.len();
    pair.a.send(b"one small segment");
    pair.run_for(Duration::from_millis(200));
    let acks = pair.sent_since(from, false);
    assert_eq!(acks.len(), 1);
    let data_at = pair.sent_since(from, true)[0].at;
    assert_eq!(
        acks[0].at - data_at,
        Duration::from_millis(10 + 40),
        "delivery + delayed ACK"
    );
    // Two full segments: acknowledged at once.
    let from = pair.log.len();
    pair.a.send(&[0; 2 * 1448]);
    pair.run_for(Duration::from_millis(200));
    let data = pair.sent_since(from, true);
    let acks = pair.sent_since(from, false);
    assert_eq!(data.len(), 2);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].at - data[1].at, Duration::from_millis(10));
}

#[test]
fn keepalive_probes_and_times_out() {
    let cfg = Config {
        keepalive: Some(Duration::from_secs(10)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_probes: 3,
        ..config()
    };
    let mut pair = Pair::established(cfg, config(), LinkConfig::clean(), 33);
    let from = pair.log.len();
    pair.run_for(Duration::from_secs(30));
    assert_eq!(
        pair.a.state(),
        State::Established,
        "answered probes keep it open"
    );
    assert!(pair.sent_since(from, true).len() >= 2);
    pair.b = None;
    pair.filter = Some(alloc::boxed::Box::new(|s| s.to_b));
    assert!(pair.run_until(Duration::from_secs(60), |p| p.a.state() == State::Closed));
    assert_eq!(pair.a.error(), Some(TcpError::TimedOut));
}
