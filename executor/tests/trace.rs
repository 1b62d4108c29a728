//! The run loop's order of polls and wakes, asserted as a trace.

mod common;

use morgana_executor::{TaskId, TraceEvent::*, spawn, yield_now};

#[test]
fn spawned_tasks_run_in_spawn_order_and_yielders_go_to_the_back() {
    let (ex, _) = common::sim(1);
    ex.enable_trace();
    ex.block_on(async {
        let a = spawn(async {
            yield_now().await;
            1
        });
        let b = spawn(async { 2 });
        assert_eq!(a.await + b.await, 3);
    });
    let t = |n| TaskId(n);
    assert_eq!(
        ex.take_trace(),
        vec![
            // Pass 1: main spawns a and b, then waits on a.
            Poll(t(0)),
            Spawn(t(1)),
            Spawn(t(2)),
            // a yields (wakes itself) and goes behind b; b completes and wakes nobody.
            Poll(t(1)),
            Wake(t(1)),
            Poll(t(2)),
            // Pass 2: a completes and wakes main (its awaiter).
            Poll(t(1)),
            Wake(t(0)),
            // Pass 3: main takes both outputs (b is already done) and returns.
            Poll(t(0)),
        ]
    );
}

#[test]
fn a_task_woken_during_a_pass_runs_in_the_next_pass() {
    let (ex, _) = common::sim(1);
    let log = common::Log::default();
    ex.block_on({
        let log = log.clone();
        async move {
            let l1 = log.clone();
            let l2 = log.clone();
            let first = spawn(async move {
                for i in 0..3 {
                    l1.push(format!("a{i}"));
                    yield_now().await;
                }
            });
            let second = spawn(async move {
                for i in 0..3 {
                    l2.push(format!("b{i}"));
                    yield_now().await;
                }
            });
            first.await;
            second.await;
        }
    });
    assert_eq!(log.take(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn counters_follow_the_work() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        for _ in 0..10 {
            spawn(async { yield_now().await }).await;
        }
    });
    let s = ex.stats();
    assert_eq!(s.spawned, 10);
    // Each task: polled twice (yield), main polled once per task plus once at start.
    assert_eq!(s.polls, 10 * 2 + 11);
    // Each task wakes itself once and wakes main once.
    assert_eq!(s.wakes, 20);
}
