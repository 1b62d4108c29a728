//! Devices for tests and debugging, each a [`NetDevice`]: [`Loopback`] (what is sent is
//! received), [`SimLink`] (two ends joined by a seeded, lossy, reordering, duplicating,
//! corrupting, delaying wire on the executor's clock) and [`Pcap`] (wraps any device and records
//! every frame in pcap format, for tcpdump and Wireshark).
//!
//! They follow the [`NetDevice`] waker rule like real devices do, so the stack cannot tell them
//! from one.
//!
//! [`NetDevice`]: morgana_drivers::net::NetDevice

mod loopback;
mod pcap;
mod sim_link;

pub use loopback::Loopback;
pub use pcap::{Pcap, PcapSink};
pub use sim_link::{LinkStats, SimLink, SimLinkConfig};

use alloc::vec::Vec;
use morgana_drivers::net::{RxToken, TxToken};

/// A received frame that the device owns as a `Vec` (the test devices keep frames in queues).
#[derive(Debug)]
pub struct OwnedRx(pub Vec<u8>);

impl RxToken for OwnedRx {
    fn consume<R>(mut self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        f(&mut self.0)
    }
}

/// Room for a frame, which is pushed onto the device's outbox once filled; the device takes
/// the outbox at its next `flush` (or `receive`).
#[derive(Debug)]
pub struct OutboxTx<'a>(pub &'a mut Vec<Vec<u8>>);

impl TxToken for OutboxTx<'_> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut frame = alloc::vec![0; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}
