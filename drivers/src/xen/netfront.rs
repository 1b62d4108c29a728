//! Xen netfront: a virtual NIC whose back end is netback in dom0, as a [`NetDevice`].
//!
//! Ref: `io/netif.h` (the rings, the xenstore keys), `io/xenbus.h` (the states), `io/ring.h`.
//!
//! **Handshake** ([`Netfront::connect`]), through xenstore, in our `device/vif/N/`: read
//! `backend`, `backend-id` and `mac`; wait for the back end's `state` to be `InitWait` (2);
//! grant it a page for each ring, allocate an event channel for it; in one transaction write
//! `tx-ring-ref`, `rx-ring-ref`, `event-channel`, `request-rx-copy` = 1 (netback copies into our
//! pages; the flipping mode is long gone), `feature-rx-notify` = 1, `feature-no-csum-offload`
//! = 1 (we want complete checksums both ways) and `state` = `Connected` (4); then wait for the
//! back end to be `Connected`.
//!
//! **Rings.** TX entries are 12 bytes (`netif_tx_request`: gref, offset, flags, id, size;
//! response: id, status), RX entries 8 (`netif_rx_request`: id, gref; response: id, offset,
//! flags, status = length or error): 256 each in a page. Buffers are whole pages granted once
//! at start-up and reused: [`RX_BUFFERS`] posted to the back end (writable), [`TX_BUFFERS`] for
//! frames to send (read-only), so no grant is made or ended per frame. A frame is received in
//! place (the back end copied it into our page) and sent from the page the stack wrote it in.
//!
//! **Link.** [`Netfront::backend_changed`] is what the platform calls with each new back-end
//! `state` (from a xenstore watch). When the back end leaves `Connected`, the link goes down
//! (frames are dropped, [`NetDevice::link_state`] says `Down`) and we say `Closed` in our
//! `state`, as xenbus asks. When it returns to `InitWait` (netback reloaded, the vif re-plugged),
//! netfront reconnects: the same ring pages are initialised afresh and granted under the same
//! references, a new event channel is allocated, the keys are written again, and every receive
//! buffer is posted again; frames in flight at the disconnect are lost (TCP resends them).
//! [`Netfront::set_link`] forces the link state.
//!
//! **Waker rule.** The device does not keep wakers: the platform wraps it with the event of its
//! event-channel port and registers the caller's waker there before asking the device (as
//! virtio-net's interrupt is handled). Before saying "nothing", `receive` asks the back end for a
//! notification at the next response and looks once more, so no frame slips between the look and
//! the sleep.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::task::Context;

use morgana_hypervisor::gnttab::{GrantRef, GrantTable};
use morgana_hypervisor::xenstore::{Transaction, XenStore, XsError};
use morgana_hypervisor::{Hypercall, Xen, XenError};

use super::ring::FrontRing;
use crate::net::{Capabilities, LinkState, NetDevice, RxToken, TxToken};

/// Receive buffers posted to the back end.
pub const RX_BUFFERS: usize = 64;
/// Transmit buffers.
pub const TX_BUFFERS: usize = 32;

const TX_ENTRY: usize = 12;
const RX_ENTRY: usize = 8;
const NETRXF_MORE_DATA: u16 = 1 << 2;
const NETRXF_EXTRA_INFO: u16 = 1 << 3;

/// Xenbus states (`io/xenbus.h`).
pub mod state {
    pub const INITIALISING: u32 = 1;
    pub const INIT_WAIT: u32 = 2;
    pub const INITIALISED: u32 = 3;
    pub const CONNECTED: u32 = 4;
    pub const CLOSING: u32 = 5;
    pub const CLOSED: u32 = 6;
}

/// Why netfront could not start.
#[derive(Debug)]
pub enum NetfrontError {
    /// A xenstore request failed (what, and why).
    Store(String, XsError),
    /// A key had an unusable value.
    Bad(String),
    /// The back end did not reach the state in time, or closed.
    Backend(String),
    /// A hypercall failed.
    Xen(&'static str, XenError),
    /// The grant table is full.
    Grants,
}

impl fmt::Display for NetfrontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetfrontError::Store(what, e) => write!(f, "netfront: {what}: {e}"),
            NetfrontError::Bad(what) => write!(f, "netfront: {what}"),
            NetfrontError::Backend(what) => write!(f, "netfront: back end {what}"),
            NetfrontError::Xen(what, e) => write!(f, "netfront: {what}: {e}"),
            NetfrontError::Grants => f.write_str("netfront: out of grant references"),
        }
    }
}

/// A page of ours shared with the back end.
#[derive(Debug)]
struct Buffer {
    page: *mut u8,
    gref: GrantRef,
}

/// Where pages come from: a zeroed, page-aligned 4 KiB page, and its guest frame number.
pub trait PageAllocator {
    /// A new page (never freed while the device lives).
    fn alloc_page(&self) -> *mut u8;
    /// The guest frame of `page`.
    fn frame(&self, page: *mut u8) -> u64;
}

struct Inner<H: Hypercall> {
    xen: Xen<H>,
    port: u32,
    tx: FrontRing,
    rx: FrontRing,
    /// The ring pages' grants, kept for a reconnection.
    tx_ref: GrantRef,
    rx_ref: GrantRef,
    tx_bufs: Vec<Buffer>,
    /// Ids of transmit buffers free for a frame.
    tx_free: Vec<u16>,
    rx_bufs: Vec<Buffer>,
    /// Requests published but the back end not yet told.
    notify_pending: bool,
    link_up: bool,
    /// Frames the back end reported as errors, or dropped (link down, no room, too long).
    errors: u64,
}

/// A connected netfront.
pub struct Netfront<H: Hypercall> {
    inner: RefCell<Inner<H>>,
    mac: [u8; 6],
    /// The back end's xenstore directory.
    pub backend: String,
    /// The back end's domain.
    pub backend_id: u16,
    /// Our xenstore directory, `device/vif/<index>`.
    dev: String,
}

impl<H: Hypercall> fmt::Debug for Netfront<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netfront")
            .field("backend", &self.backend)
            .field("port", &self.port())
            .finish()
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl<H: Hypercall> Netfront<H> {
    /// Connects to the back end of `device/vif/<index>` (see the module docs). Blocking: every
    /// xenstore exchange calls `wait` between looks, which returns false to give up (it should
    /// yield to Xen and bound the total time).
    pub fn connect(
        xen: Xen<H>,
        store: &mut XenStore,
        grants: &mut GrantTable,
        pages: &dyn PageAllocator,
        index: u32,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<Netfront<H>, NetfrontError> {
        let dev = format!("device/vif/{index}");
        let read_key = |store: &mut XenStore, key: &str, wait: &mut dyn FnMut() -> bool| {
            read(store, &format!("{dev}/{key}"), wait)
        };
        let backend = read_key(store, "backend", wait)?;
        let backend_id: u16 = read_key(store, "backend-id", wait)?
            .parse()
            .map_err(|_| NetfrontError::Bad(format!("{dev}/backend-id is not a domain id")))?;
        let mac_text = read_key(store, "mac", wait)?;
        let mac = parse_mac(&mac_text)
            .ok_or_else(|| NetfrontError::Bad(format!("{dev}/mac `{mac_text}` is not a MAC")))?;
        // The back end publishes its features, then waits for us.
        loop {
            match backend_state(store, &backend, wait)? {
                state::INIT_WAIT | state::INITIALISED | state::CONNECTED => break,
                s @ (state::CLOSING | state::CLOSED) => {
                    return Err(NetfrontError::Backend(format!(
                        "{backend} is closing (state {s}) before we connected"
                    )));
                }
                _ => {
                    if !wait() {
                        return Err(NetfrontError::Backend(format!(
                            "{backend} never reached InitWait"
                        )));
                    }
                }
            }
        }

        // Rings and buffers, granted once.
        let mut grant = |page: *mut u8, readonly: bool| {
            grants
                .grant(backend_id, pages.frame(page), readonly)
                .map_err(|_| NetfrontError::Grants)
        };
        let tx_page = pages.alloc_page();
        let rx_page = pages.alloc_page();
        // SAFETY: fresh pages of ours, shared only with the back end from now on.
        let (tx, rx) = unsafe {
            (
                FrontRing::init(tx_page, TX_ENTRY),
                FrontRing::init(rx_page, RX_ENTRY),
            )
        };
        let tx_ref = grant(tx_page, false)?;
        let rx_ref = grant(rx_page, false)?;
        let mut tx_bufs = Vec::with_capacity(TX_BUFFERS);
        for _ in 0..TX_BUFFERS {
            let page = pages.alloc_page();
            tx_bufs.push(Buffer {
                page,
                gref: grant(page, true)?,
            });
        }
        let mut rx_bufs = Vec::with_capacity(RX_BUFFERS);
        for _ in 0..RX_BUFFERS {
            let page = pages.alloc_page();
            rx_bufs.push(Buffer {
                page,
                gref: grant(page, false)?,
            });
        }
        let port = handshake(
            &xen, store, &dev, &backend, backend_id, tx_ref, rx_ref, wait,
        )?;

        let mut inner = Inner {
            xen,
            port,
            tx,
            rx,
            tx_ref,
            rx_ref,
            tx_free: Vec::new(),
            tx_bufs,
            rx_bufs,
            notify_pending: false,
            link_up: false,
            errors: 0,
        };
        inner.start(port);
        Ok(Netfront {
            inner: RefCell::new(inner),
            mac,
            backend,
            backend_id,
            dev,
        })
    }

    /// The event-channel port the back end notifies (a new one after a reconnection).
    pub fn port(&self) -> u32 {
        self.inner.borrow().port
    }

    /// Whether the link is up.
    pub fn is_up(&self) -> bool {
        self.inner.borrow().link_up
    }

    /// The platform saw the back end's `state` change (see the module docs): takes the link
    /// down when it leaves `Connected`, reconnects when it is back in `InitWait`. Blocking like
    /// [`Netfront::connect`]. After [`BackendChange::Reconnected`], bind the new port.
    pub fn backend_changed(
        &self,
        state: u32,
        store: &mut XenStore,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<BackendChange, NetfrontError> {
        let up = self.is_up();
        match state {
            state::CONNECTED => Ok(BackendChange::None),
            state::INIT_WAIT | state::INITIALISED if !up => {
                self.reconnect(store, wait).map(BackendChange::Reconnected)
            }
            _ if up => {
                self.set_link(false);
                let path = format!("{}/state", self.dev);
                let closed = format!("{}", state::CLOSED);
                write(store, Transaction::NONE, &path, &closed, wait)?;
                Ok(BackendChange::Down(format!(
                    "netfront: back end {} left Connected (state {state}): link down until it \
                     returns",
                    self.backend
                )))
            }
            _ => Ok(BackendChange::None),
        }
    }

    /// A new handshake with a back end in `InitWait`; returns the new port.
    fn reconnect(
        &self,
        store: &mut XenStore,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<u32, NetfrontError> {
        let mut inner = self.inner.borrow_mut();
        let _ = inner.xen.close(inner.port);
        // SAFETY: our ring pages; the old back end is gone (it left Connected and unmapped
        // them), the new one maps them only after the handshake below.
        unsafe {
            inner.tx.reset();
            inner.rx.reset();
        }
        let port = handshake(
            &inner.xen,
            store,
            &self.dev,
            &self.backend,
            self.backend_id,
            inner.tx_ref,
            inner.rx_ref,
            wait,
        )?;
        inner.start(port);
        Ok(port)
    }

    /// [`NetDevice::receive`] through a shared reference (for a platform that shares the
    /// device with its back-end watcher).
    pub fn poll_receive(&self) -> Option<(NetfrontRx<'_, H>, NetfrontTx<'_, H>)> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        loop {
            match inner.rx.unconsumed_responses() {
                Some(0) => {
                    if inner.rx.final_check_for_responses() {
                        continue;
                    }
                    return None;
                }
                None => {
                    // The back end's index is impossible: stop trusting the ring.
                    inner.link_up = false;
                    return None;
                }
                Some(_) => {}
            }
            let entry = inner.rx.entry(inner.rx.rsp_cons);
            // SAFETY: a published response slot.
            let (id, offset, flags, status) = unsafe {
                (
                    entry.cast::<u16>().read_volatile(),
                    entry.add(2).cast::<u16>().read_volatile(),
                    entry.add(4).cast::<u16>().read_volatile(),
                    entry.add(6).cast::<i16>().read_volatile(),
                )
            };
            inner.rx.rsp_cons = inner.rx.rsp_cons.wrapping_add(1);
            if id as usize >= RX_BUFFERS {
                inner.errors += 1;
                continue; // not one of ours: nothing to re-post
            }
            let (offset, len) = (offset as usize, status.max(0) as usize);
            if status <= 0
                || flags & (NETRXF_MORE_DATA | NETRXF_EXTRA_INFO) != 0
                || offset + len > 4096
                || !inner.link_up
            {
                // An error, a frame in several pieces (we asked for none), or junk: give the
                // buffer back.
                inner.errors += 1;
                inner.post_rx(id);
                inner.push_rx();
                continue;
            }
            drop(guard);
            let inner = &self.inner;
            return Some((
                NetfrontRx {
                    inner,
                    id,
                    offset,
                    len,
                },
                NetfrontTx { inner },
            ));
        }
    }

    /// [`NetDevice::transmit`] through a shared reference.
    pub fn poll_transmit(&self) -> Option<NetfrontTx<'_, H>> {
        let mut inner = self.inner.borrow_mut();
        inner.reclaim_tx();
        if inner.tx_free.is_empty() {
            // Ask to hear when a transmission completes.
            if inner.tx.final_check_for_responses() {
                inner.reclaim_tx();
            }
            if inner.tx_free.is_empty() {
                return None;
            }
        }
        drop(inner);
        Some(NetfrontTx { inner: &self.inner })
    }

    /// [`NetDevice::flush`] through a shared reference: notifies the back end of the frames
    /// queued since the last call.
    pub fn notify(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.notify_pending {
            inner.notify_pending = false;
            let _ = inner.xen.send(inner.port);
        }
    }

    /// Forces the link up or down.
    pub fn set_link(&self, up: bool) {
        self.inner.borrow_mut().link_up = up;
    }

    /// Frames dropped or reported in error so far.
    pub fn errors(&self) -> u64 {
        self.inner.borrow().errors
    }
}

/// What [`Netfront::backend_changed`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum BackendChange {
    /// Nothing to do.
    None,
    /// The back end left `Connected`: the link is down; the error to report.
    Down(String),
    /// Reconnected to a returning back end; the new event-channel port.
    Reconnected(u32),
}

/// Reads `path` outside any transaction.
fn read(
    store: &mut XenStore,
    path: &str,
    wait: &mut dyn FnMut() -> bool,
) -> Result<String, NetfrontError> {
    store
        .read_blocking(Transaction::NONE, path, wait)
        .map_err(|e| NetfrontError::Store(format!("reading {path}"), e))
}

/// Writes `value` at `path`.
fn write(
    store: &mut XenStore,
    tx: Transaction,
    path: &str,
    value: &str,
    wait: &mut dyn FnMut() -> bool,
) -> Result<(), NetfrontError> {
    store
        .write_blocking(tx, path, value, wait)
        .map_err(|e| NetfrontError::Store(format!("writing {path}"), e))
}

/// The back end's xenbus `state` (0 if it is not a number).
fn backend_state(
    store: &mut XenStore,
    backend: &str,
    wait: &mut dyn FnMut() -> bool,
) -> Result<u32, NetfrontError> {
    read(store, &format!("{backend}/state"), wait).map(|s| s.trim().parse().unwrap_or(0))
}

/// The second half of the handshake, with the rings granted: a port for the back end, the
/// keys in one transaction with `state` = `Connected`, then wait for the back end to be
/// `Connected`. Returns the port.
#[allow(clippy::too_many_arguments)]
fn handshake<H: Hypercall>(
    xen: &Xen<H>,
    store: &mut XenStore,
    dev: &str,
    backend: &str,
    backend_id: u16,
    tx_ref: GrantRef,
    rx_ref: GrantRef,
    wait: &mut dyn FnMut() -> bool,
) -> Result<u32, NetfrontError> {
    let port = xen
        .alloc_unbound(backend_id)
        .map_err(|e| NetfrontError::Xen("EVTCHNOP_alloc_unbound", e))?;
    // Tell the back end, atomically.
    loop {
        let tx_id = store
            .transaction_start_blocking(wait)
            .map_err(|e| NetfrontError::Store("starting a transaction".into(), e))?;
        let keys = [
            ("tx-ring-ref", format!("{tx_ref}")),
            ("rx-ring-ref", format!("{rx_ref}")),
            ("event-channel", format!("{port}")),
            ("request-rx-copy", "1".into()),
            ("feature-rx-notify", "1".into()),
            ("feature-no-csum-offload", "1".into()),
            ("feature-sg", "0".into()),
            ("feature-gso-tcpv4", "0".into()),
            ("state", format!("{}", state::CONNECTED)),
        ];
        for (key, value) in &keys {
            write(store, tx_id, &format!("{dev}/{key}"), value, wait)?;
        }
        match store.transaction_end_blocking(tx_id, true, wait) {
            Ok(()) => break,
            Err(e) if e.is_retry() => continue,
            Err(e) => {
                return Err(NetfrontError::Store("committing the transaction".into(), e));
            }
        }
    }
    loop {
        match backend_state(store, backend, wait)? {
            state::CONNECTED => break,
            s @ (state::CLOSING | state::CLOSED) => {
                return Err(NetfrontError::Backend(format!(
                    "{backend} refused the connection (state {s}; see `xl dmesg` and \
                     {backend}/error)"
                )));
            }
            _ => {
                if !wait() {
                    return Err(NetfrontError::Backend(format!(
                        "{backend} did not connect in time"
                    )));
                }
            }
        }
    }
    Ok(port)
}

impl<H: Hypercall> Inner<H> {
    /// Starts a connection on `port` over freshly initialised rings: every transmit buffer
    /// free, every receive buffer posted, the link up.
    fn start(&mut self, port: u32) {
        self.port = port;
        self.tx_free = (0..TX_BUFFERS as u16).rev().collect();
        self.notify_pending = false;
        for id in 0..RX_BUFFERS as u16 {
            self.post_rx(id);
        }
        self.push_rx();
        self.link_up = true;
    }

    /// Queues receive buffer `id` as a request (published by `push_rx`).
    fn post_rx(&mut self, id: u16) {
        let entry = self.rx.entry(self.rx.req_prod_pvt);
        let gref = self.rx_bufs[id as usize].gref;
        // SAFETY: a request slot we own (req_prod_pvt is ahead of rsp_cons by less than the
        // ring size: one request per buffer, RX_BUFFERS < 256); the entry is 8 bytes.
        unsafe {
            entry.cast::<u16>().write_volatile(id);
            entry.add(2).cast::<u16>().write_volatile(0);
            entry.add(4).cast::<u32>().write_volatile(gref);
        }
        self.rx.req_prod_pvt = self.rx.req_prod_pvt.wrapping_add(1);
    }

    fn push_rx(&mut self) {
        if self.rx.push_requests() {
            let _ = self.xen.send(self.port);
        }
    }

    /// Takes back transmit buffers whose frames the back end has sent.
    fn reclaim_tx(&mut self) {
        while self.tx.unconsumed_responses().unwrap_or(0) > 0 {
            let entry = self.tx.entry(self.tx.rsp_cons);
            // SAFETY: a published response slot (between rsp_cons and rsp_prod).
            let (id, status) = unsafe {
                (
                    entry.cast::<u16>().read_volatile(),
                    entry.add(2).cast::<i16>().read_volatile(),
                )
            };
            self.tx.rsp_cons = self.tx.rsp_cons.wrapping_add(1);
            if status == 1 {
                continue; // NETIF_RSP_NULL: a slot for extra info
            }
            if status < 0 {
                self.errors += 1;
            }
            if (id as usize) < TX_BUFFERS && !self.tx_free.contains(&id) {
                self.tx_free.push(id);
            }
        }
    }

    /// Sends the frame in transmit buffer `id`.
    fn queue_tx(&mut self, id: u16, len: usize) {
        let entry = self.tx.entry(self.tx.req_prod_pvt);
        let gref = self.tx_bufs[id as usize].gref;
        // SAFETY: a request slot we own (at most TX_BUFFERS < 256 requests are outstanding);
        // the entry is 12 bytes.
        unsafe {
            entry.cast::<u32>().write_volatile(gref);
            entry.add(4).cast::<u16>().write_volatile(0); // offset
            entry.add(6).cast::<u16>().write_volatile(0); // flags: checksums complete
            entry.add(8).cast::<u16>().write_volatile(id);
            entry.add(10).cast::<u16>().write_volatile(len as u16);
        }
        self.tx.req_prod_pvt = self.tx.req_prod_pvt.wrapping_add(1);
        self.notify_pending |= self.tx.push_requests();
    }
}

/// A received frame: receive buffer `id`, `len` bytes at `offset`.
pub struct NetfrontRx<'a, H: Hypercall> {
    inner: &'a RefCell<Inner<H>>,
    id: u16,
    offset: usize,
    len: usize,
}

impl<H: Hypercall> RxToken for NetfrontRx<'_, H> {
    fn consume<R>(self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let page = self.inner.borrow().rx_bufs[self.id as usize].page;
        // SAFETY: the back end finished with this buffer (its response is consumed) and it is
        // not posted again until after `f`; `offset + len` <= 4096 (checked in `receive`).
        let frame = unsafe { core::slice::from_raw_parts_mut(page.add(self.offset), self.len) };
        let r = f(frame);
        let mut inner = self.inner.borrow_mut();
        inner.post_rx(self.id);
        inner.push_rx();
        r
    }
}

impl<H: Hypercall> fmt::Debug for NetfrontRx<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetfrontRx(buffer {}, {} bytes)", self.id, self.len)
    }
}

/// Room for a frame.
pub struct NetfrontTx<'a, H: Hypercall> {
    inner: &'a RefCell<Inner<H>>,
}

impl<H: Hypercall> fmt::Debug for NetfrontTx<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetfrontTx")
    }
}

/// The largest frame: 1500 bytes of IP and the Ethernet header.
const MAX_FRAME: usize = 1514;

impl<H: Hypercall> TxToken for NetfrontTx<'_, H> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut inner = self.inner.borrow_mut();
        inner.reclaim_tx();
        let id = if len <= MAX_FRAME && inner.link_up {
            inner.tx_free.pop()
        } else {
            None
        };
        let Some(id) = id else {
            // No room (the reply token of a receive, with every buffer in flight), an
            // oversized frame, or the link is down: the frame is built and dropped.
            inner.errors += 1;
            drop(inner);
            let mut scratch = alloc::vec![0u8; len];
            return f(&mut scratch);
        };
        let page = inner.tx_bufs[id as usize].page;
        drop(inner);
        // SAFETY: buffer `id` is free (not in flight), so the back end does not read it now;
        // `len` <= MAX_FRAME < 4096.
        let frame = unsafe { core::slice::from_raw_parts_mut(page, len) };
        let r = f(frame);
        self.inner.borrow_mut().queue_tx(id, len);
        r
    }
}

impl<H: Hypercall> NetDevice for Netfront<H> {
    type RxToken<'a>
        = NetfrontRx<'a, H>
    where
        Self: 'a;
    type TxToken<'a>
        = NetfrontTx<'a, H>
    where
        Self: 'a;

    fn receive(&mut self, _cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.poll_receive()
    }

    fn transmit(&mut self, _cx: &mut Context<'_>) -> Option<Self::TxToken<'_>> {
        self.poll_transmit()
    }

    fn flush(&mut self) {
        self.notify();
    }

    fn hardware_address(&self) -> [u8; 6] {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_burst: Some(TX_BUFFERS),
            ..Capabilities::default()
        }
    }

    fn link_state(&mut self, _cx: &mut Context<'_>) -> LinkState {
        if self.inner.get_mut().link_up {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_macs() {
        assert_eq!(
            parse_mac("00:16:3e:0a:Bc:ff"),
            Some([0, 0x16, 0x3e, 0x0a, 0xbc, 0xff])
        );
        assert_eq!(parse_mac("00:16:3e:0a:bc"), None);
        assert_eq!(parse_mac("00:16:3e:0a:bc:ff:00"), None);
        assert_eq!(parse_mac("zz:16:3e:0a:bc:ff"), None);
    }
}
