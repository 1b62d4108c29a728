//! Bytes on the wire: parse and emit of every header the stack speaks (Ethernet, ARP, IPv4, ICMP,
//! UDP, TCP with its options, DHCP), with no allocation.
//!
//! Each format is a *view* plus a *value*:
//!
//! - the view, `XxxPacket<T: AsRef<[u8]>>` (or [`EthernetFrame`]), wraps a buffer and reads and
//!   writes fields at fixed offsets. `new_checked` validates the lengths once, so that no accessor
//!   of a checked view can index out of bounds, whatever the bytes are; `new_unchecked` is for
//!   buffers this stack is about to fill.
//! - the value, `XxxRepr`, holds only meaningful, validated fields. `parse` reads one from a checked
//!   view and returns an [`Error`] for anything it will not accept (a bad checksum, a reserved
//!   value, an unsupported variant); `buffer_len` says how many bytes `emit` will write; `emit`
//!   writes the header (and, for the transport protocols, the payload) and fills the checksum.
//!
//! Parsing is in place: a `Repr`'s payload borrows from the received buffer, so a frame goes from
//! the device's DMA buffer to a socket without a copy. Checksums follow RFC 1071 and are verified
//! and filled as [`ChecksumCaps`] says, so a device that offloads them (virtio-net's CSUM and
//! GUEST_CSUM) is not paid for twice.
//!
//! No parser panics on any input: every one has a fuzz target in `netstack/fuzz/` whose body is a
//! plain function in [`fuzz`], which the ordinary test suite also runs over the test packets and
//! seeded pseudo-random inputs.
//!
//! What is not here: IPv4 fragment reassembly (the packet view exposes the fragment fields for
//! it; the interface's `iface::fragment` does it), IPv6, and the policies of the layers above
//! (which addresses to accept, what to answer).

mod arp;
pub mod checksum;
pub mod dhcp;
mod ethernet;
pub mod fuzz;
mod icmp;
mod ipv4;
mod seq;
mod tcp;
mod tcp_options;
mod udp;

#[cfg(test)]
mod tests;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use checksum::{Checksum, ChecksumCaps, TxChecksum};
pub use dhcp::{DhcpMessageType, DhcpPacket, DhcpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmp::{
    DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, InvokingDatagram, TimeExceeded,
};
pub use ipv4::{IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr};
pub use seq::SeqNumber;
pub use tcp::{MAX_OPTIONS_LEN, TcpFlags, TcpPacket, TcpRepr};
pub use tcp_options::{MAX_SACK_BLOCKS, TcpOption, TcpOptions};
pub use udp::{UdpPacket, UdpRepr};

use core::fmt;

/// Why a buffer was not accepted as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field in it says.
    Truncated,
    /// A field holds a value the protocol forbids (a length field shorter than the header, an
    /// option of the wrong length, port zero...).
    Malformed,
    /// The checksum does not match the bytes.
    Checksum,
    /// Well-formed, but of a kind this stack does not handle (ARP for another hardware type, an
    /// IP version other than 4...).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "checksum mismatch",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl core::error::Error for Error {}

/// The result of parsing.
pub type Result<T> = core::result::Result<T, Error>;

/// Big-endian field access for the views. Every caller has validated the offsets (through
/// `check_len`) or documents that it panics on a buffer shorter than the header.
mod field {
    /// A field's byte range within its header.
    pub(crate) type Field = core::ops::Range<usize>;

    pub(crate) fn u16_at(data: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([data[at], data[at + 1]])
    }

    pub(crate) fn u32_at(data: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
    }

    pub(crate) fn set_u16(data: &mut [u8], at: usize, value: u16) {
        data[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn set_u32(data: &mut [u8], at: usize, value: u32) {
        data[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }
}
