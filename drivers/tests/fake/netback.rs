//! A fake netback for host tests: the back end of one vif, in "dom0" of the fake Xen. It
//! follows the xenbus handshake through the fake xenstored, maps netfront's rings through their
//! grants, and runs as a task that copies each transmitted frame out of the guest's granted
//! page (`GNTTABOP_copy`) onto a [`NetDevice`] (a `SimLink` end towards a peer stack), and each
//! frame from that device into an RX buffer the guest posted (rx-copy), with the notification
//! rules of `io/ring.h` on both rings.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::task::{Context, Poll, Waker};

use morgana_drivers::net::{NetDevice, RxToken, TxToken};
use morgana_hypervisor::fake::FakeXen;
use morgana_hypervisor::fake::xenstored::Xenstored;

/// The back end's domain.
pub const BACKEND_DOMID: u16 = 0;
/// netfront's MAC.
pub const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x07];
/// The front end's xenstore directory (relative to the guest's home).
pub const FRONTEND: &str = "device/vif/0";
/// The back end's directory.
pub const BACKEND: &str = "/local/domain/0/backend/vif/7/0";

const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 4;
const RSP_PROD: usize = 8;
const RSP_EVENT: usize = 12;
const ENTRIES: usize = 64;
const RING_SIZE: u32 = 256;
const TX_ENTRY: usize = 12;
const RX_ENTRY: usize = 8;

/// The back end's side of one shared ring (`BACK_RING` in `io/ring.h`).
struct BackRing {
    page: *mut u8,
    entry_size: usize,
    req_cons: u32,
    rsp_prod_pvt: u32,
}

impl BackRing {
    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the page is a granted guest page the fake keeps alive; the index is in it,
        // 4-aligned, and both ends access it atomically.
        unsafe { AtomicU32::from_ptr(self.page.add(offset).cast()) }
    }

    fn entry(&self, i: u32) -> *mut u8 {
        // SAFETY: the slot lies in the page (256 entries of at most 12 bytes after 64).
        unsafe {
            self.page
                .add(ENTRIES + (i % RING_SIZE) as usize * self.entry_size)
        }
    }

    fn unconsumed_requests(&self) -> u32 {
        let prod = self.index(REQ_PROD).load(Ordering::Acquire);
        fence(Ordering::Acquire);
        prod.wrapping_sub(self.req_cons)
            .min(RING_SIZE - self.req_cons.wrapping_sub(self.rsp_prod_pvt))
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: asks to be notified at the next request.
    fn final_check_for_requests(&self) -> bool {
        if self.unconsumed_requests() > 0 {
            return true;
        }
        self.index(REQ_EVENT)
            .store(self.req_cons.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        self.unconsumed_requests() > 0
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`.
    fn push_responses(&self) -> bool {
        let old = self.index(RSP_PROD).load(Ordering::Relaxed);
        let new = self.rsp_prod_pvt;
        fence(Ordering::Release);
        self.index(RSP_PROD).store(new, Ordering::Release);
        fence(Ordering::SeqCst);
        let event = self.index(RSP_EVENT).load(Ordering::Acquire);
        new.wrapping_sub(event) < new.wrapping_sub(old)
    }
}

fn read<T: Copy>(p: *mut u8) -> T {
    // SAFETY: `p` is an entry field inside a mapped ring page (see `BackRing::entry`).
    unsafe { p.cast::<T>().read_unaligned() }
}

fn write<T: Copy>(p: *mut u8, v: T) {
    // SAFETY: as `read`.
    unsafe { p.cast::<T>().write_unaligned(v) }
}

/// A connection to one netfront.
struct Conn {
    tx: BackRing,
    rx: BackRing,
    port: u32,
}

/// The fake netback. A shared handle.
pub struct Netback {
    xen: FakeXen,
    xsd: Xenstored,
    conn: RefCell<Option<Conn>>,
    waker: RefCell<Option<Waker>>,
    /// Frames forwarded each way, and how many connections were made.
    pub to_peer: Cell<u64>,
    pub to_guest: Cell<u64>,
    pub connections: Cell<u32>,
}

impl Netback {
    /// The toolstack creates the vif: front- and back-end directories, the back end in
    /// `InitWait`.
    pub fn create(xen: &FakeXen, xsd: &Xenstored) -> Rc<Netback> {
        xsd.write(&format!("{FRONTEND}/backend"), BACKEND);
        xsd.write(&format!("{FRONTEND}/backend-id"), "0");
        xsd.write(&format!("{FRONTEND}/mac"), "00:16:3e:00:00:07");
        xsd.write(&format!("{FRONTEND}/state"), "1");
        xsd.write(
            &format!("{BACKEND}/frontend"),
            "/local/domain/7/device/vif/0",
        );
        xsd.write(&format!("{BACKEND}/feature-rx-copy"), "1");
        xsd.write(&format!("{BACKEND}/state"), "2");
        Rc::new(Netback {
            xen: xen.clone(),
            xsd: xsd.clone(),
            conn: RefCell::new(None),
            waker: RefCell::new(None),
            to_peer: Cell::new(0),
            to_guest: Cell::new(0),
            connections: Cell::new(0),
        })
    }

    /// What netback's xenstore watch does: when the front end says `Connected`, map its rings,
    /// bind its port and say `Connected` too. Returns whether it is connected.
    pub fn step(self: &Rc<Self>) -> bool {
        if self.conn.borrow().is_some() {
            return true;
        }
        let key = |k: &str| self.xsd.read(&format!("{FRONTEND}/{k}"));
        if key("state").as_deref() != Some("4")
            || self.xsd.read(&format!("{BACKEND}/state")).as_deref() != Some("2")
        {
            return false;
        }
        let num = |k: &str| -> u32 { key(k).and_then(|v| v.parse().ok()).expect(k) };
        assert_eq!(key("request-rx-copy").as_deref(), Some("1"), "rx-copy only");
        let map = |r| {
            self.xen
                .map_grant(BACKEND_DOMID, r)
                .expect("netfront granted its ring")
        };
        let (tx, rx, port) = (
            map(num("tx-ring-ref")),
            map(num("rx-ring-ref")),
            num("event-channel"),
        );
        let weak = Rc::downgrade(self);
        self.xen
            .bind_backend(BACKEND_DOMID, port, move || {
                if let Some(nb) = weak.upgrade()
                    && let Some(w) = nb.waker.borrow_mut().take()
                {
                    w.wake();
                }
            })
            .expect("bind netfront's port");
        *self.conn.borrow_mut() = Some(Conn {
            tx: BackRing {
                page: tx,
                entry_size: TX_ENTRY,
                req_cons: 0,
                rsp_prod_pvt: 0,
            },
            rx: BackRing {
                page: rx,
                entry_size: RX_ENTRY,
                req_cons: 0,
                rsp_prod_pvt: 0,
            },
            port,
        });
        self.connections.set(self.connections.get() + 1);
        self.xsd.write(&format!("{BACKEND}/state"), "4");
        self.wake();
        true
    }

    /// The back end goes away (`Closing`, then `Closed`): it stops serving the rings and
    /// unbinds the port.
    pub fn close(&self) {
        if let Some(conn) = self.conn.borrow_mut().take() {
            self.xen.unbind_backend(conn.port);
        }
        self.xsd.write(&format!("{BACKEND}/state"), "5");
        self.xsd.write(&format!("{BACKEND}/state"), "6");
    }

    /// The back end comes back (netback reloaded): `InitWait` again, for a new handshake.
    pub fn reopen(&self) {
        self.xsd.write(&format!("{BACKEND}/state"), "2");
    }

    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Serves the rings, bridging to `link`, for ever.
    pub async fn run<D: NetDevice>(self: Rc<Self>, mut link: D) {
        poll_fn(|cx| {
            self.poll(cx, &mut link);
            Poll::<()>::Pending
        })
        .await
    }

    fn poll<D: NetDevice>(self: &Rc<Self>, cx: &mut Context<'_>, link: &mut D) {
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        let mut conn = self.conn.borrow_mut();
        let Some(conn) = conn.as_mut() else {
            return;
        };
        let mut notify = false;
        loop {
            let mut progress = false;
            // Guest to peer.
            while conn.tx.unconsumed_requests() > 0 {
                let Some(token) = link.transmit(cx) else {
                    break; // the link is full: it wakes us
                };
                let e = conn.tx.entry(conn.tx.req_cons);
                let (gref, offset, id, size) = (
                    read::<u32>(e),
                    read::<u16>(field(e, 4)),
                    read::<u16>(field(e, 8)),
                    read::<u16>(field(e, 10)),
                );
                conn.tx.req_cons = conn.tx.req_cons.wrapping_add(1);
                let mut frame = vec![0u8; usize::from(size)];
                let status: i16 = match self.xen.copy_from_grant(
                    BACKEND_DOMID,
                    gref,
                    usize::from(offset),
                    &mut frame,
                ) {
                    Ok(()) => {
                        token.consume(frame.len(), |buf| buf.copy_from_slice(&frame));
                        self.to_peer.set(self.to_peer.get() + 1);
                        0
                    }
                    Err(_) => -1, // NETIF_RSP_ERROR
                };
                let r = conn.tx.entry(conn.tx.rsp_prod_pvt);
                write::<u16>(r, id);
                write::<i16>(field(r, 2), status);
                conn.tx.rsp_prod_pvt = conn.tx.rsp_prod_pvt.wrapping_add(1);
                progress = true;
            }
            link.flush();
            notify |= conn.tx.push_responses();
            // Peer to guest, into the buffers the guest posted.
            while conn.rx.unconsumed_requests() > 0 {
                let Some((rx, _tx)) = link.receive(cx) else {
                    break;
                };
                let e = conn.rx.entry(conn.rx.req_cons);
                let (id, gref) = (read::<u16>(e), read::<u32>(field(e, 4)));
                conn.rx.req_cons = conn.rx.req_cons.wrapping_add(1);
                let status = rx.consume(|frame| {
                    match self.xen.copy_to_grant(BACKEND_DOMID, gref, 0, frame) {
                        Ok(()) => frame.len() as i16,
                        Err(_) => -1,
                    }
                });
                let r = conn.rx.entry(conn.rx.rsp_prod_pvt);
                write::<u16>(r, id);
                write::<u16>(field(r, 2), 0); // offset
                write::<u16>(field(r, 4), 0); // flags
                write::<i16>(field(r, 6), status);
                conn.rx.rsp_prod_pvt = conn.rx.rsp_prod_pvt.wrapping_add(1);
                self.to_guest.set(self.to_guest.get() + 1);
                progress = true;
            }
            notify |= conn.rx.push_responses();
            if notify {
                self.xen.notify_guest(conn.port);
                notify = false;
            }
            // Sleep only after asking the guest for a notification at its next request and
            // looking once more. Requests left with nothing done wait on the link (no frame
            // to receive, or no room to send), which wakes us.
            let more = conn.tx.final_check_for_requests() | conn.rx.final_check_for_requests();
            if !progress || !more {
                return;
            }
        }
    }
}

/// The field `n` bytes into an entry.
fn field(p: *mut u8, n: usize) -> *mut u8 {
    p.wrapping_add(n)
}
