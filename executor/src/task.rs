//! Tasks: [`spawn`], [`JoinHandle`], [`yield_now`].

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use async_task::{Builder, Task};

use crate::context;
use crate::executor::{Core, TaskId, TaskMeta, TraceEvent};

/// Spawns `future` as a task on the running executor. The future need not be `Send`.
///
/// The task starts in the next pass of the run loop. Dropping the returned [`JoinHandle`]
/// detaches the task; it runs on.
///
/// # Panics
///
/// Outside a running executor; use [`crate::Executor::spawn`] there.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with(|core| spawn_on(core, future))
}

/// The one place a task is created.
pub(crate) fn spawn_on<F>(core: &Core, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let id = core.next_task_id();
    let shared = core.shared.clone();
    let schedule = move |runnable| shared.schedule(runnable);
    // SAFETY: `spawn_unchecked` lifts async-task's `Send` bound on the future; its contract is
    // that a `!Send` future's `Runnable` is run and dropped only on the thread that spawned it.
    // That holds here because:
    // - the `Core` that spawns belongs to one `Executor`, which is `!Send` (it and every
    //   `Handle` hold an `Rc`), so spawning happens on the executor's thread;
    // - runnables are popped, run and dropped only by `Executor::block_on` and `Executor::drop`,
    //   which run on that thread; wakers on other threads only *move* a runnable into the
    //   foreign queue (`Shared::schedule`), and when the executor is gone (`closed`), or that
    //   queue is dropped by a foreign waker's last reference, runnables are leaked, never
    //   dropped; the local queue lives in the `!Send` `Core` and is touched on its thread only;
    // - the schedule function captures only an `Arc<Shared>` and is `Send + Sync + 'static`,
    //   so wakers may be used and dropped on any thread, as async-task requires of them;
    // - the future and its output are `'static`, so no borrow can be outlived;
    // - there is no global executor: the current one is found in a per-thread slot (one slot
    //   on single-core bare metal), so two test threads never share a queue.
    // The `JoinHandle` is `!Send`, so a `!Send` output is never dropped on another thread.
    let (runnable, task) = unsafe {
        Builder::new()
            .metadata(TaskMeta { id })
            .spawn_unchecked(move |_| future, schedule)
    };
    core.shared.trace(|| TraceEvent::Spawn(id));
    core.enqueue(runnable);
    JoinHandle {
        task: Some(task),
        _not_send: PhantomData,
    }
}

/// A spawned task's handle: await it for the task's output, drop it to detach the task, or
/// [`JoinHandle::cancel`] it.
#[must_use = "dropping a JoinHandle detaches the task; call .detach() to say so"]
pub struct JoinHandle<T> {
    task: Option<Task<T, TaskMeta>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> JoinHandle<T> {
    /// The task's number.
    pub fn id(&self) -> TaskId {
        self.task().metadata().id
    }

    /// Whether the task has finished (completed or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.task().is_finished()
    }

    /// Lets the task run on without anyone awaiting it.
    pub fn detach(mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }

    /// Cancels the task: its future is dropped (running its destructors) at the executor's
    /// next pass. The returned future gives its output if it had already completed; dropping
    /// that future unpolled still cancels.
    pub fn cancel(mut self) -> impl Future<Output = Option<T>> {
        let task = self
            .task
            .take()
            .expect("JoinHandle used after detach or cancel");
        task.cancel()
    }

    fn task(&self) -> &Task<T, TaskMeta> {
        self.task
            .as_ref()
            .expect("JoinHandle used after detach or cancel")
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    /// # Panics
    ///
    /// When the task was dropped unfinished because its executor was dropped.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let task = self
            .get_mut()
            .task
            .as_mut()
            .expect("JoinHandle polled after completion");
        Pin::new(task).poll(cx)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(task) => f
                .debug_struct("JoinHandle")
                .field("id", &task.metadata().id)
                .field("finished", &task.is_finished())
                .finish(),
            None => f.write_str("JoinHandle(detached)"),
        }
    }
}

/// Lets the other runnable tasks, and pending I/O events, go first: the task runs again in the
/// next pass of the run loop.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
