//! The event table: interrupts (here: other threads, or a platform hook) mark, tasks wake.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use morgana_executor::event::Event;
use morgana_executor::sim::SimPlatform;
use morgana_executor::{
    EventTable, Executor, Handle, Instant, Platform, UtcTime, spawn, yield_now,
};

#[test]
fn an_event_marked_from_another_thread_wakes_exactly_its_waiter() {
    let (ex, sim) = common::sim(1);
    sim.set_stall_after(Duration::from_secs(10));
    let ids: Vec<_> = (0..3).map(|_| ex.events().alloc().unwrap()).collect();
    let irq = ex.interrupter();
    let log = common::Log::default();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<usize>();
    let thread = std::thread::spawn({
        let ids = ids.clone();
        move || {
            ready_rx.recv().unwrap();
            for i in [1usize, 2, 0] {
                irq.raise(ids[i]);
                // Wait until the executor reports the previous wake before raising the next.
                assert_eq!(go_rx.recv().unwrap(), i);
            }
        }
    });
    ex.block_on({
        let log = log.clone();
        async move {
            let mut tasks = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let mut ev = Event::new(*id);
                let log = log.clone();
                let go = go_tx.clone();
                tasks.push(spawn(async move {
                    ev.wait().await;
                    log.push(format!("woke {i}"));
                    go.send(i).unwrap();
                }));
            }
            yield_now().await; // every task is waiting now
            ready_tx.send(()).unwrap();
            for t in tasks {
                t.await;
            }
        }
    });
    thread.join().unwrap();
    assert_eq!(log.take(), ["woke 1", "woke 2", "woke 0"]);
}

/// A platform whose `idle` is entered right after an "interrupt" marked an event: the run loop
/// found the queue empty, then the interrupt came, then the platform halts. If the halt did not
/// check the table atomically, the simulator would stall (nothing else can happen).
struct InterruptBeforeHalt {
    sim: SimPlatform,
    pending: Cell<Option<morgana_executor::EventId>>,
}

impl Platform for InterruptBeforeHalt {
    fn name(&self) -> &'static str {
        "interrupt-before-halt"
    }
    fn now(&self) -> Instant {
        self.sim.now()
    }
    fn set_alarm(&self, deadline: Option<Instant>) {
        self.sim.set_alarm(deadline)
    }
    fn idle(&self, events: &EventTable) {
        if let Some(id) = self.pending.take() {
            events.mark(id);
        }
        self.sim.idle(events)
    }
    fn wall_clock(&self) -> Option<UtcTime> {
        self.sim.wall_clock()
    }
    fn entropy(&self, buf: &mut [u8]) -> Result<(), morgana_executor::EntropyError> {
        self.sim.entropy(buf)
    }
    fn console_write(&self, bytes: &[u8]) {
        self.sim.console_write(bytes)
    }
    fn exit(&self, code: i32) -> ! {
        self.sim.exit(code)
    }
}

#[test]
fn an_event_marked_just_before_idle_is_not_lost() {
    let sim = SimPlatform::new(1);
    sim.set_stall_after(Duration::from_millis(300));
    let platform = Rc::new(InterruptBeforeHalt {
        sim,
        pending: Cell::new(None),
    });
    let ex = Executor::new(platform.clone());
    let id = ex.events().alloc().unwrap();
    ex.block_on(async {
        let mut ev = Event::new(id);
        for _ in 0..100 {
            platform.pending.set(Some(id));
            ev.wait().await;
        }
    });
    assert_eq!(ex.stats().events, 100);
}

#[test]
fn a_task_that_yields_forever_delays_an_event_by_at_most_one_pass() {
    let (ex, _) = common::sim(1);
    let id = ex.events().alloc().unwrap();
    let events = ex.events();
    let stop = Rc::new(Cell::new(false));
    ex.block_on(async {
        let handle = Handle::current();
        let s = stop.clone();
        let spinner = spawn(async move {
            let mut spins = 0u64;
            while !s.get() {
                spins += 1;
                yield_now().await;
            }
            spins
        });
        let mut ev = Event::new(id);
        for round in 0..50 {
            // Let the spinner run a few passes, then "interrupt".
            for _ in 0..(round % 5) {
                yield_now().await;
            }
            let h = handle.clone();
            let marked_at = Rc::new(Cell::new(0));
            let m = marked_at.clone();
            spawn(async move {
                m.set(h.stats().passes);
                events.mark(id);
            })
            .detach();
            ev.wait().await;
            let delay = handle.stats().passes - marked_at.get();
            assert!(delay <= 1, "round {round}: the event waited {delay} passes");
        }
        stop.set(true);
        assert!(spinner.await > 50);
    });
}

#[test]
fn an_event_fired_while_the_driver_was_busy_is_seen_by_its_next_wait() {
    let (ex, _) = common::sim(1);
    let id = ex.events().alloc().unwrap();
    let events = ex.events();
    ex.block_on(async {
        let mut ev = Event::new(id);
        events.mark(id);
        // The driver is busy for a few passes; the run loop takes the mark meanwhile.
        for _ in 0..3 {
            yield_now().await;
        }
        ev.wait().await; // returns at once: the firing was counted
        assert_eq!(Handle::current().stats().events, 1);
    });
}

#[test]
fn every_subscriber_of_a_shared_line_wakes() {
    let (ex, _) = common::sim(1);
    let id = ex.events().alloc().unwrap();
    let events = ex.events();
    let woke = Rc::new(Cell::new(0));
    ex.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut ev = Event::new(id);
                let w = woke.clone();
                spawn(async move {
                    ev.wait().await;
                    w.set(w.get() + 1);
                })
            })
            .collect();
        yield_now().await;
        events.mark(id);
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(woke.get(), 4);
}

#[test]
fn many_marks_from_a_thread_are_all_observed_without_hanging() {
    // Stress the doorbell: the thread raises as fast as it can while the executor idles between
    // raises; the waiter must see a firing after the last raise.
    let (ex, sim) = common::sim(1);
    sim.set_stall_after(Duration::from_secs(10));
    let id = ex.events().alloc().unwrap();
    let irq = ex.interrupter();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let t = std::thread::spawn(move || {
        for _ in 0..20_000 {
            irq.raise(id);
        }
        d.store(true, std::sync::atomic::Ordering::SeqCst);
        irq.raise(id);
    });
    ex.block_on(async {
        let mut ev = Event::new(id);
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            ev.wait().await;
        }
    });
    t.join().unwrap();
    assert!(ex.stats().events >= 1);
}
