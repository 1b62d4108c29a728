//! Morgana's platforms and the entry that turns an appliance into a program or an image.
//!
//! - [`Env`]: what an appliance's `main` receives (command line, clocks, entropy, executor).
//! - [`console`] and [`logger`]: output, through the running platform's console.
//! - [`ExitStatus`]: what `main` may return, and the exit code it becomes.
//! - `hosted` (not on bare metal): the Linux-process platform, `CLOCK_MONOTONIC`, idle in
//!   `ppoll(2)`, console on stdout, exit code as process exit code.
//!
//! The x86_64 PVH and AArch64 shims join them with the boot issues. Whatever the platform, an
//! appliance starts the same way: `#[morgana::main]` expands to a call to the platform's start
//! function in [`__rt`].
#![cfg_attr(target_os = "none", no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod arch;
pub mod bootinfo;
pub mod cmos;
pub mod console;
pub mod dtb;
mod env;
mod exit;
pub mod fuzz;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(not(target_os = "none"))]
pub mod hosted;
pub mod logger;
mod machine;
#[cfg(any(
    not(target_os = "none"),
    target_arch = "x86_64",
    target_arch = "aarch64"
))]
pub mod net;
#[cfg(all(
    target_os = "none",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod panic;
pub mod pvh;

pub use env::Env;
pub use exit::ExitStatus;
pub use machine::{Machine, run};

/// Exit code of a panic.
pub const EXIT_PANIC: i32 = 101;
/// Exit code when the heap is exhausted.
pub const EXIT_OUT_OF_MEMORY: i32 = 102;
/// Exit code of a CPU exception (after its crash report).
pub const EXIT_CRASH: i32 = 103;
/// Exit code when the boot protocol's data cannot be used.
pub const EXIT_BOOT_FAILED: i32 = 104;

/// What `#[morgana::main]` and the console macros expand to. Not a stable API.
#[doc(hidden)]
pub mod __rt {
    pub use crate::console::print;
    pub use crate::exit::{Report, ReportDisplay, ReportExitStatus};
    #[cfg(not(target_os = "none"))]
    pub use crate::hosted::start as hosted_start;
    pub use crate::machine::{Machine, run};
}
