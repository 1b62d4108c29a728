//! A fake Xen for host tests: an in-memory implementation of [`Hypercall`] with the state Xen
//! keeps for one guest, so that the real event-channel, grant-table, xenstore and netfront code
//! runs unchanged against it (as virtio-drivers' `transport/fake.rs` plays a device).
//!
//! Compiled only with the `fake` feature (tests turn it on); the bare-metal path does not see
//! it: [`crate::Xen`] is generic over [`Hypercall`], so the real one stays a direct call into
//! the hypercall page.
//!
//! What it models:
//!
//! - **Guest memory**: pages handed out by [`FakeXen::alloc_page`], numbered as guest frames
//!   from [`FIRST_FRAME`]. A back end reaches them only through grants.
//! - **Grant table v1**: the table's frames are fake-owned memory ([`FakeXen::grant_table`]
//!   gives the guest its [`GrantTable`] over them, as `XENMAPSPACE_grant_table` would); a back
//!   end copies through a reference with [`FakeXen::copy_from_grant`] /
//!   [`FakeXen::copy_to_grant`] (`GNTTABOP_copy`), which check the entry as Xen does: permit
//!   bit, domain, read-only.
//! - **Event channels, 2-level**: a shared_info page ([`FakeXen::shared_info`]); the guest's
//!   `EVTCHNOP_alloc_unbound`, `send`, `unmask`, `close`, `bind_virq`; a back end binds a
//!   guest port with [`FakeXen::bind_backend`] (its handler runs on every guest `send`) and
//!   notifies with [`FakeXen::notify_guest`], which sets the pending bit, the selector and
//!   `evtchn_upcall_pending` exactly as `evtchn_2l_set_pending` does, and "injects the upcall"
//!   (calls the guest's handler, [`FakeXen::set_upcall`]) on the 0-to-1 change only.

pub mod xenstored;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};

use crate::abi::{PAGE_SIZE, op};
use crate::gnttab::{ENTRIES_PER_FRAME, GrantRef, GrantTable};

use crate::hypercall::{Hypercall, XenError};
use crate::shared_info::{EVTCHN_WORDS, SharedInfo};

/// The guest frame number of the first page [`FakeXen::alloc_page`] hands out.
pub const FIRST_FRAME: u64 = 0x1000;
/// The guest's domain id.
pub const GUEST_DOMID: u16 = 7;

const EINVAL: i64 = -22;
const ENOSYS: i64 = -38;
const EPERM: i64 = -1;

const GTF_PERMIT_ACCESS: u16 = 1;
const GTF_READONLY: u16 = 1 << 2;

/// A page of fake memory.
#[repr(C, align(4096))]
struct Page([u8; PAGE_SIZE]);

fn page() -> Box<Page> {
    Box::new(Page([0; PAGE_SIZE]))
}

/// What runs when the guest notifies a port a back end bound.
pub type Handler = Rc<dyn Fn()>;

#[derive(Clone)]
enum Port {
    /// `alloc_unbound`: waiting for domain `remote` to bind it.
    Unbound { remote: u16 },
    /// Connected to a back end in domain `remote`.
    Backend { remote: u16, handler: Handler },
    /// A virtual interrupt.
    Virq,
}

struct State {
    shared: Box<Page>,
    memory: Vec<Box<Page>>,
    /// The guest's grant table (leaked frames) and its entry count.
    grant_base: *mut u8,
    grant_entries: u32,
    /// Guest ports; index = port number (0 is never handed out, as on Xen).
    ports: Vec<Option<Port>>,
    upcall: Option<Rc<dyn Fn()>>,
    /// Guest `send`s per port.
    sends: BTreeMap<u32, u64>,
}

/// The fake hypervisor. Cheap to clone (a shared handle); single-threaded, like the guest.
#[derive(Clone)]
pub struct FakeXen {
    state: Rc<RefCell<State>>,
    upcalls: Rc<Cell<u64>>,
}

impl core::fmt::Debug for FakeXen {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("FakeXen")
            .field("pages", &s.memory.len())
            .field("ports", &s.ports.len())
            .finish_non_exhaustive()
    }
}

impl Default for FakeXen {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeXen {
    /// A guest with no memory handed out, every port masked and free.
    pub fn new() -> FakeXen {
        let xen = FakeXen {
            state: Rc::new(RefCell::new(State {
                shared: page(),
                memory: Vec::new(),
                grant_base: core::ptr::null_mut(),
                grant_entries: 0,
                ports: alloc::vec![None],
                upcall: None,
                sends: BTreeMap::new(),
            })),
            upcalls: Rc::new(Cell::new(0)),
        };
        crate::evtchn::mask_all(&xen.shared_info());
        xen
    }

    /// The shared_info page (as `XENMAPSPACE_shared_info` maps it).
    pub fn shared_info(&self) -> SharedInfo {
        let base = self.state.borrow_mut().shared.0.as_mut_ptr();
        // SAFETY: the page is boxed (it does not move) and lives as long as the fake, which
        // the tests keep for the guest's lifetime; it is only accessed atomically.
        unsafe { SharedInfo::new(base) }
    }

    /// What the guest's upcall vector runs (the platform's interrupt handler: typically
    /// [`crate::evtchn::scan`] marking executor events).
    pub fn set_upcall(&self, upcall: impl Fn() + 'static) {
        self.state.borrow_mut().upcall = Some(Rc::new(upcall));
    }

    /// How many upcalls were injected.
    pub fn upcalls(&self) -> u64 {
        self.upcalls.get()
    }

    /// A zeroed page of guest memory.
    pub fn alloc_page(&self) -> *mut u8 {
        let mut s = self.state.borrow_mut();
        s.memory.push(page());
        s.memory.last_mut().expect("just pushed").0.as_mut_ptr()
    }

    /// The guest frame of a page from [`FakeXen::alloc_page`].
    ///
    /// # Panics
    ///
    /// If `page` is not one.
    pub fn frame(&self, page: *mut u8) -> u64 {
        let s = self.state.borrow();
        let i = s
            .memory
            .iter()
            .position(|p| core::ptr::eq(p.0.as_ptr(), page))
            .expect("not a page of the fake's guest memory");
        FIRST_FRAME + i as u64
    }

    fn frame_ptr(&self, frame: u64) -> Option<*mut u8> {
        let i = usize::try_from(frame.checked_sub(FIRST_FRAME)?).ok()?;
        let mut s = self.state.borrow_mut();
        s.memory.get_mut(i).map(|p| p.0.as_mut_ptr())
    }

    /// The guest's grant table, `frames` contiguous frames (as `XENMAPSPACE_grant_table`
    /// maps them), replacing any earlier one.
    pub fn grant_table(&self, frames: u32) -> GrantTable {
        let table: Box<[Page]> = (0..frames).map(|_| Page([0; PAGE_SIZE])).collect();
        let base = Box::leak(table).as_mut_ptr().cast::<u8>();
        let mut s = self.state.borrow_mut();
        s.grant_base = base;
        s.grant_entries = frames * ENTRIES_PER_FRAME;
        // SAFETY: `frames` leaked (never freed), contiguous, page-aligned pages that only this
        // table and the fake (atomically, entry by entry) touch.
        unsafe { GrantTable::new(base, frames) }
    }

    /// Entry `r` of the grant table: (flags, domid, frame), if `r` is in the table.
    fn grant_entry(&self, r: GrantRef) -> Option<(u16, u16, u32)> {
        let s = self.state.borrow();
        if r >= s.grant_entries {
            return None;
        }
        // SAFETY: entry `r` lies in the leaked table (checked above), 8-aligned; the guest
        // writes it with atomics too.
        unsafe {
            let e = s.grant_base.add(8 * r as usize);
            Some((
                AtomicU16::from_ptr(e.cast()).load(Ordering::Acquire),
                AtomicU16::from_ptr(e.add(2).cast()).load(Ordering::Relaxed),
                AtomicU32::from_ptr(e.add(4).cast()).load(Ordering::Relaxed),
            ))
        }
    }

    /// The page behind grant `r`, as domain `domid` may use it (`write`: for writing), or the
    /// error `GNTTABOP_copy` would give (`GNTST_bad_gntref`, `GNTST_permission_denied`).
    fn granted_page(&self, domid: u16, r: GrantRef, write: bool) -> Result<*mut u8, XenError> {
        let (flags, to, frame) = self.grant_entry(r).ok_or(XenError(EINVAL))?;
        if flags & GTF_PERMIT_ACCESS == 0 || to != domid || (write && flags & GTF_READONLY != 0) {
            return Err(XenError(EPERM));
        }
        self.frame_ptr(u64::from(frame)).ok_or(XenError(EINVAL))
    }

    /// `GNTTABOP_copy` from the guest: domain `domid` copies `out.len()` bytes at `offset` of
    /// the page granted as `r`.
    pub fn copy_from_grant(
        &self,
        domid: u16,
        r: GrantRef,
        offset: usize,
        out: &mut [u8],
    ) -> Result<(), XenError> {
        if offset + out.len() > PAGE_SIZE {
            return Err(XenError(EINVAL));
        }
        let page = self.granted_page(domid, r, false)?;
        // SAFETY: the range lies in a live page of guest memory (checked above); the guest
        // does not write a page it granted for reading while the back end owns the request.
        unsafe { core::ptr::copy_nonoverlapping(page.add(offset), out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// `GNTTABOP_copy` to the guest: domain `domid` writes `data` at `offset` of the page
    /// granted (writable) as `r`.
    pub fn copy_to_grant(
        &self,
        domid: u16,
        r: GrantRef,
        offset: usize,
        data: &[u8],
    ) -> Result<(), XenError> {
        if offset + data.len() > PAGE_SIZE {
            return Err(XenError(EINVAL));
        }
        let page = self.granted_page(domid, r, true)?;
        // SAFETY: as `copy_from_grant`; the guest posted the page for the back end to fill.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), page.add(offset), data.len()) };
        Ok(())
    }

    /// A pointer to the page granted as `r` (a ring page the back end maps with
    /// `GNTTABOP_map_grant_ref`), if domain `domid` may write it.
    pub fn map_grant(&self, domid: u16, r: GrantRef) -> Result<*mut u8, XenError> {
        self.granted_page(domid, r, true)
    }

    /// Back end `domid` binds guest port `port` (from `alloc_unbound(domid)`, read from
    /// xenstore); `handler` runs at each guest `send` on it.
    pub fn bind_backend(
        &self,
        domid: u16,
        port: u32,
        handler: impl Fn() + 'static,
    ) -> Result<(), XenError> {
        let mut s = self.state.borrow_mut();
        match s.ports.get_mut(port as usize) {
            Some(slot @ Some(Port::Unbound { .. })) => {
                let Some(Port::Unbound { remote }) = slot else {
                    unreachable!()
                };
                if *remote != domid {
                    return Err(XenError(EPERM));
                }
                *slot = Some(Port::Backend {
                    remote: domid,
                    handler: Rc::new(handler),
                });
                Ok(())
            }
            _ => Err(XenError(EINVAL)),
        }
    }

    /// A guest port already bound to back end `domid` (as the toolstack binds xenstore's and
    /// the console's before the guest starts: `HVM_PARAM_STORE_EVTCHN`).
    pub fn preset_port(&self, domid: u16, handler: impl Fn() + 'static) -> u32 {
        let port = self.new_port(Port::Unbound { remote: domid });
        self.bind_backend(domid, port, handler)
            .expect("a fresh unbound port");
        port
    }

    /// Back end unbinds: the port is unbound again (a later back end may bind it).
    pub fn unbind_backend(&self, port: u32) {
        let mut s = self.state.borrow_mut();
        if let Some(slot @ Some(Port::Backend { .. })) = s.ports.get_mut(port as usize) {
            let Some(Port::Backend { remote, .. }) = slot else {
                unreachable!()
            };
            *slot = Some(Port::Unbound { remote: *remote });
        }
    }

    /// The back end notifies guest `port`: `evtchn_2l_set_pending`, and the upcall on the
    /// 0-to-1 change of `evtchn_upcall_pending` when neither the port nor upcalls are masked.
    pub fn notify_guest(&self, port: u32) {
        let shared = self.shared_info();
        let (w, b) = (port as usize / 64 % EVTCHN_WORDS, port % 64);
        let was = shared.evtchn_pending(w).fetch_or(1 << b, Ordering::SeqCst) & (1 << b) != 0;
        if was || shared.evtchn_mask(w).load(Ordering::SeqCst) & (1 << b) != 0 {
            return;
        }
        self.raise_upcall(&shared, w);
    }

    fn raise_upcall(&self, shared: &SharedInfo, w: usize) {
        shared.pending_sel(0).fetch_or(1 << w, Ordering::SeqCst);
        if shared.upcall_pending(0).swap(1, Ordering::SeqCst) == 0
            && shared.upcall_mask(0).load(Ordering::SeqCst) == 0
        {
            let upcall = self.state.borrow().upcall.clone();
            if let Some(upcall) = upcall {
                self.upcalls.set(self.upcalls.get() + 1);
                upcall();
            }
        }
    }

    /// How many times the guest sent on `port`.
    pub fn sends(&self, port: u32) -> u64 {
        self.state.borrow().sends.get(&port).copied().unwrap_or(0)
    }

    fn new_port(&self, port: Port) -> u32 {
        let mut s = self.state.borrow_mut();
        let free = s.ports.iter().skip(1).position(Option::is_none);
        match free {
            Some(i) => {
                s.ports[i + 1] = Some(port);
                i as u32 + 1
            }
            None => {
                s.ports.push(Some(port));
                s.ports.len() as u32 - 1
            }
        }
    }

    /// `event_channel_op(cmd, arg)`.
    ///
    /// # Safety
    ///
    /// `arg` points to the structure `cmd` takes.
    unsafe fn evtchn_op(&self, cmd: u64, arg: *mut u8) -> i64 {
        const BIND_VIRQ: u64 = 1;
        const CLOSE: u64 = 3;
        const SEND: u64 = 4;
        const ALLOC_UNBOUND: u64 = 6;
        const UNMASK: u64 = 9;
        // SAFETY: for every access below, the caller's contract; offsets as in
        // `event_channel.h` (`evtchn_alloc_unbound`: u16 dom, u16 remote_dom, u32 port;
        // `evtchn_bind_virq`: u32 virq, u32 vcpu, u32 port; the others: u32 port).
        unsafe {
            match cmd {
                ALLOC_UNBOUND => {
                    let remote = arg.add(2).cast::<u16>().read();
                    let port = self.new_port(Port::Unbound { remote });
                    arg.add(4).cast::<u32>().write(port);
                    0
                }
                BIND_VIRQ => {
                    let port = self.new_port(Port::Virq);
                    arg.add(8).cast::<u32>().write(port);
                    0
                }
                SEND => self.send(arg.cast::<u32>().read()),
                UNMASK => self.unmask(arg.cast::<u32>().read()),
                CLOSE => {
                    let port = arg.cast::<u32>().read() as usize;
                    let mut s = self.state.borrow_mut();
                    match s.ports.get_mut(port) {
                        Some(slot @ Some(_)) if port != 0 => {
                            *slot = None;
                            0
                        }
                        _ => EINVAL,
                    }
                }
                _ => ENOSYS,
            }
        }
    }

    fn send(&self, port: u32) -> i64 {
        let target = {
            let mut s = self.state.borrow_mut();
            *s.sends.entry(port).or_default() += 1;
            match s.ports.get(port as usize) {
                Some(Some(Port::Backend { handler, .. })) => Some(handler.clone()),
                // Xen drops a send on an unbound port or a VIRQ.
                Some(Some(_)) => None,
                _ => return EINVAL,
            }
        };
        if let Some(handler) = target {
            handler();
        }
        0
    }

    /// `EVTCHNOP_unmask` (`evtchn_2l_unmask`): clears the mask bit and, if the port is
    /// pending, re-raises the selector bit and the upcall.
    fn unmask(&self, port: u32) -> i64 {
        if port as usize >= crate::evtchn::NR_PORTS {
            return EINVAL;
        }
        let shared = self.shared_info();
        let (w, b) = (port as usize / 64, port % 64);
        shared.evtchn_mask(w).fetch_and(!(1 << b), Ordering::SeqCst);
        if shared.evtchn_pending(w).load(Ordering::SeqCst) & (1 << b) != 0 {
            self.raise_upcall(&shared, w);
        }
        0
    }
}

// SAFETY: the fake behaves as Xen does for the hypercalls it accepts (reading and writing the
// argument structures the ABI names) and refuses the rest with `-ENOSYS`.
unsafe impl Hypercall for FakeXen {
    unsafe fn call(&self, op: u32, args: [u64; 5]) -> i64 {
        match op {
            op::XEN_VERSION => (4 << 16) | 19,
            // SAFETY: the caller passes the structure `args[0]` names at `args[1]`.
            op::EVENT_CHANNEL_OP => unsafe { self.evtchn_op(args[0], args[1] as *mut u8) },
            _ => ENOSYS,
        }
    }
}
