//! Virtio transports: how a driver reaches a device's registers, whatever bus it sits on.
//!
//! A [`Transport`] hides the bus: [`mmio`] (virtio-mmio version 2: QEMU `microvm`, AArch64
//! `virt`) and [`pci`] (modern virtio-pci with MSI-X: QEMU `q35`); [`AnyTransport`] holds either,
//! so the platform chooses at run time from what discovery found. Drivers are generic over the
//! trait and never see which bus they are on. Host tests use the fake transport in
//! `transport/fake.rs`, where the test plays the device.
//!
//! Only modern (virtio 1.0 and later) devices are driven: [`Transport::begin_init`] insists on
//! VIRTIO_F_VERSION_1, and a legacy device is [`Error::Legacy`] with a hint how to get a modern
//! one.

mod any;
#[cfg(test)]
pub mod fake;
pub(crate) mod io;
pub mod mmio;
pub mod pci;

pub use any::AnyTransport;

use core::fmt;
use core::ops::BitOr;

use super::Error;
use super::features;

/// How many times [`Transport::reset`] reads the status back waiting for 0 before giving up.
const RESET_POLLS: u32 = 1_000_000;
/// How many times [`Transport::read_config_consistent`] retries a read that raced a change.
const CONFIG_RETRIES: u32 = 64;

/// A virtio device type. Ref: virtio 1.2, 5 (Device Types), the "Device ID" of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Network card (1).
    Network,
    /// Block device (2).
    Block,
    /// Console (3).
    Console,
    /// Entropy source (4).
    Entropy,
    /// Any other device id (never 1 to 4 when built by [`DeviceType::from_id`]).
    Other(u32),
}

impl DeviceType {
    /// The type with virtio device id `id`.
    pub fn from_id(id: u32) -> Self {
        match id {
            1 => DeviceType::Network,
            2 => DeviceType::Block,
            3 => DeviceType::Console,
            4 => DeviceType::Entropy,
            other => DeviceType::Other(other),
        }
    }

    /// The virtio device id.
    pub fn id(self) -> u32 {
        match self {
            DeviceType::Network => 1,
            DeviceType::Block => 2,
            DeviceType::Console => 3,
            DeviceType::Entropy => 4,
            DeviceType::Other(id) => id,
        }
    }
}

/// The device status field. Ref: virtio 1.2, 2.1.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DeviceStatus(u8);

impl DeviceStatus {
    /// The guest has noticed the device.
    pub const ACKNOWLEDGE: Self = DeviceStatus(1);
    /// The guest knows how to drive the device.
    pub const DRIVER: Self = DeviceStatus(2);
    /// The driver is ready: the device is live.
    pub const DRIVER_OK: Self = DeviceStatus(4);
    /// Feature negotiation is complete.
    pub const FEATURES_OK: Self = DeviceStatus(8);
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: Self = DeviceStatus(64);
    /// The driver has given up on the device.
    pub const FAILED: Self = DeviceStatus(128);

    /// No bit set: what the device reads after a reset.
    pub const fn empty() -> Self {
        DeviceStatus(0)
    }

    /// The status with exactly these bits.
    pub const fn from_bits(bits: u8) -> Self {
        DeviceStatus(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for DeviceStatus {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        DeviceStatus(self.0 | rhs.0)
    }
}

impl fmt::Debug for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(DeviceStatus, &str); 6] = [
            (DeviceStatus::ACKNOWLEDGE, "ACKNOWLEDGE"),
            (DeviceStatus::DRIVER, "DRIVER"),
            (DeviceStatus::FEATURES_OK, "FEATURES_OK"),
            (DeviceStatus::DRIVER_OK, "DRIVER_OK"),
            (DeviceStatus::DEVICE_NEEDS_RESET, "DEVICE_NEEDS_RESET"),
            (DeviceStatus::FAILED, "FAILED"),
        ];
        write!(f, "DeviceStatus({:#04x}", self.0)?;
        let mut sep = ": ";
        for (bit, name) in NAMES {
            if self.contains(bit) {
                write!(f, "{sep}{name}")?;
                sep = " | ";
            }
        }
        f.write_str(")")
    }
}

/// Why a device interrupted: virtio-mmio's InterruptStatus, virtio-pci's ISR status.
/// Ref: virtio 1.2, 4.1.4.5 and 4.2.2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterruptStatus(u8);

impl InterruptStatus {
    /// Bit 0: the device used a buffer in some queue.
    pub const QUEUE: u8 = 1 << 0;
    /// Bit 1: the device configuration changed.
    pub const CONFIG: u8 = 1 << 1;

    /// From the register's value; undefined bits are dropped (virtio 1.2, 4.2.2.2: "The driver
    /// MUST ignore undefined bits in InterruptStatus").
    pub const fn from_bits(bits: u8) -> Self {
        InterruptStatus(bits & (Self::QUEUE | Self::CONFIG))
    }

    /// The defined bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// No interrupt was pending: not this device's (on a shared line), or spurious.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// A queue has used buffers.
    pub const fn queue(self) -> bool {
        self.0 & Self::QUEUE != 0
    }

    /// The device configuration changed.
    pub const fn config(self) -> bool {
        self.0 & Self::CONFIG != 0
    }
}

/// A virtio device's registers, whatever the bus.
///
/// Required methods are the bus-specific register accesses; the provided ones build the
/// initialization sequence (virtio 1.2, 3.1.1) and consistent configuration reads (2.5.1) on
/// top of them. A driver's life: [`begin_init`](Transport::begin_init) negotiates features, the
/// driver sets up its queues ([`VirtQueue::new`](super::queue::VirtQueue::new)) and reads its
/// configuration, [`finish_init`](Transport::finish_init) makes the device live.
pub trait Transport {
    /// The device type.
    fn device_type(&self) -> DeviceType;

    /// All 64 feature bits the device offers.
    fn read_device_features(&mut self) -> u64;

    /// Writes the feature bits the driver accepts (a subset of the device's).
    fn write_driver_features(&mut self, features: u64);

    /// The device status.
    fn status(&self) -> DeviceStatus;

    /// Writes the device status; writing [`DeviceStatus::empty`] resets the device. The driver
    /// never clears a bit except by resetting (virtio 1.2, 2.1.1), so each write is the whole
    /// accumulated status.
    fn set_status(&mut self, status: DeviceStatus);

    /// The largest size queue `queue` supports; 0 when the queue does not exist.
    fn max_queue_size(&mut self, queue: u16) -> u16;

    /// Gives the device queue `queue`'s size and the physical addresses of its descriptor
    /// table, driver (available) ring and device (used) ring, then enables it.
    fn queue_set(
        &mut self,
        queue: u16,
        size: u16,
        desc_phys: u64,
        driver_phys: u64,
        device_phys: u64,
    ) -> Result<(), Error>;

    /// Whether queue `queue` is already enabled.
    fn queue_used(&mut self, queue: u16) -> bool;

    /// Sends an available-buffer notification for `queue`. Call it through
    /// [`VirtQueue::kick`](super::queue::VirtQueue::kick), which skips notifications the device
    /// has suppressed.
    fn notify(&mut self, queue: u16);

    /// Reads why the device interrupted and acknowledges it, so a level-triggered line
    /// deasserts: virtio-mmio reads InterruptStatus and writes it to InterruptACK (4.2.3.4),
    /// virtio-pci reads the ISR status, which clears it (4.1.4.5). Not needed for MSI-X
    /// interrupts (4.1.4.5.2: the driver SHOULD NOT read ISR status then).
    fn ack_interrupt_status(&mut self) -> InterruptStatus;

    /// [`ack_interrupt_status`](Transport::ack_interrupt_status), answering only whether the
    /// device had an interrupt pending.
    fn ack_interrupt(&mut self) -> bool {
        !self.ack_interrupt_status().is_empty()
    }

    /// The configuration generation: it changes whenever two configuration reads could see
    /// different versions of the configuration (virtio 1.2, 2.5).
    fn config_generation(&self) -> u32;

    /// Reads the byte at `offset` in the device-specific configuration space.
    fn read_config_u8(&self, offset: usize) -> Result<u8, Error>;

    /// Reads the little-endian 16-bit field at `offset` (2-aligned).
    fn read_config_u16(&self, offset: usize) -> Result<u16, Error>;

    /// Reads the little-endian 32-bit field at `offset` (4-aligned).
    fn read_config_u32(&self, offset: usize) -> Result<u32, Error>;

    /// Writes the byte at `offset` in the device-specific configuration space.
    fn write_config_u8(&mut self, offset: usize, value: u8) -> Result<(), Error>;

    /// Writes the little-endian 16-bit field at `offset` (2-aligned).
    fn write_config_u16(&mut self, offset: usize, value: u16) -> Result<(), Error>;

    /// Writes the little-endian 32-bit field at `offset` (4-aligned).
    fn write_config_u32(&mut self, offset: usize, value: u32) -> Result<(), Error>;

    /// Runs `read` until the configuration generation is the same before and after it, so a
    /// multi-field (or 64-bit) read sees one version of the configuration.
    ///
    /// Ref: virtio 1.2, 2.5.1. Bounded: a device whose generation keeps changing is
    /// [`Error::ConfigUnstable`] rather than a hang.
    fn read_config_consistent<R>(
        &self,
        mut read: impl FnMut(&Self) -> Result<R, Error>,
    ) -> Result<R, Error>
    where
        Self: Sized,
    {
        for _ in 0..CONFIG_RETRIES {
            let before = self.config_generation();
            let value = read(self)?;
            if self.config_generation() == before {
                return Ok(value);
            }
        }
        Err(Error::ConfigUnstable)
    }

    /// Reads a little-endian 64-bit field at `offset` (4-aligned) as two 32-bit reads within
    /// one configuration generation (virtio 1.2, 2.5.1: 64-bit reads are not atomic).
    fn read_config_u64(&self, offset: usize) -> Result<u64, Error>
    where
        Self: Sized,
    {
        let high = offset
            .checked_add(4)
            .ok_or(Error::ConfigOutOfRange { offset, width: 8 })?;
        self.read_config_consistent(|t| {
            let low = t.read_config_u32(offset)?;
            Ok(u64::from(low) | u64::from(t.read_config_u32(high)?) << 32)
        })
    }

    /// Reads `buf.len()` bytes from `offset` byte by byte within one configuration generation
    /// (a MAC address, say).
    fn read_config_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<(), Error>
    where
        Self: Sized,
    {
        self.read_config_consistent(|t| {
            for (i, byte) in buf.iter_mut().enumerate() {
                let at = offset
                    .checked_add(i)
                    .ok_or(Error::ConfigOutOfRange { offset, width: 1 })?;
                *byte = t.read_config_u8(at)?;
            }
            Ok(())
        })
    }

    /// Resets the device and waits (bounded) until it reads back status 0.
    /// Ref: virtio 1.2, 2.4.2, and 4.1.4.3.2 ("the driver MUST wait for a read of device_status
    /// to return 0 before reinitializing the device").
    fn reset(&mut self) -> Result<(), Error> {
        self.set_status(DeviceStatus::empty());
        for _ in 0..RESET_POLLS {
            if self.status() == DeviceStatus::empty() {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::ResetTimeout)
    }

    /// Sets FAILED: the driver has given up on the device (virtio 1.2, 3.1.1). A reset clears it.
    fn fail(&mut self) {
        let status = self.status();
        self.set_status(status | DeviceStatus::FAILED);
    }

    /// Steps 1 to 6 of device initialization: reset, ACKNOWLEDGE, DRIVER, feature negotiation,
    /// FEATURES_OK and its check. Returns the negotiated features: the device's features that
    /// are in `supported`, plus VIRTIO_F_VERSION_1, which is always required.
    ///
    /// Ref: virtio 1.2, 3.1.1. A device that does not offer VERSION_1 is legacy-only:
    /// [`Error::Legacy`]. On any error after the reset the device is left FAILED.
    ///
    /// A device that offers VIRTIO_F_ACCESS_PLATFORM may refuse FEATURES_OK unless the driver
    /// accepts it; Morgana's platforms have no IOMMU, so drivers do not offer it.
    fn begin_init(&mut self, supported: u64) -> Result<u64, Error> {
        self.reset()?;
        self.set_status(DeviceStatus::ACKNOWLEDGE);
        let status = DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER;
        self.set_status(status);

        let offered = self.read_device_features();
        if offered & features::VERSION_1 == 0 {
            self.fail();
            return Err(Error::Legacy(
                "the device does not offer VIRTIO_F_VERSION_1; QEMU: use a modern device \
                 (virtio-*-pci with disable-legacy=on, or -global virtio-mmio.force-legacy=false)",
            ));
        }
        let negotiated = offered & (supported | features::VERSION_1);
        self.write_driver_features(negotiated);

        let status = status | DeviceStatus::FEATURES_OK;
        self.set_status(status);
        if !self.status().contains(DeviceStatus::FEATURES_OK) {
            self.fail();
            return Err(Error::FeaturesRejected);
        }
        Ok(negotiated)
    }

    /// Step 8 of device initialization: DRIVER_OK, the device is live. Call it once the queues
    /// are set up. Ref: virtio 1.2, 3.1.1.
    fn finish_init(&mut self) {
        let status = self.status();
        self.set_status(status | DeviceStatus::DRIVER_OK);
    }
}

#[cfg(test)]
mod tests;
