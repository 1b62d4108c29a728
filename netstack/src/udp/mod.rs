//! The UDP socket table: which ports are bound, and each socket's bounded queue of received
//! datagrams with their source. Pure state; the async [`UdpSocket`](crate::iface::UdpSocket)
//! handle sits on top of it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::task::Waker;

use crate::portmap::PortMap;
use crate::wire::Ipv4Address;

/// A datagram's remote end.
pub type Endpoint = (Ipv4Address, u16);

/// Why a bind failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// Another socket holds the port.
    InUse,
    /// Port zero.
    Unaddressable,
}

impl core::fmt::Display for BindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BindError::InUse => "port already bound",
            BindError::Unaddressable => "cannot bind port zero",
        })
    }
}

impl core::error::Error for BindError {}

/// What became of a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Queued on the bound socket.
    Queued,
    /// The socket's queue was full: dropped.
    QueueFull,
    /// No socket is bound to the port.
    NoSocket,
}

#[derive(Debug)]
struct Socket {
    queue: VecDeque<(Endpoint, Vec<u8>)>,
    capacity: usize,
    dropped: u64,
    reader: Option<Waker>,
}

/// The bound sockets, by local port.
#[derive(Debug, Default)]
pub struct UdpTable {
    sockets: PortMap<Socket>,
}

impl UdpTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `port`, keeping at most `capacity` (at least one) unread datagrams.
    pub fn bind(&mut self, port: u16, capacity: usize) -> Result<(), BindError> {
        if port == 0 {
            return Err(BindError::Unaddressable);
        }
        if self.sockets.contains_key(port) {
            return Err(BindError::InUse);
        }
        self.sockets.insert(
            port,
            Socket {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                reader: None,
            },
        );
        Ok(())
    }

    /// Frees `port`, discarding its queue; returns the waker of a reader, if one waited.
    pub fn unbind(&mut self, port: u16) -> Option<Waker> {
        self.sockets.remove(port).and_then(|s| s.reader)
    }

    /// Whether `port` is bound.
    pub fn is_bound(&self, port: u16) -> bool {
        self.sockets.contains_key(port)
    }

    /// Queues a datagram for `port` (copying the payload out of the device's buffer). The
    /// reader's waker, if any, is pushed onto `wake` for the caller to wake once it holds no
    /// borrow.
    pub fn deliver(
        &mut self,
        port: u16,
        from: Endpoint,
        payload: &[u8],
        wake: &mut Vec<Waker>,
    ) -> Delivery {
        let Some(s) = self.sockets.get_mut(port) else {
            return Delivery::NoSocket;
        };
        if s.queue.len() >= s.capacity {
            s.dropped += 1;
            return Delivery::QueueFull;
        }
        s.queue.push_back((from, payload.to_vec()));
        if let Some(w) = s.reader.take() {
            wake.push(w);
        }
        Delivery::Queued
    }

    /// The oldest unread datagram on `port`.
    pub fn recv(&mut self, port: u16) -> Option<(Endpoint, Vec<u8>)> {
        self.sockets.get_mut(port)?.queue.pop_front()
    }

    /// Registers the waker to wake when a datagram arrives on `port`.
    pub fn register_reader(&mut self, port: u16, waker: &Waker) {
        if let Some(s) = self.sockets.get_mut(port) {
            match &mut s.reader {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
    }

    /// Datagrams dropped on `port` because its queue was full.
    pub fn dropped(&self, port: u16) -> u64 {
        self.sockets.get(port).map_or(0, |s| s.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_deliver_receive_and_drop_when_full() {
        let mut t = UdpTable::new();
        let from = (Ipv4Address::new(10, 0, 0, 1), 999);
        assert_eq!(t.bind(0, 2), Err(BindError::Unaddressable));
        t.bind(7, 2).unwrap();
        assert_eq!(t.bind(7, 2), Err(BindError::InUse));
        let mut wake = Vec::new();
        t.register_reader(7, Waker::noop());
        assert_eq!(t.deliver(8, from, b"x", &mut wake), Delivery::NoSocket);
        assert_eq!(t.deliver(7, from, b"a", &mut wake), Delivery::Queued);
        assert_eq!(wake.len(), 1);
        assert_eq!(t.deliver(7, from, b"b", &mut wake), Delivery::Queued);
        assert_eq!(t.deliver(7, from, b"c", &mut wake), Delivery::QueueFull);
        assert_eq!(t.dropped(7), 1);
        assert_eq!(t.recv(7), Some((from, b"a".to_vec())));
        assert_eq!(t.recv(7), Some((from, b"b".to_vec())));
        assert_eq!(t.recv(7), None);
        t.unbind(7);
        assert!(!t.is_bound(7));
        t.bind(7, 1).unwrap();
    }
}
