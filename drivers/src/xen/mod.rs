//! Xen PV drivers: [`netfront`], the front end of a virtual network interface whose back end
//! (netback) runs in dom0.

pub mod netfront;
pub mod ring;

pub use netfront::{Netfront, NetfrontError};
