//! The modern virtio-pci transport (virtio 1.x over PCI/PCIe): QEMU `q35`.
//!
//! The device's registers are four structures inside its memory BARs, each located by a
//! vendor-specific capability in configuration space (virtio 1.2, 4.1.4): common configuration
//! (feature bits, status, queue setup), notifications (one doorbell per queue), ISR status
//! (interrupt cause for INTx), and the device-specific configuration. The platform supplies the
//! configuration-space accessor ([`PciConfig`]) and where each BAR is mapped; this module walks
//! the capabilities and computes the register pointers.
//!
//! Interrupts: MSI-X (capability 0x11) when the platform sets up table entries
//! ([`PciTransport::set_msix_entry`]) and enables it, with each queue and the configuration
//! change mapped to a table entry; otherwise INTx, acknowledged by reading the ISR status.
//!
//! Transitional devices (PCI ids 0x1000..=0x103f) are driven through their modern capabilities
//! like non-transitional ones (0x1040 + device id); a device without virtio capabilities is
//! legacy-only and refused.

mod config;
mod msix;

pub use config::PciConfig;

use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use self::config::{cap_id, capabilities, header};
use super::io::IoRegion;
use super::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use crate::virtio::Error;

/// Red Hat's (Qumranet's) PCI vendor id, which every virtio device carries.
pub const VIRTIO_VENDOR_ID: u16 = 0x1af4;
/// The vector value meaning "no MSI-X vector" (virtio 1.2, 4.1.5.1.2).
pub const NO_VECTOR: u16 = 0xffff;

/// PCI id of a non-transitional device: 0x1040 + the virtio device id.
const MODERN_BASE: u16 = 0x1040;

/// The virtio device type of a PCI function, or `None` if it is not a virtio device.
///
/// Non-transitional ids are 0x1040 + the virtio device id (0x1041..=0x107f); transitional ids
/// are the table of virtio 1.2, 4.1.2.1 (0x1000 network, 0x1001 block, 0x1002 balloon, 0x1003
/// console, 0x1004 SCSI, 0x1005 entropy, 0x1009 9P). Ref: virtio 1.2, 4.1.2.
pub fn virtio_pci_ids(vendor: u16, device: u16) -> Option<DeviceType> {
    if vendor != VIRTIO_VENDOR_ID {
        return None;
    }
    let id = match device {
        0x1041..=0x107f => device - MODERN_BASE,
        0x1000 => 1,
        0x1001 => 2,
        0x1002 => 5,
        0x1003 => 3,
        0x1004 => 8,
        0x1005 => 4,
        0x1009 => 9,
        _ => return None,
    };
    Some(DeviceType::from_id(id.into()))
}

/// Virtio structure types (`cfg_type`). Ref: virtio 1.2, 4.1.4.
mod cfg_type {
    pub const COMMON: u8 = 1;
    pub const NOTIFY: u8 = 2;
    pub const ISR: u8 = 3;
    pub const DEVICE: u8 = 4;
}

/// `struct virtio_pci_common_cfg` offsets. Ref: virtio 1.2, 4.1.4.3.
mod common {
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    pub const DEVICE_FEATURE: usize = 0x04;
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    pub const DRIVER_FEATURE: usize = 0x0c;
    pub const MSIX_CONFIG: usize = 0x10;
    pub const NUM_QUEUES: usize = 0x12;
    pub const DEVICE_STATUS: usize = 0x14;
    pub const CONFIG_GENERATION: usize = 0x15;
    pub const QUEUE_SELECT: usize = 0x16;
    pub const QUEUE_SIZE: usize = 0x18;
    pub const QUEUE_MSIX_VECTOR: usize = 0x1a;
    pub const QUEUE_ENABLE: usize = 0x1c;
    pub const QUEUE_NOTIFY_OFF: usize = 0x1e;
    pub const QUEUE_DESC: usize = 0x20;
    pub const QUEUE_DRIVER: usize = 0x28;
    pub const QUEUE_DEVICE: usize = 0x30;
    /// The virtio 1.0 structure's size: all the fields this driver uses.
    pub const LEN: u32 = 0x38;
}

/// `struct virtio_pci_cap` (and `virtio_pci_notify_cap`): where a structure is.
#[derive(Clone, Copy, Debug)]
struct VirtioCap {
    bar: u8,
    offset: u32,
    length: u32,
    /// `notify_off_multiplier` for the notification structure, else 0.
    multiplier: u32,
}

/// Reads the virtio capability at `at`: its `cfg_type` and location, or `None` for one to
/// ignore (reserved type or BAR, too short). Ref: virtio 1.2, 4.1.4.1.
fn read_virtio_cap<C: PciConfig>(cfg: &C, at: u8) -> Option<(u8, VirtioCap)> {
    let at = u16::from(at);
    let cap_len = cfg.read8(at + 2);
    let kind = cfg.read8(at + 3);
    let bar = cfg.read8(at + 4);
    let needed = if kind == cfg_type::NOTIFY { 20 } else { 16 };
    let fits = u16::from(cap_len) >= needed && at + needed <= 0x100;
    if !fits || bar > 5 || !(cfg_type::COMMON..=cfg_type::DEVICE).contains(&kind) {
        return None;
    }
    let multiplier = if kind == cfg_type::NOTIFY {
        cfg.read32(at + 16)
    } else {
        0
    };
    let cap = VirtioCap {
        bar,
        offset: cfg.read32(at + 8),
        length: cfg.read32(at + 12),
        multiplier,
    };
    Some((kind, cap))
}

/// Turns a BAR address plus offset into a register window, after checking the structure's
/// declared length and alignment.
///
/// # Safety
///
/// `bar_base` is where the capability's BAR is mapped, under [`PciTransport::new`]'s contract.
unsafe fn region(
    bar_base: u64,
    cap: &VirtioCap,
    min_len: u32,
    align: u32,
    what: &'static str,
) -> Result<IoRegion, Error> {
    if cap.length < min_len || cap.offset % align != 0 {
        return Err(Error::BadCapability(what));
    }
    let start = bar_base
        .checked_add(cap.offset.into())
        .filter(|s| s.checked_add(cap.length.into()).is_some())
        .and_then(|s| usize::try_from(s).ok())
        .ok_or(Error::BadCapability(what))?;
    let ptr = NonNull::new(core::ptr::with_exposed_provenance_mut::<u8>(start))
        .ok_or(Error::BadCapability(what))?;
    // SAFETY: the structure lies in the BAR at `bar_base` (the device declares it there, which
    // `PciTransport::new`'s caller trusts), mapped as device memory for the transport's
    // lifetime and used by nothing else.
    Ok(unsafe { IoRegion::new(ptr, cap.length as usize) })
}

/// A modern virtio-pci device.
pub struct PciTransport<C: PciConfig> {
    cfg: C,
    device_type: DeviceType,
    common: IoRegion,
    notify: IoRegion,
    notify_multiplier: u32,
    isr: IoRegion,
    device: Option<IoRegion>,
    msix: Option<msix::Msix>,
    /// Byte offset of each set-up queue's doorbell in `notify`, cached by `queue_set` so a
    /// notification is one register write.
    notify_offsets: Vec<Option<usize>>,
}

impl<C: PciConfig> PciTransport<C> {
    /// Finds the virtio structures of the function behind `cfg`, and enables its memory space
    /// and bus mastering (DMA).
    ///
    /// `bar_address(n)` says where BAR `n`'s memory space is mapped (on Morgana's identity map,
    /// its physical address; for a 64-bit BAR the full address from the pair), or `None` for an
    /// I/O-space, unassigned or unmapped BAR; capabilities in such BARs are skipped in favour of
    /// later ones. The MSI-X table's BAR (QEMU: BAR 1) is resolved here too.
    ///
    /// Ref: virtio 1.2, 4.1.4 and 4.1.5.1.1. Errors: [`Error::NotVirtio`]; [`Error::Legacy`]
    /// for a device without virtio capabilities; [`Error::MissingCapability`],
    /// [`Error::BarUnavailable`] or [`Error::BadCapability`] when a required structure is absent,
    /// in an unmapped BAR, or malformed.
    ///
    /// # Safety
    ///
    /// For every BAR it returns `Some` for, `bar_address` returns the virtual address of that
    /// BAR's whole memory space, mapped as device memory (uncached) for as long as the transport
    /// exists and accessed by nothing else meanwhile. The structures' locations come from the
    /// device and are checked against their declared lengths, not against BAR sizes: the
    /// device is trusted to place them inside its own BARs.
    pub unsafe fn new(cfg: C, bar_address: impl Fn(u8) -> Option<u64>) -> Result<Self, Error> {
        let vendor = cfg.read16(header::VENDOR_ID);
        let device = cfg.read16(header::DEVICE_ID);
        let device_type =
            virtio_pci_ids(vendor, device).ok_or(Error::NotVirtio { vendor, device })?;

        // The first usable instance of each structure (virtio 1.2, 4.1.4.1: "The driver SHOULD
        // use the first instance of each virtio structure type they can support"), and the BAR
        // of the first unusable one, for the error.
        let mut found: [Option<(u64, VirtioCap)>; 5] = [None; 5];
        let mut unmapped: [Option<u8>; 5] = [None; 5];
        let mut msix_at = None;
        for (at, id) in capabilities(&cfg) {
            match id {
                cap_id::VENDOR => {
                    let Some((kind, cap)) = read_virtio_cap(&cfg, at) else {
                        continue;
                    };
                    let slot = usize::from(kind);
                    if found[slot].is_some() {
                        continue;
                    }
                    match bar_address(cap.bar) {
                        Some(base) => found[slot] = Some((base, cap)),
                        None => unmapped[slot] = unmapped[slot].or(Some(cap.bar)),
                    }
                }
                cap_id::MSIX if msix_at.is_none() => msix_at = Some(at),
                _ => {}
            }
        }
        if found.iter().all(Option::is_none) && unmapped.iter().all(Option::is_none) {
            return Err(Error::Legacy(
                "virtio-pci device without virtio capabilities (legacy-only); QEMU: use \
                 disable-legacy=on or a non-transitional virtio-*-pci-non-transitional device",
            ));
        }
        let required = |kind: u8, what: &'static str| {
            let slot = usize::from(kind);
            found[slot].ok_or(match unmapped[slot] {
                Some(bar) => Error::BarUnavailable(bar),
                None => Error::MissingCapability(what),
            })
        };
        let (common_bar, common_cap) = required(cfg_type::COMMON, "common configuration")?;
        let (notify_bar, notify_cap) = required(cfg_type::NOTIFY, "notification")?;
        let (isr_bar, isr_cap) = required(cfg_type::ISR, "ISR status")?;

        // SAFETY: each base is `bar_address`'s answer for the capability's BAR, which our
        // caller vouches for (here and in the three calls below).
        let common = unsafe {
            region(
                common_bar,
                &common_cap,
                common::LEN,
                4,
                "common configuration",
            )?
        };
        // SAFETY: as above.
        let notify = unsafe { region(notify_bar, &notify_cap, 2, 2, "notification")? };
        // SAFETY: as above.
        let isr = unsafe { region(isr_bar, &isr_cap, 1, 1, "ISR status")? };
        let device = match found[usize::from(cfg_type::DEVICE)] {
            // SAFETY: as above.
            Some((bar, cap)) => Some(unsafe { region(bar, &cap, 0, 4, "device configuration")? }),
            None => None,
        };
        // SAFETY: `bar_address` under our caller's contract.
        let msix = msix_at.map(|at| unsafe { msix::Msix::find(&cfg, at, &bar_address) });

        let command = cfg.read16(header::COMMAND);
        let wanted = command | header::COMMAND_MEMORY | header::COMMAND_BUS_MASTER;
        if wanted != command {
            // A dword write with the status half zero: its write-1-to-clear bits stay as they are.
            cfg.write32(header::COMMAND, wanted.into());
        }

        Ok(PciTransport {
            cfg,
            device_type,
            common,
            notify,
            notify_multiplier: notify_cap.multiplier,
            isr,
            device,
            msix,
            notify_offsets: Vec::new(),
        })
    }

    /// The number of queues the device has.
    pub fn num_queues(&self) -> u16 {
        self.common.read16(common::NUM_QUEUES)
    }

    /// The configuration-space accessor this transport was built on.
    pub fn pci_config(&self) -> &C {
        &self.cfg
    }

    /// Selects `queue` in the common configuration, if it exists.
    fn select(&mut self, queue: u16) -> Result<(), Error> {
        if queue >= self.num_queues() {
            return Err(Error::QueueUnavailable(queue));
        }
        self.common.write16(common::QUEUE_SELECT, queue);
        Ok(())
    }

    /// Byte offset of the selected queue's doorbell in the notification structure:
    /// `queue_notify_off * notify_off_multiplier` (virtio 1.2, 4.1.4.4), checked against the
    /// structure's length.
    fn selected_notify_offset(&self) -> Result<usize, Error> {
        let off = u32::from(self.common.read16(common::QUEUE_NOTIFY_OFF));
        off.checked_mul(self.notify_multiplier)
            .and_then(|at| usize::try_from(at).ok())
            .filter(|&at| self.notify.fits(at, 2))
            .ok_or(Error::BadCapability(
                "queue notify address outside the notification structure",
            ))
    }

    fn device_config(&self, offset: usize, width: usize) -> Result<IoRegion, Error> {
        self.device
            .filter(|d| d.fits(offset, width))
            .ok_or(Error::ConfigOutOfRange { offset, width })
    }
}

impl<C: PciConfig> fmt::Debug for PciTransport<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PciTransport")
            .field("device_type", &self.device_type)
            .field("common", &self.common)
            .field("notify", &self.notify)
            .field("notify_multiplier", &self.notify_multiplier)
            .field("isr", &self.isr)
            .field("device", &self.device)
            .field("msix", &self.msix)
            .finish_non_exhaustive()
    }
}

impl<C: PciConfig> Transport for PciTransport<C> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.common.write32(common::DEVICE_FEATURE_SELECT, 0);
        let low = self.common.read32(common::DEVICE_FEATURE);
        self.common.write32(common::DEVICE_FEATURE_SELECT, 1);
        let high = self.common.read32(common::DEVICE_FEATURE);
        u64::from(high) << 32 | u64::from(low)
    }

    fn write_driver_features(&mut self, features: u64) {
        self.common.write32(common::DRIVER_FEATURE_SELECT, 0);
        self.common.write32(common::DRIVER_FEATURE, features as u32);
        self.common.write32(common::DRIVER_FEATURE_SELECT, 1);
        self.common
            .write32(common::DRIVER_FEATURE, (features >> 32) as u32);
    }

    fn status(&self) -> DeviceStatus {
        DeviceStatus::from_bits(self.common.read8(common::DEVICE_STATUS))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.common.write8(common::DEVICE_STATUS, status.bits());
    }

    fn max_queue_size(&mut self, queue: u16) -> u16 {
        match self.select(queue) {
            Ok(()) => self.common.read16(common::QUEUE_SIZE),
            Err(_) => 0,
        }
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u16,
        desc_phys: u64,
        driver_phys: u64,
        device_phys: u64,
    ) -> Result<(), Error> {
        // Ref: virtio 1.2, 4.1.5.1.3; the fields are set before queue_enable (4.1.4.3.2).
        self.select(queue)?;
        if self.common.read16(common::QUEUE_ENABLE) != 0 {
            return Err(Error::QueueInUse(queue));
        }
        let doorbell = self.selected_notify_offset()?;
        self.common.write16(common::QUEUE_SIZE, size);
        self.common.write64(common::QUEUE_DESC, desc_phys);
        self.common.write64(common::QUEUE_DRIVER, driver_phys);
        self.common.write64(common::QUEUE_DEVICE, device_phys);
        self.common.write16(common::QUEUE_ENABLE, 1);

        let index = usize::from(queue);
        if self.notify_offsets.len() <= index {
            self.notify_offsets.resize(index + 1, None);
        }
        self.notify_offsets[index] = Some(doorbell);
        Ok(())
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.select(queue).is_ok() && self.common.read16(common::QUEUE_ENABLE) != 0
    }

    fn notify(&mut self, queue: u16) {
        // Ref: virtio 1.2, 4.1.5.2: the 16-bit queue index at the queue's notify address
        // (VIRTIO_F_NOTIFICATION_DATA and NOTIF_CONFIG_DATA are not negotiated).
        let cached = self
            .notify_offsets
            .get(usize::from(queue))
            .copied()
            .flatten();
        let doorbell = match cached {
            Some(at) => Some(at),
            // A queue this transport did not set up: look its doorbell up (or drop the
            // notification if it has none).
            None => self
                .select(queue)
                .and_then(|()| self.selected_notify_offset())
                .ok(),
        };
        if let Some(at) = doorbell {
            self.notify.write16(at, queue);
        }
    }

    fn ack_interrupt_status(&mut self) -> InterruptStatus {
        // Ref: virtio 1.2, 4.1.4.5: the read itself clears the ISR and deasserts INTx.
        InterruptStatus::from_bits(self.isr.read8(0))
    }

    fn config_generation(&self) -> u32 {
        self.common.read8(common::CONFIG_GENERATION).into()
    }

    fn read_config_u8(&self, offset: usize) -> Result<u8, Error> {
        Ok(self.device_config(offset, 1)?.read8(offset))
    }

    fn read_config_u16(&self, offset: usize) -> Result<u16, Error> {
        Ok(self.device_config(offset, 2)?.read16(offset))
    }

    fn read_config_u32(&self, offset: usize) -> Result<u32, Error> {
        Ok(self.device_config(offset, 4)?.read32(offset))
    }

    fn write_config_u8(&mut self, offset: usize, value: u8) -> Result<(), Error> {
        self.device_config(offset, 1)?.write8(offset, value);
        Ok(())
    }

    fn write_config_u16(&mut self, offset: usize, value: u16) -> Result<(), Error> {
        self.device_config(offset, 2)?.write16(offset, value);
        Ok(())
    }

    fn write_config_u32(&mut self, offset: usize, value: u32) -> Result<(), Error> {
        self.device_config(offset, 4)?.write32(offset, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
