//! Either transport, chosen at run time from what discovery found.

use super::mmio::MmioTransport;
use super::pci::{PciConfig, PciTransport};
use super::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use crate::virtio::Error;

/// A virtio-mmio or a virtio-pci device: one driver type serves both, so the platform picks
/// the bus at run time (`VirtioRng<H, AnyTransport<C>>`).
#[derive(Debug)]
pub enum AnyTransport<C: PciConfig> {
    /// A virtio-mmio device.
    Mmio(MmioTransport),
    /// A virtio-pci device.
    Pci(PciTransport<C>),
}

impl<C: PciConfig> From<MmioTransport> for AnyTransport<C> {
    fn from(t: MmioTransport) -> Self {
        AnyTransport::Mmio(t)
    }
}

impl<C: PciConfig> From<PciTransport<C>> for AnyTransport<C> {
    fn from(t: PciTransport<C>) -> Self {
        AnyTransport::Pci(t)
    }
}

/// Forwards a method to whichever transport this is.
macro_rules! forward {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
            AnyTransport::Mmio(t) => t.$method($($arg),*),
            AnyTransport::Pci(t) => t.$method($($arg),*),
        }
    };
}

impl<C: PciConfig> Transport for AnyTransport<C> {
    fn device_type(&self) -> DeviceType {
        forward!(self.device_type())
    }

    fn read_device_features(&mut self) -> u64 {
        forward!(self.read_device_features())
    }

    fn write_driver_features(&mut self, features: u64) {
        forward!(self.write_driver_features(features))
    }

    fn status(&self) -> DeviceStatus {
        forward!(self.status())
    }

    fn set_status(&mut self, status: DeviceStatus) {
        forward!(self.set_status(status))
    }

    fn max_queue_size(&mut self, queue: u16) -> u16 {
        forward!(self.max_queue_size(queue))
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u16,
        desc_phys: u64,
        driver_phys: u64,
        device_phys: u64,
    ) -> Result<(), Error> {
        forward!(self.queue_set(queue, size, desc_phys, driver_phys, device_phys))
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        forward!(self.queue_used(queue))
    }

    fn notify(&mut self, queue: u16) {
        forward!(self.notify(queue))
    }

    fn ack_interrupt_status(&mut self) -> InterruptStatus {
        forward!(self.ack_interrupt_status())
    }

    fn config_generation(&self) -> u32 {
        forward!(self.config_generation())
    }

    fn read_config_u8(&self, offset: usize) -> Result<u8, Error> {
        forward!(self.read_config_u8(offset))
    }

    fn read_config_u16(&self, offset: usize) -> Result<u16, Error> {
        forward!(self.read_config_u16(offset))
    }

    fn read_config_u32(&self, offset: usize) -> Result<u32, Error> {
        forward!(self.read_config_u32(offset))
    }

    fn write_config_u8(&mut self, offset: usize, value: u8) -> Result<(), Error> {
        forward!(self.write_config_u8(offset, value))
    }

    fn write_config_u16(&mut self, offset: usize, value: u16) -> Result<(), Error> {
        forward!(self.write_config_u16(offset, value))
    }

    fn write_config_u32(&mut self, offset: usize, value: u32) -> Result<(), Error> {
        forward!(self.write_config_u32(offset, value))
    }
}
