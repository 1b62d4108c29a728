//! PCI configuration space: the platform's accessor, and the capability list walk.
//!
//! Ref: PCI Local Bus 3.0, 6.1 (configuration header) and 6.7 (capabilities list).

/// One PCI function's configuration space, 32 bits at a time.
///
/// The platform implements it (x86 port 0xcf8/0xcfc, or ECAM memory); offsets are
/// 4-aligned and below 256 (or 4096 with ECAM). Narrower accesses are derived from these.
pub trait PciConfig {
    /// Reads the dword at `offset` (4-aligned).
    fn read32(&self, offset: u16) -> u32;

    /// Writes the dword at `offset` (4-aligned).
    fn write32(&self, offset: u16, value: u32);

    /// Reads the byte at `offset`.
    fn read8(&self, offset: u16) -> u8 {
        (self.read32(offset & !3) >> ((offset & 3) * 8)) as u8
    }

    /// Reads the 16-bit field at `offset` (2-aligned; the low bit is ignored).
    fn read16(&self, offset: u16) -> u16 {
        (self.read32(offset & !3) >> ((offset & 2) * 8)) as u16
    }

    /// Writes the 16-bit field at `offset` (2-aligned) by read-modify-write of its dword.
    /// Not for a dword whose other half has write-1-to-clear bits (the status register at 6).
    fn write16(&self, offset: u16, value: u16) {
        let shift = (offset & 2) * 8;
        let dword = self.read32(offset & !3) & !(0xffff << shift);
        self.write32(offset & !3, dword | u32::from(value) << shift);
    }
}

impl<C: PciConfig + ?Sized> PciConfig for &C {
    fn read32(&self, offset: u16) -> u32 {
        (**self).read32(offset)
    }

    fn write32(&self, offset: u16, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Configuration header offsets and bits.
pub(crate) mod header {
    pub const VENDOR_ID: u16 = 0x00;
    pub const DEVICE_ID: u16 = 0x02;
    pub const COMMAND: u16 = 0x04;
    pub const STATUS: u16 = 0x06;
    pub const CAPABILITIES: u16 = 0x34;

    /// Command bit 1: respond to memory-space accesses (the BARs).
    pub const COMMAND_MEMORY: u16 = 1 << 1;
    /// Command bit 2: the device may master the bus (DMA). QEMU drops a device's DMA without it.
    pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
    /// Status bit 4: the capability list at 0x34 is valid.
    pub const STATUS_CAPABILITIES: u16 = 1 << 4;
}

/// Capability ids.
pub(crate) mod cap_id {
    /// Vendor-specific: virtio's structures.
    pub const VENDOR: u8 = 0x09;
    /// MSI-X.
    pub const MSIX: u8 = 0x11;
}

/// The most capabilities 192 bytes of capability space can hold (4 bytes each): a longer walk
/// is a loop in the list.
const MAX_CAPS: usize = 48;
/// Capabilities live after the 64-byte header.
const FIRST_CAP: u8 = 0x40;

/// The capability list as `(offset, id)`, bounded: at most [`MAX_CAPS`] entries, every pointer
/// at or above 0x40. The pointers' two low bits are reserved and masked off, as the PCI spec
/// tells software to, so every offset is 4-aligned. A malformed list simply ends.
pub(crate) fn capabilities<C: PciConfig>(cfg: &C) -> impl Iterator<Item = (u8, u8)> + '_ {
    let has_list = cfg.read16(header::STATUS) & header::STATUS_CAPABILITIES != 0;
    let mut next = if has_list {
        cfg.read8(header::CAPABILITIES) & !3
    } else {
        0
    };
    let mut left = MAX_CAPS;
    core::iter::from_fn(move || {
        if next < FIRST_CAP || left == 0 {
            return None;
        }
        left -= 1;
        let at = next;
        let dword = cfg.read32(at.into());
        next = (dword >> 8) as u8 & !3;
        Some((at, dword as u8))
    })
}
