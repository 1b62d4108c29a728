//! Mvar, channels and Notify.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use morgana_executor::sync::channel::{self, TryRecvError, TrySendError};
use morgana_executor::sync::{Mvar, Notify};
use morgana_executor::{sleep, spawn, yield_now};

#[test]
fn mvar_ping_pong() {
    let (ex, _) = common::sim(1);
    let n = ex.block_on(async {
        let (ping, pong) = (Mvar::new_empty(), Mvar::new_empty());
        let (p, q) = (ping.clone(), pong.clone());
        let echo = spawn(async move {
            loop {
                let v: u32 = p.take().await;
                if v == u32::MAX {
                    break;
                }
                q.put(v + 1).await;
            }
        });
        let mut v = 0;
        for _ in 0..10_000 {
            ping.put(v).await;
            v = pong.take().await;
        }
        ping.put(u32::MAX).await;
        echo.await;
        v
    });
    assert_eq!(n, 10_000);
}

#[test]
fn mvar_put_waits_while_full_and_try_variants_do_not() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let m = Mvar::new(1);
        assert_eq!(m.try_put(2), Err(2));
        let m2 = m.clone();
        let putter = spawn(async move { m2.put(3).await });
        yield_now().await;
        assert!(!putter.is_finished());
        assert_eq!(m.take().await, 1);
        putter.await;
        assert_eq!(m.try_take(), Some(3));
        assert!(m.is_empty());
        assert_eq!(m.try_take(), None);
    });
}

#[test]
fn bounded_channel_applies_backpressure_and_keeps_order() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let (tx, mut rx) = channel::bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let sent = Rc::new(Cell::new(0));
        let s = sent.clone();
        let producer = spawn(async move {
            for i in 3..=100 {
                tx.send(i).await.unwrap();
                s.set(i);
            }
        });
        yield_now().await;
        assert_eq!(sent.get(), 0, "the producer waits for room");
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        producer.await;
        assert_eq!(got, (1..=100).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn dropping_the_receiver_fails_sends_and_frees_waiting_senders() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let (tx, rx) = channel::bounded(1);
        tx.send(1).await.unwrap();
        let tx2 = tx.clone();
        let blocked = spawn(async move { tx2.send(2).await });
        yield_now().await;
        drop(rx);
        assert_eq!(blocked.await.unwrap_err().0, 2);
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
    });
}

#[test]
fn unbounded_channel_as_a_stream() {
    use futures::StreamExt;
    let (ex, _) = common::sim(1);
    let sum: u64 = ex.block_on(async {
        let (tx, rx) = channel::unbounded();
        for i in 0..1000u64 {
            tx.try_send(i).unwrap();
        }
        drop(tx);
        rx.fold(0, |a, b| async move { a + b }).await
    });
    assert_eq!(sum, 999 * 1000 / 2);
}

#[test]
fn notify_keeps_one_permit_and_wakes_waiters() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let n = Rc::new(Notify::new());
        n.notify_one();
        n.notify_one(); // coalesces with the first
        n.notified().await; // takes the permit at once
        let woke = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (n, w) = (n.clone(), woke.clone());
                spawn(async move {
                    n.notified().await;
                    w.set(w.get() + 1);
                })
            })
            .collect();
        yield_now().await;
        n.notify_one();
        sleep(Duration::from_millis(1)).await;
        assert_eq!(woke.get(), 1);
        n.notify_waiters();
        for w in waiters {
            w.await;
        }
        assert_eq!(woke.get(), 3);
    });
}

#[test]
fn notify_from_another_thread_wakes_a_halted_executor() {
    let (ex, sim) = common::sim(1);
    sim.set_stall_after(Duration::from_secs(10));
    let n = Arc::new(Notify::new());
    let n2 = n.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        n2.notify_one();
    });
    ex.block_on(async move { n.notified().await });
    t.join().unwrap();
}

#[test]
fn notify_one_after_notify_waiters_is_not_lost() {
    let (ex, sim) = common::sim(1);
    sim.set_stall_after(Duration::from_millis(300));
    ex.block_on(async {
        let n = Rc::new(Notify::new());
        let early: Vec<_> = (0..2)
            .map(|_| {
                let n = n.clone();
                spawn(async move { n.notified().await })
            })
            .collect();
        yield_now().await; // both wait
        n.notify_waiters(); // both notified, neither has run yet
        let n2 = n.clone();
        let late = spawn(async move { n2.notified().await });
        yield_now().await; // `late` listens while the early two are notified but not done
        n.notify_one(); // must reach `late`
        for t in early {
            t.await;
        }
        late.await;
    });
}

#[test]
fn a_cancelled_sender_passes_the_free_place_on() {
    let (ex, _) = common::sim(1);
    ex.block_on(async {
        let (tx, mut rx) = channel::bounded(1);
        tx.send(0).await.unwrap();
        let (a, b) = (tx.clone(), tx.clone());
        let first = spawn(async move { a.send(1).await });
        let second = spawn(async move { b.send(2).await });
        yield_now().await; // both wait for room, `first` in front
        assert_eq!(rx.recv().await, Some(0)); // room for one: `first` is woken...
        first.cancel().await; // ...and cancelled before it ran
        second.await.unwrap();
        assert_eq!(rx.recv().await, Some(2));
    });
}
