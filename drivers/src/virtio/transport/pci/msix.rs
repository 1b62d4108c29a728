//! MSI-X for virtio-pci: the capability, its table, and virtio's vector mapping.
//!
//! The platform allocates interrupt messages (on x86: address 0xfee0_0000 | APIC id << 12,
//! data = vector), writes them into table entries with [`PciTransport::set_msix_entry`], enables
//! MSI-X, then maps the configuration-change event and each queue to an entry. Mapping must
//! happen after [`begin_init`](crate::virtio::transport::Transport::begin_init) (a reset
//! unmaps everything, virtio 1.2, 4.1.5.1.2.1) and before the queue is enabled by
//! [`VirtQueue::new`](crate::virtio::queue::VirtQueue::new) (4.1.5.1.3, step 5).
//!
//! Ref: PCI Local Bus 3.0, 6.8.2 (MSI-X capability and table); virtio 1.2, 4.1.5.1.2.

use core::ptr::NonNull;

use super::config::PciConfig;
use super::{NO_VECTOR, PciTransport, common};
use crate::virtio::Error;
use crate::virtio::transport::io::IoRegion;

/// Message Control (capability + 2): bit 15 enables MSI-X, bit 14 masks the whole function,
/// bits 10:0 are the table size minus one.
const CONTROL: u16 = 2;
const CONTROL_ENABLE: u16 = 1 << 15;
const CONTROL_FUNCTION_MASK: u16 = 1 << 14;
const CONTROL_TABLE_SIZE: u16 = 0x7ff;
/// Table Offset/BIR (capability + 4): bits 2:0 the BAR, the rest the offset in it.
const TABLE: u16 = 4;
/// A table entry: message address low, high, data, vector control (bit 0 masks).
const ENTRY_SIZE: usize = 16;
const ENTRY_MASKED: u32 = 1;

/// The MSI-X capability of a function.
#[derive(Clone, Copy, Debug)]
pub(super) struct Msix {
    /// The capability's offset in configuration space.
    at: u8,
    /// Entries in the table (1..=2048).
    entries: u16,
    /// The table's BAR and offset in it.
    bar: u8,
    offset: u32,
    /// The table, if its BAR is mapped.
    table: Option<IoRegion>,
}

impl Msix {
    /// Reads the capability at `at` and locates its table.
    ///
    /// # Safety
    ///
    /// `bar_address` meets [`PciTransport::new`]'s contract.
    pub(super) unsafe fn find<C: PciConfig>(
        cfg: &C,
        at: u8,
        bar_address: &impl Fn(u8) -> Option<u64>,
    ) -> Self {
        let control = cfg.read16(u16::from(at) + CONTROL);
        let entries = (control & CONTROL_TABLE_SIZE) + 1;
        let table = cfg.read32(u16::from(at) + TABLE);
        let (bar, offset) = ((table & 7) as u8, table & !7);
        let len = usize::from(entries) * ENTRY_SIZE;
        let table = (bar <= 5)
            .then(|| bar_address(bar))
            .flatten()
            .and_then(|base| base.checked_add(offset.into()))
            .and_then(|start| usize::try_from(start).ok())
            .filter(|start| start.checked_add(len).is_some())
            .and_then(|start| NonNull::new(core::ptr::with_exposed_provenance_mut::<u8>(start)))
            // SAFETY: the table lies in BAR `bar` (the device says so, and `new`'s caller trusts
            // the device to place its structures in its BARs), which `bar_address` says is
            // mapped as device memory for the transport's lifetime and used by nothing else.
            .map(|ptr| unsafe { IoRegion::new(ptr, len) });
        Msix {
            at,
            entries,
            bar,
            offset,
            table,
        }
    }
}

impl<C: PciConfig> PciTransport<C> {
    /// The number of MSI-X table entries (0 when the function has no MSI-X).
    pub fn msix_table_entries(&self) -> u16 {
        self.msix.map_or(0, |m| m.entries)
    }

    /// Where the MSI-X table is: its BAR and the offset in that BAR (`None` without MSI-X).
    /// The table is written through the address `bar_address` gave for that BAR in
    /// [`new`](Self::new); if that was `None`, the table is unreachable and
    /// [`set_msix_entry`](Self::set_msix_entry) fails with [`Error::NoMsix`].
    pub fn msix_table_location(&self) -> Option<(u8, u32)> {
        self.msix.map(|m| (m.bar, m.offset))
    }

    /// Writes MSI-X table entry `index`: the message the device sends (an `address` and
    /// `data` from the platform's interrupt controller), then unmasks the entry.
    pub fn set_msix_entry(&mut self, index: u16, address: u64, data: u32) -> Result<(), Error> {
        let (table, entries) = self.msix_table()?;
        if index >= entries {
            return Err(Error::MsixIndexOutOfRange(index));
        }
        let at = usize::from(index) * ENTRY_SIZE;
        // Masked while it is rewritten, so the device never sends a half-written message.
        table.write32(at + 12, ENTRY_MASKED);
        table.write32(at, address as u32);
        table.write32(at + 4, (address >> 32) as u32);
        table.write32(at + 8, data);
        table.write32(at + 12, 0);
        Ok(())
    }

    /// Masks (or unmasks) one MSI-X table entry: a masked entry's interrupt stays pending in
    /// the device until unmasked.
    pub fn mask_msix_entry(&mut self, index: u16, masked: bool) -> Result<(), Error> {
        let (table, entries) = self.msix_table()?;
        if index >= entries {
            return Err(Error::MsixIndexOutOfRange(index));
        }
        let control = if masked { ENTRY_MASKED } else { 0 };
        table.write32(usize::from(index) * ENTRY_SIZE + 12, control);
        Ok(())
    }

    /// Enables (or disables) MSI-X for the function, and clears the function mask. While MSI-X
    /// is enabled the device does not use INTx.
    pub fn enable_msix(&mut self, enable: bool) -> Result<(), Error> {
        let msix = self.msix.ok_or(Error::NoMsix)?;
        let at = u16::from(msix.at) + CONTROL;
        let control = self.cfg.read16(at) & !(CONTROL_ENABLE | CONTROL_FUNCTION_MASK);
        let control = if enable {
            control | CONTROL_ENABLE
        } else {
            control
        };
        // Read-modify-write of the capability's first dword; its other half (id and next
        // pointer) is read-only.
        self.cfg.write16(at, control);
        Ok(())
    }

    /// Maps configuration-change interrupts to MSI-X table entry `vector` ([`NO_VECTOR`]
    /// unmaps them), and checks the device accepted (virtio 1.2, 4.1.5.1.2.2: a refusal reads
    /// back NO_VECTOR).
    pub fn set_msix_config_vector(&mut self, vector: u16) -> Result<(), Error> {
        self.check_vector(vector)?;
        self.common.write16(common::MSIX_CONFIG, vector);
        accepted(vector, self.common.read16(common::MSIX_CONFIG))
    }

    /// Maps queue `queue`'s used-buffer interrupts to MSI-X table entry `vector`
    /// ([`NO_VECTOR`] unmaps them), and checks the device accepted. Call it before the queue is
    /// set up ([`VirtQueue::new`](crate::virtio::queue::VirtQueue::new)).
    pub fn set_queue_msix_vector(&mut self, queue: u16, vector: u16) -> Result<(), Error> {
        self.check_vector(vector)?;
        self.select(queue)?;
        self.common.write16(common::QUEUE_MSIX_VECTOR, vector);
        accepted(vector, self.common.read16(common::QUEUE_MSIX_VECTOR))
    }

    fn msix_table(&self) -> Result<(IoRegion, u16), Error> {
        let msix = self.msix.ok_or(Error::NoMsix)?;
        Ok((msix.table.ok_or(Error::NoMsix)?, msix.entries))
    }

    /// A vector must be a table entry or NO_VECTOR (virtio 1.2, 4.1.5.1.2.2: "Driver MUST NOT
    /// attempt to map an event to a vector outside the MSI-X Table").
    fn check_vector(&self, vector: u16) -> Result<(), Error> {
        if vector != NO_VECTOR && vector >= self.msix_table_entries() {
            return Err(Error::MsixIndexOutOfRange(vector));
        }
        Ok(())
    }
}

/// Whether the device kept the mapping: it reads back what was written (NO_VECTOR when asked
/// to unmap), and NO_VECTOR when it refused.
fn accepted(written: u16, read_back: u16) -> Result<(), Error> {
    if read_back == written {
        Ok(())
    } else {
        Err(Error::MsixVectorRejected(written))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_read_back() {
        assert_eq!(accepted(3, 3), Ok(()));
        assert_eq!(accepted(NO_VECTOR, NO_VECTOR), Ok(()));
        assert_eq!(accepted(3, NO_VECTOR), Err(Error::MsixVectorRejected(3)));
        assert_eq!(accepted(3, 4), Err(Error::MsixVectorRejected(3)));
    }
}
