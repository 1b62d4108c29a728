//! Virtio 1.x devices: split virtqueues, the virtio-mmio and virtio-pci transports, and the
//! drivers built on them.
//!
//! The layers, bottom up:
//!
//! - [`hal`]: what the platform provides, DMA memory and the device's view of addresses
//!   ([`Hal`]); [`dma`] wraps one allocation.
//! - [`transport`]: how registers are reached on each bus ([`Transport`]: virtio-mmio,
//!   virtio-pci, either at run time), plus device initialization (virtio 1.2, 3.1.1) on top.
//! - [`queue`]: the split virtqueue ([`VirtQueue`]), with event-index notification
//!   suppression, shared by every driver.
//! - drivers, generic over both: [`rng`] (the entropy device) and [`net`] (the network device).
//!
//! `unsafe` is confined to the register windows (`transport/io.rs`), the ring memory
//! (`queue.rs`), DMA allocation, and the constructors whose callers vouch for an address.
//! Everything a device returns is validated; a misbehaving device yields an [`Error`], never a
//! panic.
//!
//! Reference: Virtual I/O Device (VIRTIO) Version 1.2, OASIS Committee Specification 01
//! ("virtio 1.2" in comments, with section numbers).

pub mod dma;
mod error;
pub mod hal;
pub mod net;
pub mod queue;
pub mod rng;
pub mod transport;

pub use dma::Dma;
pub use error::Error;
pub use hal::{Hal, HeapHal, PAGE_SIZE};
pub use queue::{Segment, VirtQueue};
pub use rng::VirtioRng;
pub use transport::{AnyTransport, DeviceStatus, DeviceType, InterruptStatus, Transport};

/// Device-independent feature bits. Ref: virtio 1.2, 6 (Reserved Feature Bits).
pub mod features {
    /// Descriptors may point at tables of descriptors.
    pub const INDIRECT_DESC: u64 = 1 << 28;
    /// `used_event` / `avail_event` notification suppression (2.7.7, 2.7.10).
    pub const EVENT_IDX: u64 = 1 << 29;
    /// Compliance with virtio 1.0 or later: the device is not legacy. Always negotiated.
    pub const VERSION_1: u64 = 1 << 32;
    /// The device's memory accesses go through an IOMMU or are otherwise restricted.
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
    /// The packed virtqueue layout.
    pub const RING_PACKED: u64 = 1 << 34;
    /// The device uses buffers in the order they were made available.
    pub const IN_ORDER: u64 = 1 << 35;
    /// The device's memory accesses need platform ordering (real hardware).
    pub const ORDER_PLATFORM: u64 = 1 << 36;
    /// Single-root I/O virtualization.
    pub const SR_IOV: u64 = 1 << 37;
    /// Notifications carry extra data.
    pub const NOTIFICATION_DATA: u64 = 1 << 38;
    /// Notifications use `queue_notify_data` instead of the queue index.
    pub const NOTIF_CONFIG_DATA: u64 = 1 << 39;
    /// Queues can be reset individually.
    pub const RING_RESET: u64 = 1 << 40;
}
