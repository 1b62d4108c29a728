//! The wire tests: frames captured from Linux ([`packets`]) parsed field by field and emitted
//! back byte for byte, every prefix of every frame rejected without a panic, bad checksums and
//! malformed fields rejected, and the fuzz bodies run over the frames and seeded random inputs.

mod arp;
mod checksum;
mod dhcp;
mod ethernet;
mod fuzz;
mod icmp;
mod ipv4;
mod packets;
mod seq;
mod tcp;
mod tcp_options;
mod udp;

use super::{Ipv4Address, Ipv4Packet};

/// Linux's address in the capture.
const HOST: Ipv4Address = Ipv4Address(packets::HOST_IP);
/// The peer's address in the capture.
const PEER: Ipv4Address = Ipv4Address(packets::PEER_IP);

/// The length of an Ethernet header.
const ETH: usize = 14;

/// The IPv4 packet in an Ethernet frame.
fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[ETH..]
}

/// The source and destination addresses and the IP payload of an Ethernet frame with IPv4.
fn transport_of(frame: &[u8]) -> (Ipv4Address, Ipv4Address, &[u8]) {
    let packet = Ipv4Packet::new_checked(ip_of(frame)).expect("a test frame holds an IPv4 packet");
    (packet.src_addr(), packet.dst_addr(), packet.payload())
}

/// xorshift64 (Marsaglia 2003): a fixed-seed generator for the randomized tests, so that every
/// run sees the same inputs.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        for b in buffer {
            *b = self.next_u64() as u8;
        }
    }
}
