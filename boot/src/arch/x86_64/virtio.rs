//! Finding virtio devices: on a PC (q35) by scanning PCI, on microvm from the
//! `virtio_mmio.device=<size>@<base>:<irq>` words QEMU puts on the kernel command line. Either
//! way the device comes out as an [`AnyTransport`], so drivers do not care which bus it was.

use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::ptr::NonNull;

use morgana_drivers::virtio::transport::mmio::{MmioTransport, parse_cmdline_devices};
use morgana_drivers::virtio::transport::pci::{PciConfig, PciTransport, virtio_pci_ids};
use morgana_drivers::virtio::{AnyTransport, DeviceType, Error, Transport};

use super::paging::DEVICE_WINDOW;
use super::pci::{self, PciAddress};

impl PciConfig for PciAddress {
    fn read32(&self, offset: u16) -> u32 {
        PciAddress::read32(*self, offset)
    }

    fn write32(&self, offset: u16, value: u32) {
        PciAddress::write32(*self, offset, value)
    }
}

/// A virtio transport on this platform.
pub type BootTransport = AnyTransport<PciAddress>;

/// Where a device was found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A PCI function.
    Pci(PciAddress),
    /// A virtio-mmio register block and its interrupt line (GSI).
    Mmio {
        /// Physical address of the registers.
        base: u64,
        /// The IOAPIC input it interrupts on.
        irq: u32,
    },
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Pci(a) => write!(f, "pci {a}"),
            Location::Mmio { base, irq } => write!(f, "mmio {base:#x} irq {irq}"),
        }
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

/// Whether `[start, start + len)` lies in the uncached device window that paging maps.
fn mapped(start: u64, len: u64) -> bool {
    start >= DEVICE_WINDOW.0
        && start
            .checked_add(len)
            .is_some_and(|end| end <= DEVICE_WINDOW.1)
}

/// Every virtio device of this machine, and the ones that were found but could not be used,
/// with why (a legacy-only device, a BAR outside the mapped window, ...).
pub fn discover(cmdline: &str, has_pci: bool) -> (Vec<Found>, Vec<(Location, Error)>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for spec in parse_cmdline_devices(cmdline) {
        let location = Location::Mmio {
            base: spec.base,
            irq: spec.irq,
        };
        if !mapped(spec.base, spec.size) {
            failed.push((location, Error::BarUnavailable(0)));
            continue;
        }
        let Some(base) = NonNull::new(spec.base as *mut u8) else {
            continue;
        };
        // SAFETY: the register block lies in the device window, which paging maps uncached for
        // the whole run, and this is the only transport made for it (each command-line word
        // names a distinct device).
        match unsafe { MmioTransport::with_size(base, spec.size as usize) } {
            Ok(t) => found.push(Found {
                kind: t.device_type(),
                location,
                transport: t.into(),
            }),
            Err(Error::NoDevice) => {} // an empty slot
            Err(e) => failed.push((location, e)),
        }
    }
    if has_pci {
        for function in pci::scan() {
            if virtio_pci_ids(function.vendor, function.device).is_none() {
                continue;
            }
            let location = Location::Pci(function.address);
            let bar = |b: u8| function.memory_bar(b).filter(|&a| mapped(a, 4096));
            // SAFETY: `bar` only names BARs that firmware placed inside the device window,
            // which paging maps uncached for the whole run; this is the only transport made
            // for this function.
            match unsafe { PciTransport::new(function.address, bar) } {
                Ok(t) => found.push(Found {
                    kind: t.device_type(),
                    location,
                    transport: t.into(),
                }),
                Err(e) => failed.push((location, e)),
            }
        }
    }
    (found, failed)
}

/// Devices not yet claimed by a driver; discovered on the first [`take`].
struct Unclaimed(RefCell<Discovery>);

enum Discovery {
    /// Not looked for yet: the command line (it names microvm's virtio-mmio devices) and
    /// whether there is PCI.
    Deferred(alloc::string::String, bool),
    /// Found (and not yet taken).
    Done(Vec<Found>),
}

// SAFETY: Morgana runs on one core, and interrupt handlers never touch this list (they only
// mark the event table), so it is only accessed from the one thread of control that runs boot
// and then the executor; `Sync` is needed only to put it in a `static`.
unsafe impl Sync for Unclaimed {}

static UNCLAIMED: Unclaimed = Unclaimed(RefCell::new(Discovery::Done(Vec::new())));

/// Remembers where to look for devices; [`take`] looks on first use, so an appliance that
/// uses none pays nothing at boot.
pub fn defer_discovery(cmdline: &str, has_pci: bool) {
    *UNCLAIMED.0.borrow_mut() = Discovery::Deferred(cmdline.into(), has_pci);
}

/// Takes the first unclaimed device of `kind`, discovering devices on the first call (and
/// reporting on the console the ones that cannot be used).
pub fn take(kind: DeviceType) -> Option<Found> {
    let mut state = UNCLAIMED.0.borrow_mut();
    if let Discovery::Deferred(cmdline, has_pci) = &*state {
        let (found, unusable) = discover(cmdline, *has_pci);
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
