//! The [`Executor`] and its run loop.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use async_task::Runnable;
use crossbeam_queue::SegQueue;

use crate::context;
use crate::event::{EventTable, EventWaiters, Interrupter};
use crate::platform::{Doorbell, Platform};
use crate::task::{self, JoinHandle};
use crate::time::Instant;
use crate::timers::TimerQueue;

/// A task's number, unique within its executor. The future given to
/// [`Executor::block_on`] is task 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u64);

/// What the executor did, in order, when tracing is on ([`Executor::enable_trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A task was spawned (and queued to run).
    Spawn(TaskId),
    /// A task was woken (queued to run again).
    Wake(TaskId),
    /// A task was polled.
    Poll(TaskId),
    /// The run loop took this many marked event slots.
    Events(usize),
    /// This many timers fired.
    Timers(usize),
    /// Nothing was runnable: the platform idled.
    Idle,
}

/// Counters an appliance can read ([`Executor::stats`], [`Handle::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tasks spawned.
    pub spawned: u64,
    /// Polls of tasks, `block_on`'s future included.
    pub polls: u64,
    /// Wake-ups that queued a task.
    pub wakes: u64,
    /// Passes of the run loop.
    pub passes: u64,
    /// Event slots taken from the event table.
    pub events: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Timers armed now (neither fired nor cancelled).
    pub timers_armed: u64,
    /// Time spent in [`Platform::idle`].
    pub idle: Duration,
}

/// Per-task metadata kept in the task's header by async-task.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
}

/// The part of the executor that wakers reach from any thread: the queue for wakes that come
/// from other threads (the executor's own wakes go to [`Core::local`], which needs no atomics).
pub(crate) struct Shared {
    foreign: SegQueue<Runnable<TaskMeta>>,
    /// Set when the executor is dropped: later wakes leak their task instead of queueing it
    /// (it must not be dropped on a foreign thread).
    closed: AtomicBool,
    foreign_wakes: AtomicU64,
    tracing: AtomicBool,
    trace: SegQueue<TraceEvent>,
    doorbell: Option<Arc<dyn Doorbell>>,
}

impl Shared {
    /// The schedule function of every task. On the executor's own thread (the common case: a
    /// task or the run loop woke it) the task goes to the local queue; from another thread it
    /// goes to the foreign queue and the doorbell rings, since the executor may be halted.
    pub(crate) fn schedule(self: &Arc<Self>, runnable: Runnable<TaskMeta>) {
        self.trace(|| TraceEvent::Wake(runnable.metadata().id));
        let mut runnable = Some(runnable);
        if context::schedule_local(self, &mut runnable) {
            return;
        }
        let Some(runnable) = runnable else { return };
        self.foreign_wakes.fetch_add(1, Ordering::Relaxed);
        if self.closed.load(Ordering::Acquire) {
            // The executor is gone; dropping the runnable here could drop a `!Send` future on
            // a foreign thread. Leak it.
            core::mem::forget(runnable);
            return;
        }
        self.foreign.push(runnable);
        self.ring();
    }

    fn ring(&self) {
        if let Some(bell) = &self.doorbell {
            bell.ring();
        }
    }

    #[inline]
    pub(crate) fn trace(&self, event: impl FnOnce() -> TraceEvent) {
        if self.tracing.load(Ordering::Relaxed) {
            self.trace.push(event());
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last reference may be a waker on a foreign thread: never drop a runnable here.
        // `Executor::drop` has already drained the queue on its own thread.
        while let Some(r) = self.foreign.pop() {
            core::mem::forget(r);
        }
    }
}

/// The executor's state, shared by its handles; reached through the thread's context by the
/// free functions ([`crate::spawn`], [`crate::sleep`], ...).
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    /// The run queue: tasks woken on the executor's thread, and foreign wakes moved in at the
    /// start of each pass.
    pub(crate) local: RefCell<VecDeque<Runnable<TaskMeta>>>,
    pub(crate) local_wakes: Cell<u64>,
    pub(crate) platform: Rc<dyn Platform>,
    pub(crate) events: &'static EventTable,
    pub(crate) timers: RefCell<TimerQueue>,
    pub(crate) event_waiters: RefCell<EventWaiters>,
    next_id: Cell<u64>,
    spawned: Cell<u64>,
    polls: Cell<u64>,
    passes: Cell<u64>,
    events_taken: Cell<u64>,
    timers_fired: Cell<u64>,
    idle_nanos: Cell<u64>,
}

impl Core {
    pub(crate) fn next_task_id(&self) -> TaskId {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        self.spawned.set(self.spawned.get() + 1);
        TaskId(id)
    }

    fn stats(&self) -> Stats {
        Stats {
            spawned: self.spawned.get(),
            polls: self.polls.get(),
            wakes: self.local_wakes.get() + self.shared.foreign_wakes.load(Ordering::Relaxed),
            passes: self.passes.get(),
            events: self.events_taken.get(),
            timers_fired: self.timers_fired.get(),
            timers_armed: self.timers.borrow().armed() as u64,
            idle: Duration::from_nanos(self.idle_nanos.get()),
        }
    }

    /// Queues a task on the executor's own thread (a new one, or one woken here).
    pub(crate) fn enqueue(&self, runnable: Runnable<TaskMeta>) {
        self.local.borrow_mut().push_back(runnable);
    }

    /// Moves the tasks woken from other threads to the back of the run queue.
    fn take_foreign(&self) {
        if self.shared.foreign.is_empty() {
            return;
        }
        let mut local = self.local.borrow_mut();
        while let Some(r) = self.shared.foreign.pop() {
            local.push_back(r);
        }
    }

    fn pop(&self) -> Option<Runnable<TaskMeta>> {
        self.local.borrow_mut().pop_front()
    }

    /// Whether nothing is runnable (checked before idling).
    fn nothing_runnable(&self) -> bool {
        self.local.borrow().is_empty() && self.shared.foreign.is_empty()
    }

    /// Takes marked events and fires due timers, waking their tasks.
    fn dispatch(&self) {
        self.platform.poll_events(self.events);
        if self.events.any_marked() {
            let n = self.event_waiters.borrow_mut().dispatch(self.events);
            if n > 0 {
                self.events_taken.set(self.events_taken.get() + n as u64);
                self.shared.trace(|| TraceEvent::Events(n));
            }
        }
        let mut timers = self.timers.borrow_mut();
        if timers.armed() > 0 {
            let n = timers.fire(self.platform.now());
            if n > 0 {
                self.timers_fired.set(self.timers_fired.get() + n as u64);
                self.shared.trace(|| TraceEvent::Timers(n));
            }
        }
    }

    /// Arms the alarm for the earliest timer and halts until something happens.
    fn idle(&self) {
        let deadline = self.timers.borrow_mut().next_deadline();
        self.platform.set_alarm(deadline);
        self.shared.trace(|| TraceEvent::Idle);
        let start = self.platform.now();
        self.platform.idle(self.events);
        let slept = self.platform.now().saturating_duration_since(start);
        self.idle_nanos
            .set(self.idle_nanos.get() + slept.as_nanos() as u64);
    }
}

/// A single-core executor. See the [crate documentation](crate) for its run loop.
///
/// It is `!Send` (it holds an `Rc`): its tasks are polled only on the thread that created it.
/// The soundness of spawning `!Send` futures rests on that, so it is checked:
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<morgana_executor::Executor>();
/// ```
pub struct Executor {
    core: Rc<Core>,
}

impl Executor {
    /// An executor on `platform` with an event table of its own (leaked: executors are few and
    /// long-lived; bare-metal platforms pass their `static` table to [`Executor::with_events`]).
    pub fn new(platform: Rc<dyn Platform>) -> Self {
        Self::with_events(platform, Box::leak(Box::new(EventTable::new())))
    }

    /// An executor on `platform` whose interrupts mark `events`.
    pub fn with_events(platform: Rc<dyn Platform>, events: &'static EventTable) -> Self {
        let doorbell = platform.doorbell();
        Executor {
            core: Rc::new(Core {
                shared: Arc::new(Shared {
                    foreign: SegQueue::new(),
                    closed: AtomicBool::new(false),
                    foreign_wakes: AtomicU64::new(0),
                    tracing: AtomicBool::new(false),
                    trace: SegQueue::new(),
                    doorbell,
                }),
                local: RefCell::new(VecDeque::new()),
                local_wakes: Cell::new(0),
                platform,
                events,
                timers: RefCell::new(TimerQueue::default()),
                event_waiters: RefCell::new(EventWaiters::new()),
                next_id: Cell::new(0),
                spawned: Cell::new(0),
                polls: Cell::new(0),
                passes: Cell::new(0),
                events_taken: Cell::new(0),
                timers_fired: Cell::new(0),
                idle_nanos: Cell::new(0),
            }),
        }
    }

    /// A handle to this executor, to keep in a struct or to spawn from outside `block_on`.
    pub fn handle(&self) -> Handle {
        Handle {
            core: self.core.clone(),
        }
    }

    /// Spawns a task; it runs once `block_on` runs.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        task::spawn_on(&self.core, future)
    }

    /// The event table that this executor's interrupts mark.
    pub fn events(&self) -> &'static EventTable {
        self.core.events
    }

    /// Something another thread can use to mark events and wake this executor, as an interrupt
    /// would (hosted and simulated platforms).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            events: self.core.events,
            doorbell: self.core.shared.doorbell.clone(),
        }
    }

    /// The executor's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// Starts recording [`TraceEvent`]s (for tests; costs a queue push per event).
    pub fn enable_trace(&self) {
        self.core.shared.tracing.store(true, Ordering::Relaxed);
    }

    /// Takes the events recorded so far, oldest first.
    pub fn take_trace(&self) -> Vec<TraceEvent> {
        core::iter::from_fn(|| self.core.shared.trace.pop()).collect()
    }

    /// Runs `future` to completion, and the spawned tasks while it runs.
    ///
    /// Tasks still pending when `future` completes stay queued for the next `block_on`, or are
    /// dropped with the executor.
    ///
    /// # Panics
    ///
    /// When called inside a running executor (it does not nest), or when a task panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let core = &*self.core;
        let _enter = context::enter(self.core.clone());
        let main = Arc::new(MainWake {
            woken: AtomicBool::new(true),
            shared: core.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            core.passes.set(core.passes.get() + 1);
            if main.woken.swap(false, Ordering::AcqRel) {
                core.polls.set(core.polls.get() + 1);
                core.shared.trace(|| TraceEvent::Poll(TaskId(0)));
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            // Run what was runnable when the pass began; later wakes wait for the next pass.
            core.take_foreign();
            let runnable_now = core.local.borrow().len();
            for _ in 0..runnable_now {
                let Some(runnable) = core.pop() else {
                    break;
                };
                core.polls.set(core.polls.get() + 1);
                core.shared
                    .trace(|| TraceEvent::Poll(runnable.metadata().id));
                runnable.run();
            }
            core.dispatch();
            if core.nothing_runnable() && !main.woken.load(Ordering::Acquire) {
                core.idle();
                core.dispatch();
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.core.shared.closed.store(true, Ordering::Release);
        // Drop the queued tasks here, on the executor's own thread, with the executor current
        // (unless another one runs here) so that their destructors can find their timers.
        let _enter = context::try_with(|_| ())
            .is_none()
            .then(|| context::enter(self.core.clone()));
        self.core.take_foreign();
        while let Some(runnable) = self.core.pop() {
            drop(runnable);
        }
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("platform", &self.core.platform.name())
            .field("stats", &self.core.stats())
            .finish()
    }
}

/// The waker of `block_on`'s future: a flag, plus the doorbell for foreign threads.
struct MainWake {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.trace(|| TraceEvent::Wake(TaskId(0)));
        self.woken.store(true, Ordering::Release);
        if !context::count_local_wake(&self.shared) {
            self.shared.foreign_wakes.fetch_add(1, Ordering::Relaxed);
            self.shared.ring();
        }
    }
}

/// A handle to an executor: spawn on it, read its clock and counters. `!Send`, cheap to clone.
#[derive(Clone)]
pub struct Handle {
    core: Rc<Core>,
}

impl Handle {
    /// The executor running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a running executor.
    pub fn current() -> Handle {
        context::with(|core| Handle { core: core.clone() })
    }

    /// Spawns a task on this executor.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        task::spawn_on(&self.core, future)
    }

    /// The platform's monotonic clock.
    pub fn now(&self) -> Instant {
        self.core.platform.now()
    }

    /// The platform under this executor.
    pub fn platform(&self) -> &Rc<dyn Platform> {
        &self.core.platform
    }

    /// The event table that this executor's interrupts mark.
    pub fn events(&self) -> &'static EventTable {
        self.core.events
    }

    /// The executor's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("platform", &self.core.platform.name())
            .finish()
    }
}

/// Runs `f` with the running executor's platform, or returns `None` outside an executor.
/// For consoles and loggers, which must work everywhere.
pub fn try_with_platform<R>(f: impl FnOnce(&dyn Platform) -> R) -> Option<R> {
    context::try_with(|core| f(&*core.platform))
}
