//! Numbers and layouts from Xen's public headers that more than one module uses.
//!
//! Struct layouts are written out as byte offsets where a module reads shared memory; the
//! `#[repr(C)]` argument structs of hypercalls live next to their wrappers in
//! [`crate::hypercall`].

/// Hypercall numbers (`xen.h`, `__HYPERVISOR_*`).
pub mod op {
    pub const MEMORY_OP: u32 = 12;
    pub const SET_TIMER_OP: u32 = 15;
    pub const XEN_VERSION: u32 = 17;
    pub const CONSOLE_IO: u32 = 18;
    pub const GRANT_TABLE_OP: u32 = 20;
    pub const VCPU_OP: u32 = 24;
    pub const SCHED_OP: u32 = 29;
    pub const EVENT_CHANNEL_OP: u32 = 32;
    pub const HVM_OP: u32 = 34;
}

/// `DOMID_SELF` (`xen.h`): "the calling domain" in domain-id arguments.
pub const DOMID_SELF: u16 = 0x7ff0;

/// `VIRQ_TIMER` (`xen.h`): the per-vCPU timer's virtual interrupt.
pub const VIRQ_TIMER: u32 = 0;

/// HVM parameters (`hvm/params.h`), read with `HVMOP_get_param`.
pub mod hvm_param {
    /// How event-channel upcalls are delivered (type in bits 56-63).
    pub const CALLBACK_IRQ: u32 = 0;
    /// The xenstore ring's page frame.
    pub const STORE_PFN: u32 = 1;
    /// The xenstore ring's event channel.
    pub const STORE_EVTCHN: u32 = 2;
    /// The PV console ring's page frame.
    pub const CONSOLE_PFN: u32 = 17;
    /// The PV console ring's event channel.
    pub const CONSOLE_EVTCHN: u32 = 18;
}

/// Shutdown reasons for `SCHEDOP_shutdown` (`sched.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ShutdownReason {
    /// The domain is done: `on_poweroff` applies.
    Poweroff = 0,
    /// Restart: `on_reboot` applies.
    Reboot = 1,
    /// The domain failed: `on_crash` applies.
    Crash = 3,
}

/// Page size everywhere in this ABI.
pub const PAGE_SIZE: usize = 4096;
