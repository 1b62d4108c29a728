//! The simulator is deterministic for a given seed, and the seed matters.

mod common;

use std::time::Duration;

use morgana_executor::sync::channel;
use morgana_executor::{Instant, Platform, TraceEvent, sleep, spawn, yield_now};

/// A workload whose timing comes from the platform's (seeded) entropy and timer jitter: 40
/// tasks that sleep random times, sometimes yield, and report through a channel.
fn run(seed: u64) -> (Vec<TraceEvent>, Vec<(u32, u32, u64)>, String) {
    let (ex, sim) = common::sim(seed);
    sim.set_timer_jitter(Duration::from_micros(300));
    ex.enable_trace();
    let reports = ex.block_on(async {
        let (tx, mut rx) = channel::unbounded();
        for task in 0..40u32 {
            let tx = tx.clone();
            let sim = sim.clone();
            spawn(async move {
                for round in 0..10u32 {
                    let mut r = [0u8; 2];
                    sim.entropy(&mut r).unwrap();
                    sleep(Duration::from_micros(
                        u64::from(u16::from_le_bytes(r)) % 2000,
                    ))
                    .await;
                    if r[0] & 1 == 1 {
                        yield_now().await;
                    }
                    tx.send((task, round, Instant::now().as_nanos()))
                        .await
                        .unwrap();
                }
            })
            .detach();
        }
        drop(tx);
        let mut reports = Vec::new();
        while let Some(r) = rx.recv().await {
            reports.push(r);
        }
        reports
    });
    sim.console_write(format!("done at {:?}\n", sim.now()).as_bytes());
    (ex.take_trace(), reports, sim.output())
}

#[test]
fn one_seed_gives_one_trace() {
    let a = run(42);
    let b = run(42);
    assert_eq!(a.1.len(), 400);
    assert_eq!(a, b);
}

#[test]
fn another_seed_gives_another_trace() {
    assert_ne!(run(42).1, run(43).1);
}

#[test]
fn the_simulator_reports_a_stall_instead_of_hanging() {
    let (ex, sim) = common::sim(1);
    sim.set_stall_after(Duration::from_millis(50));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ex.block_on(async {
            let m = morgana_executor::sync::Mvar::<u8>::new_empty();
            m.take().await // nobody will ever put
        })
    }));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("simulation stalled"), "{message}");
}

/// How many seeds the seed sweeps use: 20, or 500 under `cargo xtask test --full`.
fn seeds() -> u64 {
    if std::env::var_os("MORGANA_TEST_FULL").is_some() {
        500
    } else {
        20
    }
}

#[test]
fn every_seed_of_the_sweep_is_deterministic_and_complete() {
    for seed in 0..seeds() {
        let (trace, reports, output) = run(seed);
        assert_eq!(reports.len(), 400, "seed {seed}");
        // Each task's rounds arrive in order, whatever the interleaving.
        for task in 0..40 {
            let rounds: Vec<u32> = reports
                .iter()
                .filter(|r| r.0 == task)
                .map(|r| r.1)
                .collect();
            assert_eq!(
                rounds,
                (0..10).collect::<Vec<_>>(),
                "seed {seed}, task {task}"
            );
        }
        assert_eq!((trace, reports, output), run(seed), "seed {seed}");
    }
}
