//! What can go wrong talking to a virtio device.
//!
//! A device is outside the driver's trust: every value it hands back (register contents,
//! capability offsets, used-ring ids and lengths) is checked, and a bad one is one of these
//! errors, never a panic. After a device-misbehaviour error the device is best treated as broken:
//! mark it FAILED ([`Transport::fail`](super::transport::Transport::fail)) and reset it before
//! reusing its memory.

use core::fmt;

use super::transport::DeviceType;

/// A virtio driver, transport or virtqueue error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The device only speaks the legacy (pre-1.0) interface; the message says how to get a
    /// modern one. Ref: virtio 1.2, 4.2.4 (MMIO version 1), 4.1.5.1.1.1 (PCI without
    /// capabilities), 6 (VIRTIO_F_VERSION_1).
    Legacy(&'static str),
    /// A virtio-mmio slot with device id 0: a placeholder, no device. Ref: virtio 1.2, 4.2.2.
    NoDevice,
    /// The virtio-mmio magic value was not 0x74726976 ("virt"): no virtio device there.
    BadMagic(u32),
    /// A virtio-mmio version other than 1 (legacy) or 2.
    UnsupportedVersion(u32),
    /// The register window is smaller than the transport's registers.
    RegionTooSmall,
    /// A PCI function that is not a virtio device.
    NotVirtio {
        /// PCI vendor id.
        vendor: u16,
        /// PCI device id.
        device: u16,
    },
    /// A driver was given a device of another type.
    WrongDeviceType {
        /// What the driver drives.
        expected: DeviceType,
        /// What the transport reports.
        found: DeviceType,
    },
    /// A required virtio-pci capability is absent (or lies in a BAR the platform did not map).
    MissingCapability(&'static str),
    /// A virtio-pci capability is malformed (too short, misaligned, or out of its region).
    BadCapability(&'static str),
    /// The platform's BAR resolver has no address for this BAR.
    BarUnavailable(u8),
    /// The device did not read back status 0 after a reset. Ref: virtio 1.2, 2.4.2.
    ResetTimeout,
    /// The device cleared FEATURES_OK: it does not accept the features the driver chose.
    /// Ref: virtio 1.2, 3.1.1 step 6.
    FeaturesRejected,
    /// The queue does not exist (its maximum size is 0) or its size is unusable.
    QueueUnavailable(u16),
    /// The queue is already enabled (QueueReady / queue_enable is set).
    QueueInUse(u16),
    /// A queue size that is not a power of two in 1..=32768.
    InvalidQueueSize(u16),
    /// The platform could not provide DMA memory.
    DmaAlloc,
    /// Not enough free descriptors for the chain.
    QueueFull,
    /// The buffers handed to the queue are unusable (empty chain, empty buffer, longer than the
    /// queue or than 4 GiB, a device-readable buffer after a device-writable one).
    InvalidBuffers(&'static str),
    /// The device put an id in the used ring that is not the head of a chain in flight.
    BadUsedId(u32),
    /// The device claims to have written more bytes than the chain's device-writable part
    /// holds. The chain has been returned to the driver (its `token` is no longer in flight).
    BadUsedLen {
        /// The chain's token (head descriptor index).
        token: u16,
        /// What the device claimed.
        len: u32,
        /// The chain's device-writable bytes.
        capacity: u32,
    },
    /// The device advanced the used index past the number of chains in flight.
    UsedRingOverrun {
        /// Entries the device claims are pending.
        pending: u16,
        /// Chains actually in flight.
        in_flight: u16,
    },
    /// A device-configuration access outside the device's configuration space, or misaligned.
    ConfigOutOfRange {
        /// Offset into the device-specific configuration space.
        offset: usize,
        /// Access width in bytes.
        width: usize,
    },
    /// The configuration generation kept changing while the driver read. Ref: virtio 1.2, 2.5.1.
    ConfigUnstable,
    /// The PCI function has no MSI-X capability (or its table's BAR is not mapped).
    NoMsix,
    /// An MSI-X table index at or past the table's size.
    MsixIndexOutOfRange(u16),
    /// The device refused to map an event to the MSI-X vector (it read back NO_VECTOR).
    /// Ref: virtio 1.2, 4.1.5.1.2.
    MsixVectorRejected(u16),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Legacy(how) => write!(f, "legacy virtio device: {how}"),
            Error::NoDevice => f.write_str("no virtio device in this slot (device id 0)"),
            Error::BadMagic(v) => write!(f, "bad virtio-mmio magic {v:#010x}"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported virtio-mmio version {v}"),
            Error::RegionTooSmall => f.write_str("register window too small"),
            Error::NotVirtio { vendor, device } => {
                write!(f, "PCI {vendor:04x}:{device:04x} is not a virtio device")
            }
            Error::WrongDeviceType { expected, found } => {
                write!(f, "expected a {expected:?} device, found {found:?}")
            }
            Error::MissingCapability(what) => write!(f, "missing virtio-pci capability: {what}"),
            Error::BadCapability(what) => write!(f, "bad virtio-pci capability: {what}"),
            Error::BarUnavailable(bar) => write!(f, "BAR {bar} is not mapped"),
            Error::ResetTimeout => f.write_str("device did not complete reset"),
            Error::FeaturesRejected => f.write_str("device rejected the negotiated features"),
            Error::QueueUnavailable(q) => write!(f, "virtqueue {q} is unavailable"),
            Error::QueueInUse(q) => write!(f, "virtqueue {q} is already in use"),
            Error::InvalidQueueSize(n) => write!(f, "invalid virtqueue size {n}"),
            Error::DmaAlloc => f.write_str("out of DMA memory"),
            Error::QueueFull => f.write_str("virtqueue full"),
            Error::InvalidBuffers(why) => write!(f, "invalid buffers: {why}"),
            Error::BadUsedId(id) => write!(f, "device returned used id {id}, not in flight"),
            Error::BadUsedLen {
                token,
                len,
                capacity,
            } => write!(
                f,
                "device claims {len} bytes written to chain {token} of {capacity} writable bytes"
            ),
            Error::UsedRingOverrun { pending, in_flight } => write!(
                f,
                "device reports {pending} used entries with {in_flight} chains in flight"
            ),
            Error::ConfigOutOfRange { offset, width } => {
                write!(
                    f,
                    "config access of {width} bytes at {offset:#x} out of range"
                )
            }
            Error::ConfigUnstable => f.write_str("device configuration kept changing"),
            Error::NoMsix => f.write_str("no usable MSI-X capability"),
            Error::MsixIndexOutOfRange(i) => write!(f, "MSI-X table index {i} out of range"),
            Error::MsixVectorRejected(v) => write!(f, "device rejected MSI-X vector {v}"),
        }
    }
}

impl core::error::Error for Error {}
