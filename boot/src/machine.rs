//! [`Machine`]: what a platform hands to the appliance, and [`run`], which runs the appliance
//! on it. Every platform ends its start-up here, so an appliance starts the same way everywhere.

use alloc::rc::Rc;
use alloc::string::String;
use core::future::Future;

use morgana_executor::{EventTable, Executor, Platform};

use crate::{Env, ExitStatus, logger};

/// A started platform: the executor's platform, the event table its interrupts mark, and the
/// command line.
#[allow(missing_debug_implementations)]
pub struct Machine {
    /// The platform the executor runs on.
    pub platform: Rc<dyn Platform>,
    /// The table the platform's interrupt handlers mark.
    pub events: &'static EventTable,
    /// The boot command line.
    pub cmdline: String,
}

/// Runs the appliance's `main` on `machine` and returns its exit code.
pub fn run<F, Fut>(machine: Machine, main: F) -> i32
where
    F: FnOnce(Env) -> Fut,
    Fut: Future,
    Fut::Output: ExitStatus,
{
    let executor = Executor::with_events(machine.platform, machine.events);
    let env = Env::new(machine.cmdline, executor.handle());
    let level = env
        .arg("log")
        .map_or(Some(log::LevelFilter::Info), logger::parse_level);
    logger::init(level.unwrap_or(log::LevelFilter::Info));
    if level.is_none() {
        log::warn!("unknown log level in `log=`; using info");
    }
    executor.block_on(main(env)).exit_code()
}
