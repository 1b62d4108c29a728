//! A fake xenstored: the real ring protocol (`io/xs_wire.h`) over an in-memory page, serving a
//! tree of paths to the guest's [`crate::xenstore::XenStore`] client, with watches and
//! transactions, plus a toolstack's side ([`Xenstored::write`], [`Xenstored::rm`]) that fires
//! the guest's watches as a back end changing its state would.
//!
//! It runs when the guest notifies its port (synchronously, inside the guest's `send`): it
//! takes every request byte, answers each complete request, and puts as much of its output on
//! the response ring as fits; the rest waits for the guest to free room (and notify again).
//!
//! Transactions conflict coarsely: a commit fails with `EAGAIN` if anything was written
//! since the transaction started (cxenstored's rule is per node; coarser is still correct
//! behaviour for a client, which must retry either way).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering, fence};

use super::{FakeXen, GUEST_DOMID, Page, page};
use crate::ring;
use crate::xenstore::wire::{self, MsgType};

const RING_SIZE: usize = 1024;
const REQ: usize = 0;
const RSP: usize = 1024;
const REQ_CONS: usize = 2048;
const REQ_PROD: usize = 2052;
const RSP_CONS: usize = 2056;
const RSP_PROD: usize = 2060;

struct Tx {
    /// `generation` when it started.
    base: u64,
    /// Its writes (`None`: removed), seen by its own reads.
    writes: BTreeMap<String, Option<String>>,
}

struct State {
    xen: FakeXen,
    page: Box<Page>,
    port: u32,
    tree: BTreeMap<String, String>,
    /// Bumped at every committed change.
    generation: u64,
    watches: Vec<(String, String)>,
    txs: BTreeMap<u32, Tx>,
    next_tx: u32,
    input: Vec<u8>,
    output: VecDeque<u8>,
    /// Requests answered (for tests).
    requests: u64,
    /// The first firing of a watch just set, sent after the reply.
    pending_fire: Option<(String, String)>,
}

/// The fake xenstored. A shared handle.
#[derive(Clone)]
pub struct Xenstored {
    state: Rc<RefCell<State>>,
}

impl core::fmt::Debug for Xenstored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Xenstored")
            .field("port", &self.port())
            .finish_non_exhaustive()
    }
}

/// The guest's home: relative paths start there.
pub fn home() -> String {
    format!("/local/domain/{GUEST_DOMID}")
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", home())
    }
}

/// Whether `a` is `b` or under it (or the other way round).
fn related(a: &str, b: &str) -> bool {
    let under = |x: &str, y: &str| {
        x == y
            || (x.starts_with(y) && (y.ends_with('/') || x.as_bytes().get(y.len()) == Some(&b'/')))
    };
    under(a, b) || under(b, a)
}

impl Xenstored {
    /// Starts xenstored for `xen`'s guest: a ring page and a port bound as the toolstack
    /// binds them (`HVM_PARAM_STORE_PFN` / `HVM_PARAM_STORE_EVTCHN`).
    pub fn start(xen: &FakeXen) -> Xenstored {
        let state = Rc::new(RefCell::new(State {
            xen: xen.clone(),
            page: page(),
            port: 0,
            tree: BTreeMap::new(),
            generation: 0,
            watches: Vec::new(),
            txs: BTreeMap::new(),
            next_tx: 1,
            input: Vec::new(),
            output: VecDeque::new(),
            requests: 0,
            pending_fire: None,
        }));
        let weak = Rc::downgrade(&state);
        let port = xen.preset_port(0, move || {
            if let Some(state) = weak.upgrade() {
                Xenstored { state }.serve();
            }
        });
        state.borrow_mut().port = port;
        Xenstored { state }
    }

    /// The ring page the guest's `XsRing` uses.
    pub fn ring_page(&self) -> *mut u8 {
        self.state.borrow_mut().page.0.as_mut_ptr()
    }

    /// The guest's port for xenstore.
    pub fn port(&self) -> u32 {
        self.state.borrow().port
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.borrow().requests
    }

    /// The value at `path`, if any.
    pub fn read(&self, path: &str) -> Option<String> {
        self.state.borrow().tree.get(&absolute(path)).cloned()
    }

    /// The toolstack (or a back end) writes `path`: the guest's watches on it fire.
    pub fn write(&self, path: &str, value: &str) {
        let mut s = self.state.borrow_mut();
        let path = absolute(path);
        s.tree.insert(path.clone(), value.to_string());
        s.changed(&path);
        s.flush();
    }

    /// The toolstack removes `path` and what is under it.
    pub fn rm(&self, path: &str) {
        let mut s = self.state.borrow_mut();
        let path = absolute(path);
        s.tree
            .retain(|k, _| !(k == &path || k.starts_with(&format!("{path}/"))));
        s.changed(&path);
        s.flush();
    }

    /// Takes the guest's requests, answers them, sends what fits.
    fn serve(&self) {
        let mut s = self.state.borrow_mut();
        s.take_requests();
        loop {
            let msg = match wire::decode(&s.input) {
                Ok(Some((header, payload, used))) => Some((header, payload.to_vec(), used)),
                Ok(None) => None,
                Err(_) => {
                    // xenstored drops a connection that sends an oversized message.
                    s.input.clear();
                    None
                }
            };
            let Some((header, payload, used)) = msg else {
                break;
            };
            s.input.drain(..used);
            s.requests += 1;
            let reply = s.handle(header.ty, header.tx_id, &payload);
            let (ty, body) = match reply {
                Ok(body) => (MsgType::from_u32(header.ty).unwrap_or(MsgType::Error), body),
                Err(errno) => (MsgType::Error, format!("{errno}\0").into_bytes()),
            };
            s.emit(ty, header.req_id, header.tx_id, &body);
            if let Some((path, token)) = s.pending_fire.take() {
                s.emit(
                    MsgType::WatchEvent,
                    0,
                    0,
                    format!("{path}\0{token}\0").as_bytes(),
                );
            }
        }
        s.flush();
    }
}

impl State {
    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the index lies in our boxed page, 4-aligned; the guest accesses it
        // atomically too.
        unsafe { AtomicU32::from_ptr(self.page.0.as_ptr().add(offset).cast_mut().cast()) }
    }

    fn take_requests(&mut self) {
        let prod = self.index(REQ_PROD).load(Ordering::Acquire);
        let cons = self.index(REQ_CONS).load(Ordering::Relaxed);
        let Some(n) = ring::used(prod, cons, RING_SIZE) else {
            return;
        };
        fence(Ordering::Acquire);
        let mut got = alloc::vec![0u8; n];
        ring::consume(&self.page.0[REQ..REQ + RING_SIZE], prod, cons, &mut got);
        self.input.extend_from_slice(&got);
        self.index(REQ_CONS)
            .store(cons.wrapping_add(n as u32), Ordering::Release);
    }

    /// Puts what fits of the output on the response ring and notifies the guest.
    fn flush(&mut self) {
        let prod = self.index(RSP_PROD).load(Ordering::Relaxed);
        let cons = self.index(RSP_CONS).load(Ordering::Acquire);
        let out: Vec<u8> = self.output.iter().copied().collect();
        let n = ring::produce(&mut self.page.0[RSP..RSP + RING_SIZE], prod, cons, &out);
        self.output.drain(..n);
        fence(Ordering::Release);
        self.index(RSP_PROD)
            .store(prod.wrapping_add(n as u32), Ordering::Release);
        let (xen, port) = (self.xen.clone(), self.port);
        // Also when nothing was sent: the request ring has room again.
        xen.notify_guest(port);
    }

    fn emit(&mut self, ty: MsgType, req_id: u32, tx_id: u32, body: &[u8]) {
        let mut msg = Vec::new();
        wire::encode(ty, req_id, tx_id, &[body], &mut msg).expect("replies fit");
        self.output.extend(msg);
    }

    /// Queues the watch events a change at `path` fires.
    fn changed(&mut self, path: &str) {
        self.generation += 1;
        let fired: Vec<(String, String)> = self
            .watches
            .iter()
            .filter(|(w, _)| related(path, &absolute(w)))
            .cloned()
            .collect();
        for (watch, token) in fired {
            // Reported in the form the watch was set: relative for a relative watch.
            let shown = if watch.starts_with('/') {
                path.to_string()
            } else {
                path.strip_prefix(&format!("{}/", home()))
                    .unwrap_or(path)
                    .to_string()
            };
            self.emit(
                MsgType::WatchEvent,
                0,
                0,
                format!("{shown}\0{token}\0").as_bytes(),
            );
        }
    }

    fn lookup(&self, tx: u32, path: &str) -> Result<Option<String>, &'static str> {
        if tx != 0 {
            let t = self.txs.get(&tx).ok_or("ENOENT")?;
            if let Some(v) = t.writes.get(path) {
                return Ok(v.clone());
            }
        }
        Ok(self.tree.get(path).cloned())
    }

    fn handle(&mut self, ty: u32, tx: u32, payload: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut args = payload.split(|&b| b == 0);
        let mut arg = || {
            args.next()
                .and_then(|a| core::str::from_utf8(a).ok())
                .map(String::from)
                .ok_or("EINVAL")
        };
        let ok = || Ok(b"OK\0".to_vec());
        match MsgType::from_u32(ty).ok_or("EINVAL")? {
            MsgType::Read => {
                let path = absolute(&arg()?);
                match self.lookup(tx, &path)? {
                    Some(v) => Ok(v.into_bytes()),
                    None => Err("ENOENT"),
                }
            }
            MsgType::Write | MsgType::Mkdir => {
                let split = payload.iter().position(|&b| b == 0).ok_or("EINVAL")?;
                let path = absolute(core::str::from_utf8(&payload[..split]).map_err(|_| "EINVAL")?);
                let value = if ty == MsgType::Write as u32 {
                    String::from_utf8(payload[split + 1..].to_vec()).map_err(|_| "EINVAL")?
                } else {
                    self.lookup(tx, &path)?.unwrap_or_default()
                };
                if tx != 0 {
                    let t = self.txs.get_mut(&tx).ok_or("ENOENT")?;
                    t.writes.insert(path, Some(value));
                } else {
                    self.tree.insert(path.clone(), value);
                    self.changed(&path);
                }
                ok()
            }
            MsgType::Rm => {
                let path = absolute(&arg()?);
                if self.lookup(tx, &path)?.is_none() {
                    return Err("ENOENT");
                }
                if tx != 0 {
                    let t = self.txs.get_mut(&tx).ok_or("ENOENT")?;
                    t.writes.insert(path, None);
                } else {
                    self.tree
                        .retain(|k, _| !(k == &path || k.starts_with(&format!("{path}/"))));
                    self.changed(&path);
                }
                ok()
            }
            MsgType::Directory => {
                let path = absolute(&arg()?);
                let prefix = format!("{}/", path.trim_end_matches('/'));
                let mut names: Vec<&str> = self
                    .tree
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .map(|rest| rest.split('/').next().unwrap_or(rest))
                    .collect();
                names.dedup();
                if names.is_empty() && !self.tree.contains_key(&path) {
                    return Err("ENOENT");
                }
                let mut body = Vec::new();
                for n in names {
                    body.extend_from_slice(n.as_bytes());
                    body.push(0);
                }
                Ok(body)
            }
            MsgType::Watch => {
                let (path, token) = (arg()?, arg()?);
                self.watches.push((path.clone(), token.clone()));
                // A new watch fires once at once, after its reply (as xenstored does).
                self.pending_fire = Some((path, token));
                ok()
            }
            MsgType::Unwatch => {
                let (path, token) = (arg()?, arg()?);
                let before = self.watches.len();
                self.watches.retain(|w| w != &(path.clone(), token.clone()));
                if self.watches.len() == before {
                    return Err("ENOENT");
                }
                ok()
            }
            MsgType::TransactionStart => {
                let id = self.next_tx;
                self.next_tx += 1;
                self.txs.insert(
                    id,
                    Tx {
                        base: self.generation,
                        writes: BTreeMap::new(),
                    },
                );
                Ok(format!("{id}\0").into_bytes())
            }
            MsgType::TransactionEnd => {
                let commit = arg()? == "T";
                let t = self.txs.remove(&tx).ok_or("ENOENT")?;
                if !commit {
                    return ok();
                }
                if t.base != self.generation {
                    return Err("EAGAIN");
                }
                for (path, value) in t.writes {
                    match value {
                        Some(v) => {
                            self.tree.insert(path.clone(), v);
                        }
                        None => self
                            .tree
                            .retain(|k, _| !(k == &path || k.starts_with(&format!("{path}/")))),
                    }
                    self.changed(&path);
                }
                ok()
            }
            MsgType::GetDomainPath => Ok(format!("/local/domain/{}\0", arg()?).into_bytes()),
            MsgType::WatchEvent | MsgType::Error => Err("EINVAL"),
        }
    }
}
