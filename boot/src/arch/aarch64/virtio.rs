//! Finding virtio devices: the device tree's `virtio,mmio` slots (QEMU `virt` has 32, most
//! empty), each a register block and a GIC interrupt. Drivers get an [`MmioTransport`].

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::ptr::NonNull;

use morgana_drivers::virtio::transport::mmio::MmioTransport;
use morgana_drivers::virtio::{DeviceType, Error, Transport};

use crate::dtb::{Irq, VirtioSlot};

/// A virtio transport on this platform.
pub type BootTransport = MmioTransport;

/// Where a device was found: its registers and interrupt.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Physical address of the registers.
    pub base: u64,
    /// Its GIC interrupt.
    pub irq: Irq,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mmio {:#x} intid {}", self.base, self.irq.intid)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A device found, ready for its driver.
#[derive(Debug)]
pub struct Found {
    /// What it is.
    pub kind: DeviceType,
    /// Where it is.
    pub location: Location,
    /// Its registers.
    pub transport: BootTransport,
}

enum Discovery {
    /// Not looked at yet: the slots from the device tree.
    Deferred(Vec<VirtioSlot>),
    /// Found (and not yet taken).
    Done(Vec<Found>),
}

struct Unclaimed(RefCell<Discovery>);

// SAFETY: Morgana runs on one core, and interrupt handlers never touch this list (they only
// mark the event table), so only the one thread of control that runs boot and then the
// executor accesses it; `Sync` is needed only to put it in a `static`.
unsafe impl Sync for Unclaimed {}

static UNCLAIMED: Unclaimed = Unclaimed(RefCell::new(Discovery::Done(Vec::new())));

/// Remembers the slots; [`take`] probes them on first use, so an appliance that uses no device
/// pays nothing at boot.
pub fn defer_discovery(slots: &[VirtioSlot]) {
    *UNCLAIMED.0.borrow_mut() = Discovery::Deferred(slots.to_vec());
}

fn discover(slots: &[VirtioSlot]) -> (Vec<Found>, Vec<(Location, Error)>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for slot in slots {
        let location = Location {
            base: slot.reg.base,
            irq: slot.irq,
        };
        let Some(base) = NonNull::new(slot.reg.base as *mut u8) else {
            continue;
        };
        // SAFETY: the register block is one the device tree names, which paging mapped as
        // device memory for the whole run, and this is the only transport made for it (each
        // slot is a distinct device).
        match unsafe { MmioTransport::with_size(base, slot.reg.size as usize) } {
            Ok(t) => found.push(Found {
                kind: t.device_type(),
                location,
                transport: t,
            }),
            Err(Error::NoDevice) => {} // an empty slot
            Err(e) => failed.push((location, e)),
        }
    }
    (found, failed)
}

/// Takes the first unclaimed device of `kind`, probing the slots on the first call (and
/// reporting on the console the devices that cannot be used).
pub fn take(kind: DeviceType) -> Option<Found> {
    let mut state = UNCLAIMED.0.borrow_mut();
    if let Discovery::Deferred(slots) = &*state {
        let (found, unusable) = discover(slots);
        for (location, error) in &unusable {
            let _ = fmt::Write::write_fmt(
                &mut super::EarlyConsole,
                format_args!("morgana: virtio device at {location} unusable: {error}\n"),
            );
        }
        *state = Discovery::Done(found);
    }
    let Discovery::Done(list) = &mut *state else {
        return None;
    };
    let at = list.iter().position(|f| f.kind == kind)?;
    Some(list.remove(at))
}
