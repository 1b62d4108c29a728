//! The congestion controllers' arithmetic on a virtual clock: NewReno's halving, CUBIC's
//! β = 0.7 cut, its curve back to `W_max`, the Reno-friendly region, fast convergence, undo.

use core::time::Duration;

use morgana_executor::Instant;

use crate::tcp::congestion::{Congestion, Cubic, NewReno, cbrt};

const MSS: usize = 1000;

fn t0() -> Instant {
    Instant::from_nanos(1_000_000_000)
}

/// Grows `cc` into congestion avoidance at `segments` by a loss there, then returns it.
fn at_loss<C: Congestion>(mut cc: C, segments: usize) -> C {
    while cc.window() < segments * MSS {
        cc.on_ack(MSS, MSS, t0(), None);
    }
    cc.set_window(segments * MSS);
    cc.on_congestion_event(segments * MSS, MSS, t0());
    cc.commit();
    cc
}

/// Acknowledges one window per `rtt` for `rounds` round trips from `start`; returns the time.
fn rounds(cc: &mut dyn Congestion, start: Instant, rtt: Duration, rounds: u32) -> Instant {
    let mut now = start;
    for _ in 0..rounds {
        now += rtt;
        let segments = cc.window() / MSS;
        for _ in 0..segments {
            cc.on_ack(MSS, MSS, now, Some(rtt));
        }
    }
    now
}

#[test]
fn cube_root() {
    assert_eq!(cbrt(0.0), 0.0);
    assert!((cbrt(27.0) - 3.0).abs() < 1e-9);
    assert!((cbrt(75.0) - 4.217_163_326).abs() < 1e-6);
    assert!((cbrt(1e-6) - 0.01).abs() < 1e-9);
    assert_eq!(cbrt(-8.0), 0.0);
}

#[test]
fn newreno_halves_flight_and_undo_restores() {
    let mut cc = NewReno::new(MSS);
    for _ in 0..30 {
        cc.on_ack(MSS, MSS, t0(), None);
    }
    let (cwnd, ssthresh) = (cc.window(), cc.ssthresh());
    cc.on_congestion_event(40 * MSS, MSS, t0());
    assert_eq!((cc.window(), cc.ssthresh()), (20 * MSS, 20 * MSS));
    // A timeout in the same episode: one segment; undo restores the state before both.
    cc.on_timeout(40 * MSS, MSS, t0());
    assert_eq!(cc.window(), MSS);
    cc.undo();
    assert_eq!((cc.window(), cc.ssthresh()), (cwnd, ssthresh));
}

#[test]
fn cubic_cuts_by_beta_and_returns_to_w_max_after_k() {
    let mut cc = at_loss(Cubic::new(MSS), 100);
    assert_eq!(cc.window(), 70 * MSS, "β = 0.7");
    assert_eq!(cc.ssthresh(), 70 * MSS);
    // K = cbrt(100 · 0.3 / 0.4) = 4.22 s; with a 100 ms RTT the cubic leads Reno.
    let rtt = Duration::from_millis(100);
    let now = rounds(&mut cc, t0(), rtt, 20);
    let at_2s = cc.window();
    assert!(
        (85 * MSS + 1..100 * MSS).contains(&at_2s),
        "concave: most of the way after 2 s, not past W_max: {at_2s}"
    );
    let now = rounds(&mut cc, now, rtt, 22);
    let at_k = cc.window();
    assert!(
        (98 * MSS..=103 * MSS).contains(&at_k),
        "at K the window is back at W_max: {at_k}"
    );
    rounds(&mut cc, now, rtt, 30);
    assert!(
        cc.window() > 110 * MSS,
        "convex beyond W_max: {}",
        cc.window()
    );
}

#[test]
fn cubic_is_reno_friendly_on_short_rtts() {
    // W_max = 10 segments, RTT 10 ms: after 100 RTTs (1 s) the cubic curve is still below
    // W_max, while Reno with α = 3(1-β)/(1+β) ≈ 0.53 per RTT (then 1) has gone well past it.
    let mut cc = at_loss(Cubic::new(MSS), 10);
    rounds(&mut cc, t0(), Duration::from_millis(10), 100);
    assert!(
        cc.window() >= 50 * MSS,
        "the Reno-friendly estimate governs: {}",
        cc.window()
    );
}

#[test]
fn cubic_fast_convergence_and_undo() {
    let mut cc = at_loss(Cubic::new(MSS), 100);
    assert_eq!(cc.w_max(), 100 * MSS);
    // A second loss below the last W_max: W_max = cwnd · (1 + β) / 2.
    cc.set_window(80 * MSS);
    cc.on_congestion_event(80 * MSS, MSS, t0());
    assert_eq!(cc.w_max(), 68 * MSS);
    assert_eq!(cc.window(), 56 * MSS);
    cc.undo();
    assert_eq!(cc.window(), 80 * MSS);
    assert_eq!(cc.w_max(), 100 * MSS);
    // A timeout: one segment, W_max from the window at the time.
    cc.on_timeout(80 * MSS, MSS, t0());
    assert_eq!(cc.window(), MSS);
    assert_eq!(cc.ssthresh(), 56 * MSS);
}
