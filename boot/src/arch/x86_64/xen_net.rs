//! The x86_64 image's NIC: virtio-net on QEMU, netfront on Xen ([`Nic::open`] picks by what
//! start-up found), so the netstack and everything above it run unchanged on both.
//!
//! On Xen, [`XenNet`] is netfront with its event-channel port's event folded into the waker
//! rule (as [`super::net::BootNet`] does with virtio's interrupt), and a task that watches the
//! back end's `state` in xenstore and hands each change to netfront
//! ([`Netfront::backend_changed`]): when it leaves `Connected` (dom0 unplugged the vif, netback
//! went away) the link goes down with an error in the log; when it comes back to `InitWait`,
//! netfront reconnects and the watcher binds the new port to the device's event.

use alloc::rc::Rc;
use alloc::string::{String, ToString};
use core::cell::RefCell;
use core::task::{Context, Waker};

use morgana_drivers::net::{Capabilities, LinkState, NetDevice, RxToken, TxToken};
use morgana_drivers::xen::netfront::{
    self, BackendChange, Netfront, NetfrontRx, NetfrontTx, PageAllocator,
};
use morgana_executor::EventId;
use morgana_executor::event::Event;
use morgana_hypervisor::hypercall::HypercallPage;
use morgana_hypervisor::xenstore::{Transaction, XenStore};

use super::net::BootNet;
use super::xen;

/// Grant frames mapped for the table: 1024 references, enough for one netfront (2 rings and
/// 96 buffers) and more.
const GRANT_FRAMES: u32 = 2;

/// How long netfront's handshake may take.
const CONNECT_LIMIT_NS: u64 = 20_000_000_000;

/// The platform's NIC.
#[derive(Debug)]
// One NIC per image, made once and kept: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Nic {
    /// virtio-net (QEMU).
    Virtio(BootNet),
    /// netfront (Xen).
    Xen(XenNet),
}

impl Nic {
    /// Opens the NIC: netfront `device/vif/0` on Xen, else the first virtio-net device.
    pub fn open(mac_seed: u64) -> Result<Nic, String> {
        if xen::active() {
            XenNet::open(0).map(Nic::Xen)
        } else {
            BootNet::open(mac_seed)
                .map(Nic::Virtio)
                .map_err(|e| e.to_string())
        }
    }
}

/// Heap pages; identity-mapped, so a page's frame is its address / 4096.
struct HeapPages;

impl PageAllocator for HeapPages {
    fn alloc_page(&self) -> *mut u8 {
        xen::alloc_page()
    }

    fn frame(&self, page: *mut u8) -> u64 {
        page as u64 >> 12
    }
}

/// Who to wake when the back-end watcher changed the device's link.
#[derive(Debug, Default)]
struct Link {
    waker: RefCell<Option<Waker>>,
}

/// netfront, shared with the back-end watcher, with its event.
pub struct XenNet {
    device: Rc<Netfront<HypercallPage>>,
    event: Event,
    link: Rc<Link>,
}

impl core::fmt::Debug for XenNet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XenNet")
            .field("device", &self.device)
            .finish()
    }
}

impl XenNet {
    /// Connects netfront to `device/vif/<index>` (blocking, up to 20 s, inside the executor)
    /// and starts the back-end watcher.
    pub fn open(index: u32) -> Result<XenNet, String> {
        let mut store = xen::xenstore()?;
        let mut grants = xen::grant_table(GRANT_FRAMES)?;
        let mut wait = xen::blocking_wait(CONNECT_LIMIT_NS);
        let device = Netfront::connect(
            xen::xen(),
            &mut store,
            &mut grants,
            &HeapPages,
            index,
            &mut wait,
        )
        .map_err(|e| e.to_string())?;
        let event = xen::bind_port(device.port())?;
        log::info!(
            "net: Xen netfront {:02x?} connected to {} (domain {}), event channel {}",
            device.hardware_address(),
            device.backend,
            device.backend_id,
            device.port()
        );
        let link = Rc::new(Link::default());
        let device = Rc::new(device);
        morgana_executor::spawn(watch_backend(store, device.clone(), event, link.clone())).detach();
        // The grant table lives as long as the grants: for good.
        core::mem::forget(grants);
        Ok(XenNet {
            device,
            event: Event::new(event),
            link,
        })
    }

    /// Registers `cx` with the port's event (see `BootNet::arm`).
    fn arm(&mut self, cx: &mut Context<'_>) {
        while self.event.poll_wait(cx).is_ready() {}
    }
}

/// Watches the back end's `state` and hands each change to netfront: the link goes down when
/// the back end leaves `Connected`, netfront reconnects when it returns (the new port then marks
/// the device's `event`).
async fn watch_backend(
    mut store: XenStore,
    device: Rc<Netfront<HypercallPage>>,
    event: EventId,
    link: Rc<Link>,
) {
    let backend = device.backend.clone();
    let path = alloc::format!("{backend}/state");
    if let Err(e) = store.watch(&path, "netfront").await {
        log::warn!("netfront: cannot watch {path}: {e}; a back-end disconnect will go unseen");
        return;
    }
    loop {
        if let Err(e) = store.next_watch_event().await {
            log::warn!("netfront: watch on {path}: {e}");
            return;
        }
        let state = match store.read(Transaction::NONE, &path).await {
            Ok(s) => s.trim().parse::<u32>().unwrap_or(0),
            Err(e) if e.is_not_found() => netfront::state::CLOSED,
            Err(e) => {
                log::warn!("netfront: reading {path}: {e}");
                continue;
            }
        };
        let old_port = device.port();
        let mut wait = xen::blocking_wait(CONNECT_LIMIT_NS);
        match device.backend_changed(state, &mut store, &mut wait) {
            Ok(BackendChange::None) => continue,
            Ok(BackendChange::Down(error)) => log::error!("{error}"),
            Ok(BackendChange::Reconnected(port)) => match xen::rebind_port(old_port, port, event) {
                Ok(()) => log::info!("netfront: reconnected to {backend}, event channel {port}"),
                Err(e) => log::error!("netfront: reconnected, but {e}"),
            },
            Err(e) => log::error!("{e}"),
        }
        if let Some(w) = link.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A received frame from either device.
#[derive(Debug)]
pub enum NicRx<'a> {
    /// From virtio-net.
    Virtio(<BootNet as NetDevice>::RxToken<'a>),
    /// From netfront.
    Xen(NetfrontRx<'a, HypercallPage>),
}

/// Room for a frame on either device.
#[derive(Debug)]
pub enum NicTx<'a> {
    /// On virtio-net.
    Virtio(<BootNet as NetDevice>::TxToken<'a>),
    /// On netfront.
    Xen(NetfrontTx<'a, HypercallPage>),
}

impl RxToken for NicRx<'_> {
    fn consume<R>(self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        match self {
            NicRx::Virtio(t) => t.consume(f),
            NicRx::Xen(t) => t.consume(f),
        }
    }

    fn checksum_verified(&self) -> bool {
        match self {
            NicRx::Virtio(t) => t.checksum_verified(),
            NicRx::Xen(t) => t.checksum_verified(),
        }
    }
}

impl TxToken for NicTx<'_> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        match self {
            NicTx::Virtio(t) => t.consume(len, f),
            NicTx::Xen(t) => t.consume(len, f),
        }
    }
}

impl NetDevice for Nic {
    type RxToken<'a> = NicRx<'a>;
    type TxToken<'a> = NicTx<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(NicRx<'_>, NicTx<'_>)> {
        match self {
            Nic::Virtio(d) => d
                .receive(cx)
                .map(|(r, t)| (NicRx::Virtio(r), NicTx::Virtio(t))),
            Nic::Xen(d) => {
                d.arm(cx);
                d.device
                    .poll_receive()
                    .map(|(r, t)| (NicRx::Xen(r), NicTx::Xen(t)))
            }
        }
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<NicTx<'_>> {
        match self {
            Nic::Virtio(d) => d.transmit(cx).map(NicTx::Virtio),
            Nic::Xen(d) => {
                d.arm(cx);
                d.device.poll_transmit().map(NicTx::Xen)
            }
        }
    }

    fn flush(&mut self) {
        match self {
            Nic::Virtio(d) => d.flush(),
            Nic::Xen(d) => d.device.notify(),
        }
    }

    fn hardware_address(&self) -> [u8; 6] {
        match self {
            Nic::Virtio(d) => d.hardware_address(),
            Nic::Xen(d) => d.device.hardware_address(),
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self {
            Nic::Virtio(d) => d.capabilities(),
            Nic::Xen(d) => d.device.capabilities(),
        }
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        match self {
            Nic::Virtio(d) => d.link_state(cx),
            Nic::Xen(d) => {
                d.arm(cx);
                *d.link.waker.borrow_mut() = Some(cx.waker().clone());
                if d.device.is_up() {
                    LinkState::Up
                } else {
                    LinkState::Down
                }
            }
        }
    }
}
