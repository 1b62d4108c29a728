//! Timers on the simulator's virtual clock: order, ties, cancellation, intervals, timeouts.

mod common;

use std::time::Duration;

use morgana_executor::{Instant, interval, sleep, sleep_until, spawn, timeout, yield_now};

#[test]
fn timers_fire_in_deadline_order_ties_in_order_of_creation() {
    let (ex, _) = common::sim(1);
    let log = common::Log::default();
    let deadlines_ms = [30u64, 10, 20, 10, 30, 0, 10];
    ex.block_on({
        let log = log.clone();
        async move {
            let tasks: Vec<_> = deadlines_ms
                .iter()
                .enumerate()
                .map(|(i, &ms)| {
                    let log = log.clone();
                    spawn(async move {
                        sleep(Duration::from_millis(ms)).await;
                        log.push(format!("{i}@{ms}"));
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        }
    });
    assert_eq!(
        log.take(),
        ["5@0", "1@10", "3@10", "6@10", "2@20", "0@30", "4@30"]
    );
}

#[test]
fn sleep_lasts_exactly_its_duration_on_the_virtual_clock() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let start = Instant::now();
        sleep(Duration::from_millis(100)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        sleep(Duration::ZERO).await;
        sleep_until(start).await; // in the past: at once
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    });
}

#[test]
fn a_thousand_tasks_with_timers_complete() {
    let (ex, sim) = common::sim(7);
    let total = ex.block_on(async move {
        let tasks: Vec<_> = (0..1000u64)
            .map(|i| {
                let ms = sim.next_u64() % 500;
                spawn(async move {
                    let t0 = Instant::now();
                    sleep(Duration::from_millis(ms)).await;
                    assert_eq!(t0.elapsed(), Duration::from_millis(ms));
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    assert_eq!(total, 999 * 1000 / 2);
    assert_eq!(ex.stats().timers_fired as usize, 1000 - zero_length(7));
}

/// How many of the first 1000 draws of seed 7 are multiples of 500 (zero-length sleeps, which
/// complete without a timer).
fn zero_length(seed: u64) -> usize {
    let sim = morgana_executor::sim::SimPlatform::new(seed);
    (0..1000).filter(|_| sim.next_u64() % 500 == 0).count()
}

#[test]
fn timeout_returns_the_value_when_in_time_and_elapsed_otherwise() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let fast = timeout(Duration::from_millis(10), async { 5 }).await;
        assert_eq!(fast, Ok(5));
        let slow = timeout(Duration::from_millis(10), sleep(Duration::from_millis(11))).await;
        assert!(slow.is_err());
    });
}

#[test]
fn interval_ticks_on_schedule_and_skips_missed_ticks() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let start = Instant::now();
        let mut ticker = interval(Duration::from_millis(10));
        let mut at = Vec::new();
        for i in 0..6 {
            let tick = ticker.tick().await;
            at.push((tick - start).as_millis());
            if i == 2 {
                // Fall behind by 25 ms: the tick due at 30 comes at once (late), the one at 40
                // is skipped, and the schedule stays on multiples of 10 ms.
                sleep(Duration::from_millis(25)).await;
            }
        }
        assert_eq!(at, [0, 10, 20, 30, 50, 60]);
    });
}

#[test]
fn many_cancelled_timeouts_leave_no_timers_behind() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        for _ in 0..10_000 {
            // Each operation completes long before its timeout, which is then cancelled.
            timeout(Duration::from_secs(30), yield_now()).await.unwrap();
        }
        assert_eq!(morgana_executor::Handle::current().stats().timers_armed, 0);
        // Were the 10,000 cancelled timers still armed, they would fire during this sleep.
        sleep(Duration::from_secs(60)).await;
    });
    assert_eq!(ex.stats().timers_fired, 1);
}
