//! Running futures together, Lwt style, with cancellation by drop.
//!
//! The `futures` crate already has the joins and selects; they are re-exported here so that an
//! appliance finds them in one place. What Lwt adds, [`pick`] (first one wins, the others are
//! cancelled), is here too. Cancelling a future is dropping it: its destructors run, its timers
//! and waits are withdrawn.

use core::future::Future;
use core::pin::pin;

pub use futures::future::{
    Either, FutureExt, join, join_all, join3, join4, select, select_all, try_join, try_join_all,
};
pub use futures::{join, pin_mut, select_biased, try_join};

/// Runs `a` and `b` together; the first to finish gives the result and the other is dropped
/// (cancelled). When both are ready in the same poll, `a` wins.
pub async fn pick<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let (a, b) = (pin!(a), pin!(b));
    match select(a, b).await {
        Either::Left((out, _)) | Either::Right((out, _)) => out,
    }
}
