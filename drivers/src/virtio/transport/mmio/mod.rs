//! The virtio-mmio transport, version 2 (virtio 1.x): QEMU `microvm`, AArch64 `virt`.
//!
//! A register block at a fixed physical address, usually 0x200 bytes: control registers, then
//! the device-specific configuration from offset 0x100. The platform learns where from the
//! device tree or, on x86 `microvm`, from `virtio_mmio.device=` words on the kernel command
//! line ([`parse_cmdline_device`]). QEMU's `microvm` defaults to legacy version-1 devices;
//! `-global virtio-mmio.force-legacy=false` gives version 2.
//!
//! Ref: virtio 1.2, 4.2 (Virtio Over MMIO); 4.2.2 (register layout); 4.2.3 (initialization).

mod cmdline;

pub use cmdline::{MmioDeviceSpec, parse_cmdline_device, parse_cmdline_devices};

use core::ptr::NonNull;

use super::io::IoRegion;
use super::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use crate::virtio::Error;

/// "virt" in little-endian ASCII: the first register of every virtio-mmio device.
pub const MAGIC: u32 = 0x7472_6976;
/// The register block's usual size (QEMU's): control registers plus 0x100 bytes of
/// configuration.
pub const DEFAULT_SIZE: usize = 0x200;
/// The largest queue size the split ring allows (virtio 1.2, 2.7).
const MAX_QUEUE_SIZE: u32 = 32768;

/// Register offsets. Ref: virtio 1.2, 4.2.2, table "MMIO Device Register Layout".
mod reg {
    pub const MAGIC_VALUE: usize = 0x000;
    pub const VERSION: usize = 0x004;
    pub const DEVICE_ID: usize = 0x008;
    pub const VENDOR_ID: usize = 0x00c;
    pub const DEVICE_FEATURES: usize = 0x010;
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    pub const DRIVER_FEATURES: usize = 0x020;
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    pub const QUEUE_SEL: usize = 0x030;
    pub const QUEUE_NUM_MAX: usize = 0x034;
    pub const QUEUE_NUM: usize = 0x038;
    pub const QUEUE_READY: usize = 0x044;
    pub const QUEUE_NOTIFY: usize = 0x050;
    pub const INTERRUPT_STATUS: usize = 0x060;
    pub const INTERRUPT_ACK: usize = 0x064;
    pub const STATUS: usize = 0x070;
    pub const QUEUE_DESC_LOW: usize = 0x080;
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    pub const CONFIG_GENERATION: usize = 0x0fc;
    pub const CONFIG: usize = 0x100;
}

/// A virtio-mmio version 2 device.
#[derive(Debug)]
pub struct MmioTransport {
    regs: IoRegion,
    device_type: DeviceType,
    vendor_id: u32,
}

impl MmioTransport {
    /// Probes the [`DEFAULT_SIZE`]-byte register block at `base`.
    ///
    /// Checks the magic value, the version (2; version 1 is [`Error::Legacy`]) and the device id
    /// (0 is an empty slot: [`Error::NoDevice`], after which no other register is touched, as
    /// virtio 1.2, 4.2.3.1.1 requires).
    ///
    /// # Safety
    ///
    /// `base` is the virtual address of a virtio-mmio register block (as the platform
    /// discovered it) of at least [`DEFAULT_SIZE`] bytes, mapped as device memory (uncached),
    /// valid for as long as this transport exists, and accessed by nothing else meanwhile.
    pub unsafe fn new(base: NonNull<u8>) -> Result<Self, Error> {
        // SAFETY: the caller's guarantee, for `DEFAULT_SIZE` bytes.
        unsafe { Self::with_size(base, DEFAULT_SIZE) }
    }

    /// [`new`](Self::new) for a register block of `size` bytes (the device tree's or the
    /// command line's size), which bounds configuration-space accesses.
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new), with `size` bytes mapped.
    pub unsafe fn with_size(base: NonNull<u8>, size: usize) -> Result<Self, Error> {
        if size < reg::CONFIG {
            return Err(Error::RegionTooSmall);
        }
        // SAFETY: the caller guarantees `size` bytes of device registers at `base` for the
        // transport's lifetime, used by nothing else.
        let regs = unsafe { IoRegion::new(base, size) };
        let magic = regs.read32(reg::MAGIC_VALUE);
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        match regs.read32(reg::VERSION) {
            2 => {}
            1 => {
                return Err(Error::Legacy(
                    "virtio-mmio version 1; QEMU: add -global virtio-mmio.force-legacy=false",
                ));
            }
            other => return Err(Error::UnsupportedVersion(other)),
        }
        let id = regs.read32(reg::DEVICE_ID);
        if id == 0 {
            return Err(Error::NoDevice);
        }
        Ok(MmioTransport {
            regs,
            device_type: DeviceType::from_id(id),
            vendor_id: regs.read32(reg::VENDOR_ID),
        })
    }

    /// The subsystem vendor id (QEMU: 0x554d4551, "QEMU").
    pub fn vendor_id(&self) -> u32 {
        self.vendor_id
    }

    fn config_offset(&self, offset: usize, width: usize) -> Result<usize, Error> {
        reg::CONFIG
            .checked_add(offset)
            .filter(|&at| self.regs.fits(at, width))
            .ok_or(Error::ConfigOutOfRange { offset, width })
    }
}

impl Transport for MmioTransport {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.regs.write32(reg::DEVICE_FEATURES_SEL, 1);
        let high = self.regs.read32(reg::DEVICE_FEATURES);
        self.regs.write32(reg::DEVICE_FEATURES_SEL, 0);
        let low = self.regs.read32(reg::DEVICE_FEATURES);
        u64::from(high) << 32 | u64::from(low)
    }

    fn write_driver_features(&mut self, features: u64) {
        self.regs.write32(reg::DRIVER_FEATURES_SEL, 0);
        self.regs.write32(reg::DRIVER_FEATURES, features as u32);
        self.regs.write32(reg::DRIVER_FEATURES_SEL, 1);
        self.regs
            .write32(reg::DRIVER_FEATURES, (features >> 32) as u32);
    }

    fn status(&self) -> DeviceStatus {
        // The register is 32 bits wide; the status bits are the low 8.
        DeviceStatus::from_bits(self.regs.read32(reg::STATUS) as u8)
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.regs.write32(reg::STATUS, status.bits().into());
    }

    fn max_queue_size(&mut self, queue: u16) -> u16 {
        self.regs.write32(reg::QUEUE_SEL, queue.into());
        // A device claiming more than the split ring allows is held to the ring's limit.
        self.regs.read32(reg::QUEUE_NUM_MAX).min(MAX_QUEUE_SIZE) as u16
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u16,
        desc_phys: u64,
        driver_phys: u64,
        device_phys: u64,
    ) -> Result<(), Error> {
        // Ref: virtio 1.2, 4.2.3.2. Once QueueReady is set the other queue registers must not
        // be touched (4.2.2.2).
        if self.queue_used(queue) {
            return Err(Error::QueueInUse(queue));
        }
        self.regs.write32(reg::QUEUE_NUM, size.into());
        self.regs.write64(reg::QUEUE_DESC_LOW, desc_phys);
        self.regs.write64(reg::QUEUE_DRIVER_LOW, driver_phys);
        self.regs.write64(reg::QUEUE_DEVICE_LOW, device_phys);
        self.regs.write32(reg::QUEUE_READY, 1);
        Ok(())
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.regs.write32(reg::QUEUE_SEL, queue.into());
        self.regs.read32(reg::QUEUE_READY) != 0
    }

    fn notify(&mut self, queue: u16) {
        // Ref: virtio 1.2, 4.2.3.3: the queue index, VIRTIO_F_NOTIFICATION_DATA not negotiated.
        self.regs.write32(reg::QUEUE_NOTIFY, queue.into());
    }

    fn ack_interrupt_status(&mut self) -> InterruptStatus {
        // Ref: virtio 1.2, 4.2.3.4: read InterruptStatus, write the handled bits (and no
        // undefined ones) to InterruptACK.
        let status = InterruptStatus::from_bits(self.regs.read32(reg::INTERRUPT_STATUS) as u8);
        if !status.is_empty() {
            self.regs.write32(reg::INTERRUPT_ACK, status.bits().into());
        }
        status
    }

    fn config_generation(&self) -> u32 {
        self.regs.read32(reg::CONFIG_GENERATION)
    }

    fn read_config_u8(&self, offset: usize) -> Result<u8, Error> {
        Ok(self.regs.read8(self.config_offset(offset, 1)?))
    }

    fn read_config_u16(&self, offset: usize) -> Result<u16, Error> {
        Ok(self.regs.read16(self.config_offset(offset, 2)?))
    }

    fn read_config_u32(&self, offset: usize) -> Result<u32, Error> {
        Ok(self.regs.read32(self.config_offset(offset, 4)?))
    }

    fn write_config_u8(&mut self, offset: usize, value: u8) -> Result<(), Error> {
        self.regs.write8(self.config_offset(offset, 1)?, value);
        Ok(())
    }

    fn write_config_u16(&mut self, offset: usize, value: u16) -> Result<(), Error> {
        self.regs.write16(self.config_offset(offset, 2)?, value);
        Ok(())
    }

    fn write_config_u32(&mut self, offset: usize, value: u32) -> Result<(), Error> {
        self.regs.write32(self.config_offset(offset, 4)?, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
