//! Morgana: async Rust appliances as small bootable unikernel images.
//!
//! An appliance is one `async fn main` marked `#[morgana::main]`. The same source runs as a
//! Linux process (`cargo xtask run-hosted`), and, as the boot issues land, as a VM image on QEMU
//! and Xen, on x86_64 and AArch64:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use morgana::prelude::*;
//!
//! #[morgana::main]
//! async fn main(env: Env) {
//!     println!("Hello from Morgana on {}", env.platform());
//!     let t0 = Instant::now();
//!     sleep(Duration::from_millis(100)).await;
//!     println!("slept {:?}", t0.elapsed());
//! }
//! ```
//!
//! What is here: the executor ([`executor`]: tasks, timers, sync, combinators), the [`Env`] an
//! appliance gets, console macros ([`println!`], [`print!`]) and the `log` facade ([`log`]).
//!
//! # Features
//!
//! - `xen` (off by default): Xen PVH guest support in the x86_64 image: the Xen platform (PV
//!   console, event channels, pvclock, Xen's single-shot timer, `SCHEDOP_shutdown`) and the
//!   netfront NIC. Without it the image is for QEMU and KVM (virtio, the local APIC, COM1), and
//!   about 30 KiB smaller; started on Xen anyway, it prints "this image was built without Xen
//!   support (feature `xen`)" on the PV console and Xen's debug port and shuts the domain down
//!   (exit code 104). `cargo xtask run-xen` and `cargo xtask xen-lab` turn it on (as
//!   `--features morgana/xen`); so does `morgana = { ..., features = ["xen"] }` in an
//!   appliance's `Cargo.toml`. It changes nothing on AArch64 or the hosted platform.
//!
//!   It is off by default because an appliance's `cargo build` most often targets QEMU or KVM,
//!   and a dependency's default feature cannot be turned off from the command line: off, both
//!   images are one flag away.
#![no_std]

extern crate alloc;

pub use morgana_boot::{Env, ExitStatus};
pub use morgana_executor as executor;
pub use morgana_executor::{
    Duration, Handle, Instant, JoinHandle, Stats, UtcTime, combinators, event, interval, sleep,
    sleep_until, spawn, sync, time, timeout, yield_now,
};
pub use morgana_macros::main;

/// The network: `net::start(&env).await`, UDP sockets, TCP listeners and streams.
pub mod net {
    pub use morgana_boot::net::*;
}

/// HTTP/1.1: a server with a router, a client, and baked static sites ([`http::Site`]).
pub use morgana_http as http;

/// The `log` crate: `log::info!` and friends print on the console with a timestamp.
pub use log;

/// Everything a typical appliance uses, in one `use morgana::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Duration, Env, Instant, JoinHandle, interval, print, println, sleep, sleep_until, spawn,
        sync, timeout, yield_now,
    };
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::__rt::print(::core::format_args!($($arg)*)) };
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::__rt::print(::core::format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::__rt::print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// What `#[morgana::main]` and the macros expand to. Not a stable API.
#[doc(hidden)]
pub mod __rt {
    pub use morgana_boot::__rt::*;
}
