//! Morgana's executor: a single-core, cooperative, Lwt-like async runtime.
//!
//! Everything in a Morgana appliance runs on one [`Executor`]: the appliance's `main`, the tasks it
//! [`spawn`]s, the drivers and the network stack. The executor is `!Send`; its tasks need not be
//! `Send` either, and there are no locks on the hot path.
//!
//! # The run loop
//!
//! Each pass of [`Executor::block_on`]:
//!
//! 1. runs the tasks that were runnable when the pass began (a task woken during the pass, or one
//!    that yields, runs in the next pass), so a task that keeps yielding cannot starve I/O;
//! 2. takes the events that interrupt handlers marked in the [`EventTable`] and wakes the tasks
//!    waiting on them ([`event::Event::wait`]);
//! 3. fires the timers whose deadline has passed, in deadline order, ties in order of creation;
//! 4. when nothing is runnable, arms the platform's one-shot alarm for the earliest deadline and
//!    calls [`Platform::idle`], which halts until the next interrupt unless an event is already
//!    marked (the check and the halt are atomic, so no wake-up is lost).
//!
//! Interrupt handlers do one thing: [`EventTable::mark`], a single atomic operation. Wakers run
//! only in task context.
//!
//! # Layout
//!
//! - [`executor`]: the [`Executor`], the run loop, counters ([`Stats`]) and the trace.
//! - [`task`]: [`spawn`], [`JoinHandle`], [`yield_now`].
//! - [`time`]: [`Instant`], [`sleep`], [`sleep_until`], [`timeout`], [`interval`].
//! - [`event`]: the [`EventTable`] that interrupts mark and the [`event::Event`] drivers await.
//! - [`sync`]: [`sync::Mvar`], [`sync::channel`], [`sync::Notify`].
//! - [`combinators`]: join, select and pick, with cancellation by drop.
//! - [`platform`]: the [`Platform`] trait every target implements.
//! - `sim` (feature `sim`, host only): the simulator platform with a virtual clock.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(not(target_os = "none"))]
extern crate std;

pub mod combinators;
mod context;
pub mod event;
pub mod executor;
pub mod platform;
#[cfg(all(feature = "sim", not(target_os = "none")))]
pub mod sim;
pub mod sync;
pub mod task;
pub mod time;
mod timers;

pub use event::{EventId, EventTable};
pub use executor::{Executor, Handle, Stats, TaskId, TraceEvent};
pub use platform::{Doorbell, EntropyError, Platform, UtcTime};
pub use task::{JoinHandle, spawn, yield_now};
pub use time::{Instant, interval, sleep, sleep_until, timeout};

/// `core::time::Duration`, re-exported so appliances need one import.
pub use core::time::Duration;
