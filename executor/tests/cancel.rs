//! Cancellation is dropping: destructors run, timers and waits are withdrawn.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use morgana_executor::combinators::pick;
use morgana_executor::sync::Mvar;
use morgana_executor::{sleep, spawn, timeout, yield_now};

struct SetOnDrop(Rc<Cell<bool>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn cancel_drops_the_future_and_runs_its_destructors() {
    let (ex, _) = common::sim(1);
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    ex.block_on(async move {
        let task = spawn(async move {
            let _guard = SetOnDrop(d);
            sleep(Duration::from_secs(3600)).await;
            unreachable!("the sleep is cancelled first");
        });
        yield_now().await; // let it start and arm its timer
        assert_eq!(task.cancel().await, None);
    });
    assert!(dropped.get());
    // The cancelled task's hour-long timer is gone with it.
    assert_eq!(ex.stats().timers_armed, 0);
    assert_eq!(ex.stats().timers_fired, 0);
}

#[test]
fn dropping_an_unpolled_cancel_still_cancels() {
    let (ex, _) = common::sim(1);
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    ex.block_on(async move {
        let task = spawn(async move {
            let _guard = SetOnDrop(d);
            sleep(Duration::from_secs(1)).await;
            unreachable!("cancelled before the sleep ends");
        });
        yield_now().await;
        drop(task.cancel());
        sleep(Duration::from_secs(2)).await;
    });
    assert!(dropped.get());
}

#[test]
fn cancel_of_a_finished_task_returns_its_output() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let task = spawn(async { 7 });
        yield_now().await;
        yield_now().await;
        assert!(task.is_finished());
        assert_eq!(task.cancel().await, Some(7));
    });
}

#[test]
fn dropping_the_join_handle_detaches() {
    let (ex, _) = common::sim(1);
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    ex.block_on(async move {
        drop(spawn(async move {
            sleep(Duration::from_millis(5)).await;
            d.set(true);
        }));
        sleep(Duration::from_millis(10)).await;
    });
    assert!(done.get());
}

#[test]
fn timeout_cancels_the_slow_future_and_pick_drops_the_loser() {
    let (ex, sim) = common::sim(1);
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    ex.block_on(async move {
        let slow = async move {
            let _guard = SetOnDrop(d);
            sleep(Duration::from_secs(10)).await;
        };
        assert!(timeout(Duration::from_millis(50), slow).await.is_err());
        let winner = pick(
            async {
                sleep(Duration::from_millis(1)).await;
                "fast"
            },
            async {
                sleep(Duration::from_secs(60)).await;
                "slow"
            },
        )
        .await;
        assert_eq!(winner, "fast");
    });
    assert!(dropped.get());
    // 50 ms for the timeout, 1 ms for the pick; the losers' 10 s and 60 s timers are gone.
    assert_eq!(
        morgana_executor::Platform::now(&*sim).as_nanos(),
        51_000_000
    );
    assert_eq!(ex.stats().timers_armed, 0);
}

#[test]
fn a_cancelled_mvar_taker_does_not_swallow_the_value() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let m: Mvar<u32> = Mvar::new_empty();
        let m1 = m.clone();
        let first = spawn(async move { m1.take().await });
        let m2 = m.clone();
        let second = spawn(async move { m2.take().await });
        yield_now().await; // both wait, first in front
        m.put(5).await; // wakes `first`...
        first.cancel().await; // ...which is cancelled before it runs
        assert_eq!(second.await, 5);
    });
}
