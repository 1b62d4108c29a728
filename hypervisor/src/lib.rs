//! The Xen ABI for Morgana: hypervisor detection, the hypercall page and typed hypercall wrappers,
//! shared_info and vcpu_info (pvclock, wall clock), event channels (2-level ABI), grant tables
//! (v1), the xenstore client and the PV console ring.
//!
//! Ref: Xen's public headers, `xen/include/public/` (`xen.h`, `event_channel.h`,
//! `grant_table.h`, `memory.h`, `sched.h`, `vcpu.h`, `hvm/hvm_op.h`, `hvm/params.h`,
//! `io/xs_wire.h`, `io/console.h`, `io/ring.h`, `io/netif.h`, `arch-x86/cpuid.h`).
//!
//! The layers, bottom up:
//!
//! - [`mod@detect`]: is this Xen (CPUID leaves from 0x4000_0000), which version, which MSR installs
//!   the hypercall page. Pure: it takes a CPUID function, so it runs on the host in tests.
//! - [`hypercall`]: the [`Hypercall`] trait (the one way into Xen), the x86_64 hypercall page
//!   behind it, and [`Xen`], typed wrappers for the hypercalls Morgana makes.
//! - [`shared_info`]: the shared_info page: vCPU 0's pvclock and upcall flags, event-channel
//!   pending and mask bits, the wall clock.
//! - [`evtchn`]: the 2-level event-channel scan an upcall does, and the table that maps each
//!   port to the executor's event slot it marks.
//! - [`gnttab`]: grant table v1: grant and end foreign access, with a free list.
//! - [`ring`]: byte-ring index arithmetic and copies shared by xenstore and the console.
//! - [`xenstore`]: the wire format (pure, fuzzed) and an async client over the shared ring.
//! - [`console`]: the PV console's output ring.
//! - `fake` (feature `fake`, for host tests): an in-memory Xen, xenstored included, that the
//!   real code above runs against.
//!
//! Everything that touches shared memory does it through raw pointers given by the platform
//! (`boot/`), which maps the pages; the logic over them is tested on the host with ordinary
//! memory standing in for the pages.
#![no_std]

extern crate alloc;

pub mod abi;
pub mod console;
pub mod detect;
pub mod evtchn;
#[cfg(feature = "fake")]
pub mod fake;
pub mod gnttab;
pub mod hypercall;
pub mod ring;
pub mod shared_info;
pub mod xenstore;

pub use detect::{XenInfo, detect};
pub use hypercall::{Hypercall, Xen, XenError};
