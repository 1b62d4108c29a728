//! Lwt-like synchronisation between tasks: [`Mvar`] (one slot), [`channel`] (bounded and
//! unbounded), and [`Notify`].
//!
//! [`Mvar`] and the channels are single-core (`!Send`, no atomics, no locks): they are for tasks
//! of one executor. [`Notify`] is `Send + Sync`, so a hosted helper thread can poke a task.
//!
//! All of them work with any executor, since they only use [`core::task::Waker`]s, and every
//! future they return is cancelled by dropping it, without losing a wake-up meant for another
//! waiter.

pub mod channel;
mod mvar;
mod notify;
pub(crate) mod waitlist;

pub use mvar::{Mvar, Put, Take};
pub use notify::Notify;
