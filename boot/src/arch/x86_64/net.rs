//! virtio-net on this platform: the driver from `morgana-drivers` plus its interrupt, routed
//! through the IOAPIC (virtio-mmio on microvm) or MSI-X (virtio-pci on q35) into an event.
//!
//! [`BootNet::poll_interrupt`] is what a task calls when the device returns `None`: it waits
//! on the interrupt's event, and when it fired, acknowledges at the device (which wakes the
//! driver's wakers) and unmasks a level-triggered line.

use core::task::{Context, Poll};

use morgana_drivers::net::{Capabilities, LinkState, NetDevice};
use morgana_drivers::virtio::net::{Config, VirtioNet};
use morgana_drivers::virtio::{AnyTransport, DeviceType, Error, HeapHal};
use morgana_executor::event::Event;

use super::irq::{self, Trigger};
use super::virtio::{self, BootTransport, Location};

/// How the device interrupts.
#[derive(Debug, Clone, Copy)]
enum Line {
    /// An IOAPIC input, level-triggered: masked by the handler, unmasked after the ack.
    Gsi(u32),
    /// MSI-X: edge, nothing to unmask, and the ISR must not be read.
    Msix,
}

/// A virtio-net device with its interrupt.
#[derive(Debug)]
pub struct BootNet {
    /// The driver (a [`morgana_drivers::net::NetDevice`]).
    pub device: VirtioNet<HeapHal, BootTransport>,
    event: Event,
    /// Whether the driver's giving up on the device was logged.
    failure_reported: bool,
    line: Line,
    /// Where the device is.
    pub location: Location,
}

/// Why there is no network device.
#[derive(Debug)]
pub enum NetError {
    /// The machine has no (unclaimed) virtio-net device.
    NoDevice,
    /// The driver refused the device.
    Driver(Error),
    /// No interrupt could be routed (no IOAPIC input, vector or MSI-X entry).
    NoInterrupt,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetError::NoDevice => f.write_str("no virtio-net device"),
            NetError::Driver(e) => write!(f, "virtio-net: {e}"),
            NetError::NoInterrupt => f.write_str("virtio-net: no interrupt could be routed"),
        }
    }
}

impl BootNet {
    /// Takes the first virtio-net device found at boot and starts its driver. Call inside the
    /// executor. `mac_seed` makes a MAC when the device offers none (give it entropy).
    pub fn open(mac_seed: u64) -> Result<BootNet, NetError> {
        let found = virtio::take(DeviceType::Network).ok_or(NetError::NoDevice)?;
        let config = Config {
            mac_seed,
            ..Config::default()
        };
        let mut device =
            VirtioNet::<HeapHal, _>::new(found.transport, config).map_err(NetError::Driver)?;
        let (id, line) = match found.location {
            Location::Mmio { irq: gsi, .. } => {
                let trigger = Trigger {
                    level: true,
                    active_low: false,
                };
                let id = irq::route_gsi(gsi, trigger).ok_or(NetError::NoInterrupt)?;
                // As on AArch64 (see `arch::aarch64::net`): the device is live since `new` and
                // may have raised its line before it was routed. A level-triggered IOAPIC
                // input delivers it when unmasked, but acknowledging at the device keeps that
                // from depending on the interrupt controller: the next interrupt starts from a
                // low line.
                device.handle_interrupt();
                (id, Line::Gsi(gsi))
            }
            Location::Pci(_) => {
                let msi = irq::alloc_msi().ok_or(NetError::NoInterrupt)?;
                let AnyTransport::Pci(pci) = device.transport_mut() else {
                    return Err(NetError::NoInterrupt);
                };
                // One vector for everything: entry 0, used by the configuration change
                // interrupt and both queues.
                pci.set_msix_entry(0, msi.address, msi.data)
                    .and_then(|()| pci.enable_msix(true))
                    .and_then(|()| pci.set_msix_config_vector(0))
                    .and_then(|()| pci.set_queue_msix_vector(0, 0))
                    .and_then(|()| pci.set_queue_msix_vector(1, 0))
                    .map_err(NetError::Driver)?;
                (msi.event, Line::Msix)
            }
        };
        Ok(BootNet {
            device,
            event: Event::new(id),
            failure_reported: false,
            line,
            location: found.location,
        })
    }

    /// Waits for the device's interrupt; when it came, acknowledges it (waking the driver's
    /// wakers) and re-enables a level-triggered line. `Ready` means: poll the device again.
    pub fn poll_interrupt(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.poll_wait(cx).is_pending() {
            return Poll::Pending;
        }
        match self.line {
            Line::Gsi(gsi) => {
                self.device.handle_interrupt();
                irq::unmask_gsi(gsi);
            }
            Line::Msix => {
                self.device.handle_queue_interrupt();
                self.device.handle_config_interrupt();
            }
        }
        Poll::Ready(())
    }
}

/// `BootNet` is the platform's NIC: the driver, with the interrupt folded into the waker rule.
/// Before asking the driver, a fired interrupt is acknowledged and the interrupt's event is
/// registered with the caller's waker; so when the driver then says "nothing" (having armed
/// its interrupt and stored the waker), the next interrupt wakes the caller through the event.
impl NetDevice for BootNet {
    type RxToken<'a> = <VirtioNet<HeapHal, BootTransport> as NetDevice>::RxToken<'a>;
    type TxToken<'a> = <VirtioNet<HeapHal, BootTransport> as NetDevice>::TxToken<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.arm(cx);
        self.device.receive(cx)
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<Self::TxToken<'_>> {
        self.arm(cx);
        self.device.transmit(cx)
    }

    fn flush(&mut self) {
        self.device.flush();
        crate::net::report_failure_once(&self.device, &mut self.failure_reported);
    }

    fn hardware_address(&self) -> [u8; 6] {
        self.device.hardware_address()
    }

    fn capabilities(&self) -> Capabilities {
        self.device.capabilities()
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        self.arm(cx);
        self.device.link_state(cx)
    }
}

impl BootNet {
    /// Acknowledges a fired interrupt, then leaves the event registered with `cx`'s waker. (A
    /// firing is counted by the run loop between passes, so this loop runs at most twice.)
    fn arm(&mut self, cx: &mut Context<'_>) {
        while self.poll_interrupt(cx).is_ready() {}
    }
}
