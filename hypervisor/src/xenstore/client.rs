//! The xenstore client: the shared ring page and an async request/reply loop over it.
//!
//! Ref: `io/xs_wire.h`, `struct xenstore_domain_interface`:
//!
//! ```text
//! char req[1024]; char rsp[1024];                          /* 0, 1024 */
//! u32 req_cons, req_prod, rsp_cons, rsp_prod;              /* 2048 .. 2060 */
//! ```
//!
//! One request is in flight at a time (the client is `&mut`), which is all a unikernel's
//! device setup needs. Replies are matched by `req_id`; `WATCH_EVENT`s read while waiting for a
//! reply are queued for [`XenStore::next_watch_event`]. Waiting is on the executor event that
//! the store's event-channel port marks; after moving an index the client notifies the port.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering, fence};

use morgana_executor::event::Event;

use super::wire::{self, MsgType, XsError};
use crate::ring;

const RING_SIZE: usize = 1024;
const REQ: usize = 0;
const RSP: usize = 1024;
const REQ_CONS: usize = 2048;
const REQ_PROD: usize = 2052;
const RSP_CONS: usize = 2056;
const RSP_PROD: usize = 2060;

/// The xenstore ring page.
#[derive(Debug)]
pub struct XsRing {
    page: *mut u8,
}

impl XsRing {
    /// The ring at `page`.
    ///
    /// # Safety
    ///
    /// `page` points to the 4 KiB xenstore page (or test memory), mapped as long as the value
    /// lives, written by nothing but xenstored and this value.
    pub unsafe fn new(page: *mut u8) -> XsRing {
        XsRing { page }
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the index offsets lie in the page, 4-aligned; only atomic access.
        unsafe { AtomicU32::from_ptr(self.page.add(offset).cast()) }
    }

    /// Copies as much of `data` as fits into the request ring; returns the count.
    pub fn write(&self, data: &[u8]) -> Result<usize, XsError> {
        let cons = self.index(REQ_CONS).load(Ordering::Acquire);
        let prod = self.index(REQ_PROD).load(Ordering::Relaxed);
        let room = ring::free(prod, cons, RING_SIZE)
            .ok_or(XsError::Protocol("request ring indexes out of range"))?;
        let n = room.min(data.len());
        // SAFETY: the request ring lies in the page; the `n` bytes go in the part only we
        // write.
        unsafe { ring::copy_in(self.page.add(REQ), RING_SIZE, prod, &data[..n]) };
        fence(Ordering::Release);
        self.index(REQ_PROD)
            .store(prod.wrapping_add(n as u32), Ordering::Release);
        Ok(n)
    }

    /// Appends what the response ring holds to `out`; returns the count.
    pub fn read(&self, out: &mut Vec<u8>) -> Result<usize, XsError> {
        let prod = self.index(RSP_PROD).load(Ordering::Acquire);
        let cons = self.index(RSP_CONS).load(Ordering::Relaxed);
        let n = ring::used(prod, cons, RING_SIZE)
            .ok_or(XsError::Protocol("response ring indexes out of range"))?;
        fence(Ordering::Acquire);
        let at = out.len();
        out.resize(at + n, 0);
        // SAFETY: the response ring lies in the page; the `n` bytes are between `rsp_cons` and
        // `rsp_prod`, which xenstored leaves alone until we advance `rsp_cons`.
        unsafe { ring::copy_out(self.page.add(RSP), RING_SIZE, cons, &mut out[at..]) };
        fence(Ordering::Release);
        self.index(RSP_CONS)
            .store(cons.wrapping_add(n as u32), Ordering::Release);
        Ok(n)
    }
}

/// A xenstore transaction (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transaction(pub u32);

impl Transaction {
    /// Outside any transaction.
    pub const NONE: Transaction = Transaction(0);

    /// The id in a `TRANSACTION_START` reply.
    fn from_reply(reply: &[u8]) -> Result<Transaction, XsError> {
        wire::text(reply)?
            .parse()
            .map(Transaction)
            .map_err(|_| XsError::Protocol("transaction id is not a number"))
    }
}

/// The payload of a `TRANSACTION_END`: commit or abort.
fn end_flag(commit: bool) -> &'static [u8] {
    if commit { b"T\0" } else { b"F\0" }
}

/// A watch firing: the path that changed and the watch's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The path written or removed (at or under the watched path).
    pub path: String,
    /// The token given to [`XenStore::watch`].
    pub token: String,
}

/// The longest a stream of replies may grow without a complete message.
const RX_LIMIT: usize = wire::HEADER_LEN + wire::PAYLOAD_MAX;

/// An async xenstore client.
pub struct XenStore {
    ring: XsRing,
    notify: Box<dyn Fn()>,
    event: Event,
    next_req: u32,
    rx: Vec<u8>,
    watch_events: VecDeque<WatchEvent>,
}

impl core::fmt::Debug for XenStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XenStore")
            .field("next_req", &self.next_req)
            .field("queued_watch_events", &self.watch_events.len())
            .finish()
    }
}

impl XenStore {
    /// A client over `ring`; `notify` signals the store's event channel; `event` is the
    /// executor event that channel marks.
    pub fn new(ring: XsRing, notify: Box<dyn Fn()>, event: Event) -> XenStore {
        XenStore {
            ring,
            notify,
            event,
            next_req: 1,
            rx: Vec::new(),
            watch_events: VecDeque::new(),
        }
    }

    /// Encodes a request; returns its id and bytes.
    fn encode(
        &mut self,
        ty: MsgType,
        tx: Transaction,
        parts: &[&[u8]],
    ) -> Result<(u32, Vec<u8>), XsError> {
        let req_id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1).max(1);
        let mut msg = Vec::new();
        wire::encode(ty, req_id, tx.0, parts, &mut msg)?;
        Ok((req_id, msg))
    }

    /// Puts what fits of `msg[*sent..]` on the ring; false if nothing fitted.
    fn send_some(&mut self, msg: &[u8], sent: &mut usize) -> Result<bool, XsError> {
        let n = self.ring.write(&msg[*sent..])?;
        *sent += n;
        if n > 0 {
            (self.notify)();
        }
        Ok(n > 0)
    }

    /// Reads what the ring has; returns the reply to `req_id` once it is complete (queueing
    /// watch events, skipping stale replies), `None` while it is not.
    fn poll_reply(&mut self, ty: MsgType, req_id: u32) -> Result<Option<Vec<u8>>, XsError> {
        loop {
            while let Some((header, payload, used)) = wire::decode(&self.rx)? {
                let result = if header.ty == MsgType::WatchEvent as u32 {
                    let (path, token) = wire::watch_event(payload)?;
                    self.watch_events.push_back(WatchEvent { path, token });
                    None
                } else if header.req_id != req_id {
                    None // a stale reply (a request whose future was dropped): skip it
                } else if header.ty == MsgType::Error as u32 {
                    Some(Err(wire::error(payload)))
                } else if header.ty != ty as u32 {
                    Some(Err(XsError::Protocol(
                        "reply of another type than the request",
                    )))
                } else {
                    Some(Ok(payload.to_vec()))
                };
                self.rx.drain(..used);
                if let Some(result) = result {
                    return result.map(Some);
                }
            }
            if self.rx.len() >= RX_LIMIT {
                return Err(XsError::Protocol("oversized message"));
            }
            if self.ring.read(&mut self.rx)? == 0 {
                return Ok(None);
            }
            (self.notify)(); // room freed in the response ring
        }
    }

    /// Sends one request and returns its reply's payload.
    pub async fn request(
        &mut self,
        ty: MsgType,
        tx: Transaction,
        parts: &[&[u8]],
    ) -> Result<Vec<u8>, XsError> {
        let (req_id, msg) = self.encode(ty, tx, parts)?;
        let mut sent = 0;
        while sent < msg.len() {
            if !self.send_some(&msg, &mut sent)? {
                self.event.wait().await;
            }
        }
        loop {
            if let Some(reply) = self.poll_reply(ty, req_id)? {
                return Ok(reply);
            }
            self.event.wait().await;
        }
    }

    /// [`XenStore::request`] without the executor: between looks at the ring it calls `wait`,
    /// which returns false to give up ([`XsError::TimedOut`]). For set-up code that must finish
    /// before it returns (a device opened synchronously).
    pub fn request_blocking(
        &mut self,
        ty: MsgType,
        tx: Transaction,
        parts: &[&[u8]],
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<u8>, XsError> {
        let (req_id, msg) = self.encode(ty, tx, parts)?;
        let mut sent = 0;
        while sent < msg.len() {
            if !self.send_some(&msg, &mut sent)? && !wait() {
                return Err(XsError::TimedOut);
            }
        }
        loop {
            if let Some(reply) = self.poll_reply(ty, req_id)? {
                return Ok(reply);
            }
            if !wait() {
                return Err(XsError::TimedOut);
            }
        }
    }

    /// [`XenStore::read`], blocking (see [`XenStore::request_blocking`]).
    pub fn read_blocking(
        &mut self,
        tx: Transaction,
        path: &str,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<String, XsError> {
        let reply = self.request_blocking(MsgType::Read, tx, &[path.as_bytes(), b"\0"], wait)?;
        wire::text(&reply).map(String::from)
    }

    /// [`XenStore::write`], blocking (see [`XenStore::request_blocking`]).
    pub fn write_blocking(
        &mut self,
        tx: Transaction,
        path: &str,
        value: &str,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), XsError> {
        self.request_blocking(
            MsgType::Write,
            tx,
            &[path.as_bytes(), b"\0", value.as_bytes()],
            wait,
        )
        .map(drop)
    }

    /// [`XenStore::transaction_start`], blocking.
    pub fn transaction_start_blocking(
        &mut self,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<Transaction, XsError> {
        let reply =
            self.request_blocking(MsgType::TransactionStart, Transaction::NONE, &[b"\0"], wait)?;
        Transaction::from_reply(&reply)
    }

    /// [`XenStore::transaction_end`], blocking.
    pub fn transaction_end_blocking(
        &mut self,
        tx: Transaction,
        commit: bool,
        wait: &mut dyn FnMut() -> bool,
    ) -> Result<(), XsError> {
        self.request_blocking(MsgType::TransactionEnd, tx, &[end_flag(commit)], wait)
            .map(drop)
    }

    /// Reads `path` as text.
    pub async fn read(&mut self, tx: Transaction, path: &str) -> Result<String, XsError> {
        let reply = self
            .request(MsgType::Read, tx, &[path.as_bytes(), b"\0"])
            .await?;
        wire::text(&reply).map(String::from)
    }

    /// Writes `value` at `path` (creating it).
    pub async fn write(&mut self, tx: Transaction, path: &str, value: &str) -> Result<(), XsError> {
        self.request(
            MsgType::Write,
            tx,
            &[path.as_bytes(), b"\0", value.as_bytes()],
        )
        .await
        .map(drop)
    }

    /// The names under `path`.
    pub async fn directory(&mut self, tx: Transaction, path: &str) -> Result<Vec<String>, XsError> {
        let reply = self
            .request(MsgType::Directory, tx, &[path.as_bytes(), b"\0"])
            .await?;
        wire::directory(&reply)
    }

    /// Removes `path` and everything under it.
    pub async fn rm(&mut self, tx: Transaction, path: &str) -> Result<(), XsError> {
        self.request(MsgType::Rm, tx, &[path.as_bytes(), b"\0"])
            .await
            .map(drop)
    }

    /// This domain's home, `/local/domain/<id>` (relative paths are taken from there).
    pub async fn domain_path(&mut self, domid: u32) -> Result<String, XsError> {
        let id = domid.to_string();
        let reply = self
            .request(
                MsgType::GetDomainPath,
                Transaction::NONE,
                &[id.as_bytes(), b"\0"],
            )
            .await?;
        wire::text(&reply).map(String::from)
    }

    /// Watches `path` (and below); events carry `token`. xenstored fires each new watch once
    /// at once.
    pub async fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.request(
            MsgType::Watch,
            Transaction::NONE,
            &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"],
        )
        .await
        .map(drop)
    }

    /// Stops a watch.
    pub async fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.request(
            MsgType::Unwatch,
            Transaction::NONE,
            &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"],
        )
        .await
        .map(drop)
    }

    /// The next watch event (queued, or the next to arrive).
    pub async fn next_watch_event(&mut self) -> Result<WatchEvent, XsError> {
        loop {
            if let Some(e) = self.watch_events.pop_front() {
                return Ok(e);
            }
            while let Some((header, payload, used)) = wire::decode(&self.rx)? {
                if header.ty == MsgType::WatchEvent as u32 {
                    let (path, token) = wire::watch_event(payload)?;
                    self.watch_events.push_back(WatchEvent { path, token });
                }
                self.rx.drain(..used);
            }
            if self.watch_events.is_empty() {
                if self.rx.len() >= RX_LIMIT {
                    return Err(XsError::Protocol("oversized message"));
                }
                if self.ring.read(&mut self.rx)? > 0 {
                    (self.notify)();
                } else {
                    self.event.wait().await;
                }
            }
        }
    }

    /// Starts a transaction.
    pub async fn transaction_start(&mut self) -> Result<Transaction, XsError> {
        let reply = self
            .request(MsgType::TransactionStart, Transaction::NONE, &[b"\0"])
            .await?;
        Transaction::from_reply(&reply)
    }

    /// Ends `tx`, committing it or not. An error with [`XsError::is_retry`] means it
    /// conflicted with another writer: run it again.
    pub async fn transaction_end(&mut self, tx: Transaction, commit: bool) -> Result<(), XsError> {
        self.request(MsgType::TransactionEnd, tx, &[end_flag(commit)])
            .await
            .map(drop)
    }
}
