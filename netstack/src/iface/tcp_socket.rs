//! The async TCP handles over a [`StackHandle`]: [`TcpListener`] and [`TcpStream`]. Like
//! [`UdpSocket`](super::UdpSocket), no borrow is held across an await or a waker call; the
//! driver task sends what user calls queued and wakes the handles.

use core::future::poll_fn;
use core::task::{Context, Poll, Waker};

use morgana_executor::Instant;

use super::stack::StackHandle;
use super::tcp::{ConnId, DEFAULT_BACKLOG, TcpBindError, TcpSocketError};
use crate::tcp::State;
use crate::udp::Endpoint;

/// A TCP listener on a local port; dropping it aborts the connections not yet accepted.
#[derive(Debug)]
pub struct TcpListener {
    stack: StackHandle,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` with a backlog of [`DEFAULT_BACKLOG`].
    pub fn bind(stack: &StackHandle, port: u16) -> Result<TcpListener, TcpBindError> {
        Self::bind_with_backlog(stack, port, DEFAULT_BACKLOG)
    }

    /// Listens on `port`, keeping at most `backlog` half-open or unaccepted connections (SYNs
    /// beyond are dropped; the peer retries).
    pub fn bind_with_backlog(
        stack: &StackHandle,
        port: u16,
        backlog: usize,
    ) -> Result<TcpListener, TcpBindError> {
        stack.shared.borrow_mut().iface.tcp_listen(port, backlog)?;
        Ok(TcpListener {
            stack: stack.clone(),
            port,
        })
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for an established connection; returns it and the peer.
    pub async fn accept(&self) -> (TcpStream, Endpoint) {
        let (id, peer) = poll_fn(|cx| {
            let mut s = self.stack.shared.borrow_mut();
            match s.iface.tcp_accept(self.port) {
                Some(r) => Poll::Ready(r),
                None => {
                    s.iface.tcp_register_acceptor(self.port, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await;
        (TcpStream::new(&self.stack, id), peer)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let waker = self.stack.with_iface(|i| i.tcp_unlisten(self.port));
        drop(waker);
    }
}

/// A TCP connection. Dropping it closes it gracefully (a FIN after the queued data; the
/// connection finishes in the background), or aborts it (a RST) if received data was left
/// unread, as `close(2)` does.
#[derive(Debug)]
pub struct TcpStream {
    stack: StackHandle,
    id: ConnId,
    shut: bool,
}

impl TcpStream {
    fn new(stack: &StackHandle, id: ConnId) -> TcpStream {
        TcpStream {
            stack: stack.clone(),
            id,
            shut: false,
        }
    }

    /// Opens a connection to `remote` and waits for the handshake.
    pub async fn connect(
        stack: &StackHandle,
        remote: Endpoint,
    ) -> Result<TcpStream, TcpSocketError> {
        let now = Instant::now();
        let id = stack.with_iface(|i| i.tcp_connect(now, remote))?;
        // Dropped on cancellation or failure: the half-open connection is released.
        let stream = TcpStream::new(stack, id);
        poll_fn(|cx| {
            let mut s = stack.shared.borrow_mut();
            let Some(tcb) = s.iface.tcp_tcb(id) else {
                return Poll::Ready(Err(TcpSocketError::Closed));
            };
            match tcb.state() {
                State::SynSent | State::SynReceived => {
                    s.iface.tcp_register_writer(id, cx.waker());
                    Poll::Pending
                }
                State::Closed => Poll::Ready(Err(tcb
                    .error()
                    .map_or(TcpSocketError::Closed, TcpSocketError::from))),
                _ => Poll::Ready(Ok(())),
            }
        })
        .await?;
        Ok(stream)
    }

    /// The peer.
    pub fn peer_addr(&self) -> Option<Endpoint> {
        let mut s = self.stack.shared.borrow_mut();
        let tcb = s.iface.tcp_tcb(self.id)?;
        Some((tcb.remote().addr, tcb.remote().port))
    }

    /// Bytes written but not yet acknowledged by the peer.
    pub fn send_queue_len(&self) -> usize {
        let mut s = self.stack.shared.borrow_mut();
        s.iface.tcp_tcb(self.id).map_or(0, |t| t.send_queue())
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        let mut s = self.stack.shared.borrow_mut();
        s.iface
            .tcp_tcb(self.id)
            .map_or(State::Closed, |t| t.state())
    }

    /// Waits for data and moves as much as fits into `buf`; `Ok(0)` once the peer closed its
    /// side (or for an empty `buf`).
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpSocketError> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// The poll form of [`read`](Self::read), for adapters to poll-based I/O traits.
    pub fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, TcpSocketError>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let id = self.id;
        let mut driver: Option<Waker> = None;
        let r = {
            let mut guard = self.stack.shared.borrow_mut();
            let s = &mut *guard;
            match s.iface.tcp_tcb(id) {
                None => Poll::Ready(Err(TcpSocketError::Closed)),
                Some(tcb) => {
                    let n = tcb.recv(buf);
                    if n > 0 {
                        // The window opened: the driver may have an update to send.
                        driver = s.driver.take();
                        Poll::Ready(Ok(n))
                    } else if tcb.recv_closed() {
                        Poll::Ready(Ok(0))
                    } else if tcb.state() == State::Closed {
                        Poll::Ready(tcb.error().map_or(Ok(0), |e| Err(e.into())))
                    } else {
                        s.iface.tcp_register_reader(id, cx.waker());
                        Poll::Pending
                    }
                }
            }
        };
        if let Some(w) = driver {
            w.wake();
        }
        r
    }

    /// Waits for room in the send buffer and queues as much of `data` as fits.
    pub async fn write(&mut self, data: &[u8]) -> Result<usize, TcpSocketError> {
        poll_fn(|cx| self.poll_write(cx, data)).await
    }

    /// The poll form of [`write`](Self::write).
    pub fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<Result<usize, TcpSocketError>> {
        if self.shut {
            return Poll::Ready(Err(TcpSocketError::Closed));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let id = self.id;
        let mut driver: Option<Waker> = None;
        let r = {
            let mut guard = self.stack.shared.borrow_mut();
            let s = &mut *guard;
            match s.iface.tcp_tcb(id) {
                None => Poll::Ready(Err(TcpSocketError::Closed)),
                Some(tcb) if tcb.state() == State::Closed => Poll::Ready(Err(tcb
                    .error()
                    .map_or(TcpSocketError::Closed, TcpSocketError::from))),
                Some(tcb) if !tcb.state().can_send() => Poll::Ready(Err(TcpSocketError::Closed)),
                Some(tcb) => {
                    let n = tcb.send(data);
                    if n > 0 {
                        driver = s.driver.take();
                        Poll::Ready(Ok(n))
                    } else {
                        s.iface.tcp_register_writer(id, cx.waker());
                        Poll::Pending
                    }
                }
            }
        };
        if let Some(w) = driver {
            w.wake();
        }
        r
    }

    /// Writes all of `data`.
    pub async fn write_all(&mut self, mut data: &[u8]) -> Result<(), TcpSocketError> {
        while !data.is_empty() {
            let n = self.write(data).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Closes the sending side: a FIN follows the queued data. Returns at once (the FIN is
    /// sent and retransmitted by the driver); reading remains possible.
    pub async fn shutdown(&mut self) -> Result<(), TcpSocketError> {
        self.shutdown_now()
    }

    /// [`shutdown`](Self::shutdown) without the `async`: it never waits.
    pub fn shutdown_now(&mut self) -> Result<(), TcpSocketError> {
        self.shut = true;
        let id = self.id;
        // `with_iface` wakes the driver, whose job it is to send the FIN.
        self.stack.with_iface(|i| match i.tcp_tcb(id) {
            Some(tcb) => {
                tcb.shutdown_write();
                Ok(())
            }
            None => Err(TcpSocketError::Closed),
        })
    }

    /// Hands what was written to the stack: a no-op that reports a failed connection, since
    /// every write is already queued for the driver, which sends it as the windows allow
    /// (like `flush` on a kernel socket). It does not wait for the peer: that would cost a
    /// round trip, or a delayed ACK, per call. [`wait_acked`](Self::wait_acked) does.
    pub async fn flush(&mut self) -> Result<(), TcpSocketError> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Waits until the peer has acknowledged everything written so far (or the connection
    /// ended, which is the error).
    pub async fn wait_acked(&mut self) -> Result<(), TcpSocketError> {
        poll_fn(|cx| self.poll_acked(cx)).await
    }

    /// The poll form of [`flush`](Self::flush).
    pub fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TcpSocketError>> {
        let id = self.id;
        let mut s = self.stack.shared.borrow_mut();
        Poll::Ready(match s.iface.tcp_tcb(id) {
            None => Err(TcpSocketError::Closed),
            Some(tcb) if tcb.state() == State::Closed => Err(tcb
                .error()
                .map_or(TcpSocketError::Closed, TcpSocketError::from)),
            Some(_) => Ok(()),
        })
    }

    /// The poll form of [`wait_acked`](Self::wait_acked).
    pub fn poll_acked(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TcpSocketError>> {
        let id = self.id;
        let mut s = self.stack.shared.borrow_mut();
        match s.iface.tcp_tcb(id) {
            None => Poll::Ready(Err(TcpSocketError::Closed)),
            Some(tcb) if tcb.send_queue() == 0 => Poll::Ready(Ok(())),
            Some(tcb) if tcb.state() == State::Closed => Poll::Ready(Err(tcb
                .error()
                .map_or(TcpSocketError::Closed, TcpSocketError::from))),
            Some(_) => {
                s.iface.tcp_register_writer(id, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let now = Instant::now();
        let id = self.id;
        self.stack.with_iface(|i| i.tcp_release(now, id));
    }
}
