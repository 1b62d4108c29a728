//! The async driver: [`Stack`] runs an [`Interface`] over a [`NetDevice`]; [`UdpSocket`] and
//! [`StackHandle::ping`] share it through `Rc<RefCell<..>>` (single core, no `Send`). No borrow
//! is held across an await or a waker call.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::convert::Infallible;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use morgana_drivers::net::{NetDevice, RxToken, TxToken};
use morgana_executor::time::Sleep;
use morgana_executor::{Instant, sleep_until};

use super::{Counters, Interface, Ipv4Config, SendError};
use crate::udp::{BindError, Endpoint};
use crate::wire::{EthernetAddress, Ipv4Address};

/// Frames received per round before the driver yields to other tasks.
const RX_BUDGET: usize = 64;
/// Unread datagrams a socket keeps.
const SOCKET_QUEUE: usize = 64;

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) iface: Interface,
    pub(super) driver: Option<Waker>,
}

/// A cloneable handle on a running stack, for sockets, ping and counters.
#[derive(Clone, Debug)]
pub struct StackHandle {
    pub(super) shared: Rc<RefCell<Shared>>,
}

/// The driver task's state: the device, the interface, the ARP timer.
#[derive(Debug)]
pub struct Stack<D: NetDevice> {
    device: D,
    shared: Rc<RefCell<Shared>>,
    timer: Option<Sleep>,
}

impl<D: NetDevice> Stack<D> {
    /// A stack over `device` with a static configuration, without TCP (no ISN secret: TCP
    /// listeners and connects fail; segments are answered with RSTs). See
    /// [`Stack::with_isn_secret`].
    pub fn new(device: D, config: Ipv4Config, now: Instant) -> Self {
        Self::build(device, config, None, now)
    }

    /// A stack with TCP: ISNs are keyed with `isn_secret` (RFC 6528), which must come from the
    /// platform's entropy, once per boot.
    pub fn with_isn_secret(
        device: D,
        config: Ipv4Config,
        isn_secret: [u8; 16],
        now: Instant,
    ) -> Self {
        Self::build(device, config, Some(isn_secret), now)
    }

    /// A stack that gets its address by DHCP ([`crate::dhcp`]); TCP as with
    /// [`Stack::with_isn_secret`] when `isn_secret` is given. `seed` (platform entropy) draws
    /// DHCP's transaction ids and jitter. Until a lease is bound the address is `0.0.0.0`; see
    /// [`StackHandle::wait_for_lease`].
    pub fn with_dhcp(device: D, isn_secret: Option<[u8; 16]>, seed: u64, now: Instant) -> Self {
        let stack = Self::build(device, Ipv4Config::UNCONFIGURED, isn_secret, now);
        stack.shared.borrow_mut().iface.enable_dhcp(seed, now);
        stack
    }

    fn build(device: D, config: Ipv4Config, secret: Option<[u8; 16]>, now: Instant) -> Self {
        let mac = EthernetAddress(device.hardware_address());
        let caps = device.capabilities();
        let mut iface = Interface::new(mac, config, caps.mtu, now);
        iface.set_checksum_offload(caps.checksum);
        if let Some(secret) = secret {
            iface.set_isn_secret(secret);
        }
        Stack {
            device,
            shared: Rc::new(RefCell::new(Shared {
                iface,
                driver: None,
            })),
            timer: None,
        }
    }

    /// A handle for sockets.
    pub fn handle(&self) -> StackHandle {
        StackHandle {
            shared: self.shared.clone(),
        }
    }

    /// Runs the stack: receive, process, transmit, flush, sleep until the device, a socket or
    /// the ARP timer has work. Never returns; drop the future to stop.
    pub async fn run(&mut self) -> Infallible {
        poll_fn(|cx| {
            self.round(cx);
            Poll::Pending
        })
        .await
    }

    fn round(&mut self, cx: &mut Context<'_>) {
        let now = Instant::now();
        let shared = &self.shared;
        shared.borrow_mut().driver = Some(cx.waker().clone());
        let mut more = false;
        for i in 0..=RX_BUDGET {
            if i == RX_BUDGET {
                more = true;
                break;
            }
            let Some((rx, _tx)) = self.device.receive(cx) else {
                break;
            };
            if rx.checksum_verified() {
                rx.consume(|frame| shared.borrow_mut().iface.process_verified_frame(now, frame));
            } else {
                rx.consume(|frame| shared.borrow_mut().iface.process_frame(now, frame));
            }
        }
        shared.borrow_mut().iface.poll(now);
        loop {
            let Some(frame) = shared.borrow_mut().iface.pop_tx() else {
                break;
            };
            match self.device.transmit(cx) {
                Some(token) => token.consume(frame.len(), |buf| buf.copy_from_slice(&frame)),
                None => {
                    shared.borrow_mut().iface.unpop_tx(frame);
                    break;
                }
            }
        }
        self.device.flush();
        let mut wakers = Vec::new();
        let poll_at = {
            let mut s = shared.borrow_mut();
            s.iface.take_wakers(&mut wakers);
            s.iface.poll_at()
        };
        for w in wakers {
            w.wake();
        }
        match poll_at {
            Some(at) => {
                let timer = self.timer.get_or_insert_with(|| sleep_until(at));
                if timer.deadline() != at {
                    timer.reset(at);
                }
                if Pin::new(timer).poll(cx).is_ready() {
                    more = true;
                }
            }
            None => self.timer = None,
        }
        if more {
            cx.waker().wake_by_ref();
        }
    }
}

/// Why a ping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingError {
    /// The request could not be sent.
    Send(SendError),
}

impl StackHandle {
    /// The settings of TCP connections opened or accepted from now on (buffer sizes, Nagle,
    /// timers, [`CongestionAlgorithm`](crate::tcp::CongestionAlgorithm)).
    pub fn set_tcp_config(&self, config: crate::tcp::Config) {
        self.shared.borrow_mut().iface.set_tcp_config(config);
    }

    /// The settings new TCP connections get.
    pub fn tcp_config(&self) -> crate::tcp::Config {
        self.shared.borrow().iface.tcp_config().clone()
    }

    /// The interface's counters.
    pub fn counters(&self) -> Counters {
        self.shared.borrow().iface.counters()
    }

    /// Our IPv4 address.
    pub fn address(&self) -> Ipv4Address {
        self.shared.borrow().iface.config().address
    }

    /// The DHCP lease held, if the stack uses DHCP and has one.
    pub fn lease(&self) -> Option<crate::dhcp::Lease> {
        self.shared.borrow().iface.lease()
    }

    /// The interface's IPv4 configuration now.
    pub fn config(&self) -> Ipv4Config {
        *self.shared.borrow().iface.config()
    }

    /// The configuration's generation, bumped at every change (lease bound, renewed, lost).
    pub fn config_generation(&self) -> u64 {
        self.shared.borrow().iface.config_generation()
    }

    /// Waits until the configuration changes after generation `seen` (see
    /// [`StackHandle::config_generation`]) and returns the new generation.
    pub async fn config_changed(&self, seen: u64) -> u64 {
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            let now = s.iface.config_generation();
            if now != seen {
                return Poll::Ready(now);
            }
            s.iface.register_config_waker(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Waits until a DHCP lease is bound (at once if one is); wrap it in a timeout. Never
    /// resolves on a stack without DHCP.
    pub async fn wait_for_lease(&self) -> crate::dhcp::Lease {
        loop {
            let seen = {
                let s = self.shared.borrow();
                if let Some(l) = s.iface.lease() {
                    return l;
                }
                s.iface.config_generation()
            };
            self.config_changed(seen).await;
        }
    }

    /// Runs `f` on the interface, then wakes the driver (for output `f` may have queued).
    pub(super) fn with_iface<R>(&self, f: impl FnOnce(&mut Interface) -> R) -> R {
        let (r, driver) = {
            let mut s = self.shared.borrow_mut();
            let r = f(&mut s.iface);
            (r, s.driver.take())
        };
        if let Some(w) = driver {
            w.wake();
        }
        r
    }

    /// Sends an ICMP echo request and waits for the matching reply; returns the round-trip
    /// time. Wrap it in a timeout: a lost request or reply is not retried.
    pub async fn ping(
        &self,
        dst: Ipv4Address,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> Result<core::time::Duration, PingError> {
        let sent = Instant::now();
        self.with_iface(|i| i.send_ping(sent, dst, ident, seq_no, data))
            .map_err(PingError::Send)?;
        poll_fn(|cx| {
            let mut s = self.shared.borrow_mut();
            while let Some(r) = s.iface.take_echo_reply() {
                if r.from == dst && r.ident == ident && r.seq_no == seq_no {
                    return Poll::Ready(Ok(r.at.saturating_duration_since(sent)));
                }
            }
            s.iface.register_echo_waker(cx.waker());
            Poll::Pending
        })
        .await
    }
}

/// A UDP socket bound to a local port; dropping it unbinds the port.
#[derive(Debug)]
pub struct UdpSocket {
    stack: StackHandle,
    port: u16,
}

impl UdpSocket {
    /// Binds `port` on the stack.
    pub fn bind(stack: &StackHandle, port: u16) -> Result<UdpSocket, BindError> {
        stack
            .shared
            .borrow_mut()
            .iface
            .udp()
            .bind(port, SOCKET_QUEUE)?;
        Ok(UdpSocket {
            stack: stack.clone(),
            port,
        })
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends `data` to `addr` (queued on the interface; sent by the driver task).
    pub async fn send_to(&self, data: &[u8], addr: Endpoint) -> Result<(), SendError> {
        let now = Instant::now();
        self.stack
            .with_iface(|i| i.send_udp(now, self.port, addr, data))
    }

    /// Waits for a datagram; copies as much as fits into `buf` (the rest is discarded, as with
    /// `recvfrom`) and returns that length and the sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> (usize, Endpoint) {
        let (from, data) = poll_fn(|cx| {
            let mut s = self.stack.shared.borrow_mut();
            let udp = s.iface.udp();
            match udp.recv(self.port) {
                Some(d) => Poll::Ready(d),
                None => {
                    udp.register_reader(self.port, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        (n, from)
    }

    /// Datagrams dropped because this socket's queue was full.
    pub fn dropped(&self) -> u64 {
        self.stack
            .shared
            .borrow_mut()
            .iface
            .udp()
            .dropped(self.port)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let waker = self.stack.shared.borrow_mut().iface.udp().unbind(self.port);
        drop(waker);
    }
}
