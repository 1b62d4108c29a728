//! The running executor of this thread (hosted, tests) or of the core (bare metal).
//!
//! [`crate::spawn`], [`crate::sleep`] and friends find their executor here. It is set only while
//! [`crate::Executor::block_on`] runs, so there is no global executor: on the host every thread
//! has its own slot, and two test threads never share one.

use alloc::rc::Rc;
use alloc::sync::Arc;
use core::cell::RefCell;

use crate::executor::{Core, Shared};

#[cfg(not(target_os = "none"))]
std::thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

#[cfg(not(target_os = "none"))]
fn slot<R>(f: impl FnOnce(&RefCell<Option<Rc<Core>>>) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}

#[cfg(target_os = "none")]
struct SingleCore(RefCell<Option<Rc<Core>>>);

// SAFETY: bare-metal Morgana runs on one core, and interrupt handlers never touch this slot
// (they only mark the event table), so the slot is only ever accessed from the one thread of
// control that runs the executor; `Sync` is needed only to put it in a `static`.
#[cfg(target_os = "none")]
unsafe impl Sync for SingleCore {}

#[cfg(target_os = "none")]
static CURRENT: SingleCore = SingleCore(RefCell::new(None));

#[cfg(target_os = "none")]
fn slot<R>(f: impl FnOnce(&RefCell<Option<Rc<Core>>>) -> R) -> Option<R> {
    Some(f(&CURRENT.0))
}

/// Makes `core` the current executor until the guard drops.
///
/// # Panics
///
/// When an executor is already running here: `block_on` does not nest.
pub(crate) fn enter(core: Rc<Core>) -> EnterGuard {
    slot(|c| {
        let mut c = c.borrow_mut();
        assert!(
            c.is_none(),
            "morgana: block_on called inside a running executor (it does not nest; spawn instead)"
        );
        *c = Some(core);
    })
    .expect("morgana: thread-local storage is gone");
    EnterGuard(())
}

pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        slot(|c| c.borrow_mut().take());
    }
}

/// Runs `f` with the current executor.
///
/// # Panics
///
/// Outside a running executor.
pub(crate) fn with<R>(f: impl FnOnce(&Rc<Core>) -> R) -> R {
    try_with(f).expect(
        "morgana: this needs a running executor (call it from a task inside Executor::block_on)",
    )
}

/// Runs `f` with the current executor, or returns `None` outside one.
pub(crate) fn try_with<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    slot(|c| c.borrow().as_ref().map(f)).flatten()
}

/// Runs `f` with the executor of `shared` if it is the one running on this thread.
fn with_own<R>(shared: &Arc<Shared>, f: impl FnOnce(&Core) -> R) -> Option<R> {
    slot(|c| {
        let c = c.try_borrow().ok()?;
        let core = c.as_ref()?;
        Arc::ptr_eq(&core.shared, shared).then(|| f(core))
    })
    .flatten()
}

/// Queues `*runnable` on the local run queue if its executor runs on this thread (taking it out
/// of the option and returning true); otherwise leaves it for the foreign queue.
pub(crate) fn schedule_local(
    shared: &Arc<Shared>,
    runnable: &mut Option<async_task::Runnable<crate::executor::TaskMeta>>,
) -> bool {
    with_own(shared, |core| {
        if let Some(r) = runnable.take() {
            core.local_wakes.set(core.local_wakes.get() + 1);
            core.enqueue(r);
        }
    })
    .is_some()
}

/// Counts a wake of `block_on`'s future if it came from the executor's own thread.
pub(crate) fn count_local_wake(shared: &Arc<Shared>) -> bool {
    with_own(shared, |core| {
        core.local_wakes.set(core.local_wakes.get() + 1)
    })
    .is_some()
}
