//! The Xen ABI for Morgana: hypervisor detection, the hypercall page and typed hypercall wrappers,
//! shared_info and vcpu_info, event channels, grant tables, the xenstore client and the PV console
//! ring.
//!
//! Filled by the Xen issue; it is empty until then so that the workspace shows the layering of
//! ARCHITECTURE.md from the first commit.
#![no_std]
