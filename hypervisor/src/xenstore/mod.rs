//! xenstore: the configuration tree dom0's `xenstored` keeps for every domain, and the way
//! front ends (netfront) meet their back ends.
//!
//! - [`wire`]: the message format (`io/xs_wire.h`), pure and fuzzed;
//! - [`client`]: the shared ring (page and event channel from `HVM_PARAM_STORE_PFN` and
//!   `HVM_PARAM_STORE_EVTCHN`) and an async client: read, write, directory, rm, watch,
//!   transactions.

pub mod client;
pub mod wire;

pub use client::{Transaction, WatchEvent, XenStore, XsRing};
pub use wire::{MsgType, XsError};
