//! Interrupt plumbing for drivers: IOAPIC lines (microvm's virtio-mmio devices, legacy ISA)
//! and MSI/MSI-X messages (q35's virtio-pci devices), each delivering into the executor's event
//! table and nothing more.
//!
//! A level-triggered line is masked by the interrupt handler (a line that stays asserted
//! until the device is acknowledged would otherwise interrupt forever); the driver calls
//! [`unmask_gsi`] once it has acknowledged the device.

use core::sync::atomic::{AtomicU64, Ordering};

use morgana_executor::EventId;

use super::apic::{self, IoApic};
use super::idt::{self, EVENTS};

/// Where the (first) IOAPIC lives on QEMU's microvm and q35, as on most PCs.
pub const IOAPIC_BASE: u64 = 0xfec0_0000;

/// The IOAPIC's address once [`init`] found one; 0 before.
static IOAPIC: AtomicU64 = AtomicU64::new(0);

fn ioapic() -> Option<IoApic> {
    match IOAPIC.load(Ordering::Acquire) {
        0 => None,
        // SAFETY: `init` stored the address of a present IOAPIC, mapped by paging (device
        // window); `IoApic` is a handle to its registers.
        base => Some(unsafe { IoApic::new(base) }),
    }
}

/// Runs `f` with interrupts off: the IOAPIC is programmed through an index/data register
/// pair, which an interrupt handler masking a line must not interleave with.
fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    ::x86_64::instructions::interrupts::without_interrupts(f)
}

/// Records the IOAPIC and masks all its inputs.
pub fn init() {
    IOAPIC.store(IOAPIC_BASE, Ordering::Release);
    if let Some(io) = ioapic() {
        without_interrupts(|| {
            for gsi in 0..io.gsi_count() {
                io.set_masked(gsi, true);
            }
        });
    }
}

/// How an IOAPIC input signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else active high).
    pub active_low: bool,
}

/// Routes IOAPIC input `gsi` to a new event and unmasks it; the driver awaits the event.
pub fn route_gsi(gsi: u32, trigger: Trigger) -> Option<EventId> {
    let io = ioapic()?;
    if gsi >= io.gsi_count() {
        return None;
    }
    let event = EVENTS.alloc()?;
    let Some(vector) = idt::bind_vector(event, trigger.level.then_some(gsi)) else {
        EVENTS.free(event);
        return None;
    };
    // `route` programs the entry masked, then unmasks it.
    without_interrupts(|| io.route(gsi, vector, trigger.level, trigger.active_low));
    Some(event)
}

/// Unmasks a level-triggered line after the driver acknowledged its device.
pub fn unmask_gsi(gsi: u32) {
    if let Some(io) = ioapic() {
        without_interrupts(|| io.set_masked(gsi, false));
    }
}

/// Masks a line from its interrupt handler (interrupts are already off there).
pub(super) fn mask_gsi_from_interrupt(gsi: u32) {
    if let Some(io) = ioapic() {
        io.set_masked(gsi, true);
    }
}

/// An MSI or MSI-X message: write `data` to `address` and the event fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMessage {
    /// The event the message marks.
    pub event: EventId,
    /// The vector it arrives on.
    pub vector: u8,
    /// The message address (to this CPU's local APIC).
    pub address: u64,
    /// The message data.
    pub data: u32,
}

/// Allocates an event and a vector for one MSI/MSI-X entry.
pub fn alloc_msi() -> Option<MsiMessage> {
    let event = EVENTS.alloc()?;
    let Some(vector) = idt::bind_vector(event, None) else {
        EVENTS.free(event);
        return None;
    };
    let (address, data) = apic::msi_message(vector);
    Some(MsiMessage {
        event,
        vector,
        address,
        data,
    })
}
