//! virtio-net on this platform: the driver from `morgana-drivers` on a virtio-mmio slot, its
//! interrupt routed through the GIC into an event.
//!
//! [`BootNet::poll_interrupt`] is what a task calls when the device returns `None`: it waits on
//! the interrupt's event, and when it fired, acknowledges at the device (which wakes the
//! driver's wakers) and unmasks a level-triggered line.

use core::task::{Context, Poll};

use morgana_drivers::net::{Capabilities, LinkState, NetDevice};
use morgana_drivers::virtio::net::{Config, VirtioNet};
use morgana_drivers::virtio::{DeviceType, Error, HeapHal};
use morgana_executor::event::Event;

use super::gic;
use super::virtio::{self, BootTransport, Location};

/// A virtio-net device with its interrupt.
#[derive(Debug)]
pub struct BootNet {
    /// The driver (a [`morgana_drivers::net::NetDevice`]).
    pub device: VirtioNet<HeapHal, BootTransport>,
    event: Event,
    /// Whether the driver's giving up on the device was logged.
    failure_reported: bool,
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
    /// Its interrupt could not be routed.
    NoInterrupt,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetError::NoDevice => f.write_str("no virtio-net device"),
            NetError::Driver(e) => write!(f, "virtio-net: {e}"),
            NetError::NoInterrupt => f.write_str("virtio-net: its interrupt could not be routed"),
        }
    }
}

impl BootNet {
    /// Takes the first virtio-net device and starts its driver. Call inside the executor.
    /// `mac_seed` makes a MAC when the device offers none (give it entropy).
    pub fn open(mac_seed: u64) -> Result<BootNet, NetError> {
        let found = virtio::take(DeviceType::Network).ok_or(NetError::NoDevice)?;
        let config = Config {
            mac_seed,
            ..Config::default()
        };
        let mut device =
            VirtioNet::<HeapHal, _>::new(found.transport, config).map_err(NetError::Driver)?;
        let id = gic::route(found.location.irq).ok_or(NetError::NoInterrupt)?;
        // The device went live (and was given its receive buffers) inside `new`, before its
        // interrupt was routed: frames may have arrived already and raised the line. QEMU's
        // `virt` describes virtio-mmio lines as edge-triggered, but the device holds its line
        // high until the interrupt status is acknowledged, so a line raised before `route`
        // makes no edge the GIC ever sees, and none after either: every later interrupt
        // finds it high. The stack then waits for an interrupt that never comes (frames pile
        // up in the used ring; only its timers poll). Acknowledging once here lowers the line,
        // so the next interrupt is an edge; the stack's first poll takes the frames already
        // there.
        device.handle_interrupt();
        Ok(BootNet {
            device,
            event: Event::new(id),
            failure_reported: false,
            location: found.location,
        })
    }

    /// Waits for the device's interrupt; when it came, acknowledges it (waking the driver's
    /// wakers) and re-enables a level-triggered line. `Ready` means: poll the device again.
    pub fn poll_interrupt(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.poll_wait(cx).is_pending() {
            return Poll::Pending;
        }
        self.device.handle_interrupt();
        if self.location.irq.level {
            gic::unmask(self.location.irq.intid);
        }
        Poll::Ready(())
    }

    /// Acknowledges a fired interrupt, then leaves the event registered with `cx`'s waker.
    fn arm(&mut self, cx: &mut Context<'_>) {
        while self.poll_interrupt(cx).is_ready() {}
    }
}

/// `BootNet` is the platform's NIC: the driver, with the interrupt folded into the waker rule
/// (as on x86_64: see `arch::x86_64::net`).
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
