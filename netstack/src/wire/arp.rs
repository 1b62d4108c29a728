//! ARP, the Address Resolution Protocol (RFC 826), for IPv4 over Ethernet.
//!
//! The view reads any hardware and protocol address lengths, which the header states; the value
//! holds only what this stack resolves, Ethernet addresses for IPv4 addresses, with a request or
//! a reply.

use core::fmt;

use super::ethernet::{EtherType, EthernetAddress};
use super::field::{set_u16, u16_at};
use super::ipv4::Ipv4Address;
use super::{Error, Result};

/// The ARP operation (RFC 826's `ar$op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// `1`: who has the target protocol address?
    Request,
    /// `2`: the sender has the sender protocol address.
    Reply,
    /// Any other value (RARP's, InARP's...).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    /// The sender hardware address; the other addresses follow at offsets the lengths give.
    pub const ADDRESSES: usize = 8;
}

/// RFC 826's hardware type for Ethernet (`ar$hrd`).
const HARDWARE_ETHERNET: u16 = 1;

/// A view of an ARP packet in a buffer.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking it: accessors panic if it is shorter than the packet.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer that holds the fixed header and the four addresses its lengths announce.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` unless the buffer holds the fixed header and all four addresses. Trailing
    /// bytes (Ethernet padding) are allowed.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::ADDRESSES || len < self.packet_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The length of the packet its address lengths announce.
    fn packet_len(&self) -> usize {
        field::ADDRESSES + 2 * (usize::from(self.hardware_len()) + usize::from(self.protocol_len()))
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The hardware type (`1` for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::HTYPE)
    }

    /// The protocol type, an EtherType.
    pub fn protocol_type(&self) -> EtherType {
        u16_at(self.buffer.as_ref(), field::PTYPE).into()
    }

    /// The length of a hardware address.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// The length of a protocol address.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The operation.
    pub fn operation(&self) -> ArpOperation {
        u16_at(self.buffer.as_ref(), field::OPER).into()
    }

    /// The byte range of the `index`th address (sender hardware, sender protocol, target
    /// hardware, target protocol).
    fn address(&self, index: usize) -> &[u8] {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        let start = field::ADDRESSES + (index / 2) * (h + p) + (index % 2) * h;
        let len = if index % 2 == 0 { h } else { p };
        &self.buffer.as_ref()[start..start + len]
    }

    /// The sender hardware address.
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.address(0)
    }

    /// The sender protocol address.
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.address(1)
    }

    /// The target hardware address.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.address(2)
    }

    /// The target protocol address.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.address(3)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::HTYPE, value);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: EtherType) {
        set_u16(self.buffer.as_mut(), field::PTYPE, value.into());
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, value: ArpOperation) {
        set_u16(self.buffer.as_mut(), field::OPER, value.into());
    }

    /// Writes the `index`th address; its length must be the header's.
    fn set_address(&mut self, index: usize, value: &[u8]) {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        let start = field::ADDRESSES + (index / 2) * (h + p) + (index % 2) * h;
        self.buffer.as_mut()[start..start + value.len()].copy_from_slice(value);
    }

    /// Sets the sender hardware address (the lengths must be set first).
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        self.set_address(0, value);
    }

    /// Sets the sender protocol address (the lengths must be set first).
    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        self.set_address(1, value);
    }

    /// Sets the target hardware address (the lengths must be set first).
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        self.set_address(2, value);
    }

    /// Sets the target protocol address (the lengths must be set first).
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        self.set_address(3, value);
    }
}

/// An ARP request or reply resolving an IPv4 address to an Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// The sender's Ethernet address.
    pub source_hardware_addr: EthernetAddress,
    /// The sender's IPv4 address.
    pub source_protocol_addr: Ipv4Address,
    /// The target's Ethernet address (ignored in a request, where it is usually zero).
    pub target_hardware_addr: EthernetAddress,
    /// The IPv4 address asked about (request) or answered to (reply).
    pub target_protocol_addr: Ipv4Address,
}

impl ArpRepr {
    /// The length of an Ethernet/IPv4 ARP packet.
    pub const LEN: usize = field::ADDRESSES + 2 * (6 + 4);

    /// Reads a request or a reply for IPv4 over Ethernet; anything else is `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        let operation = match packet.operation() {
            op @ (ArpOperation::Request | ArpOperation::Reply) => op,
            ArpOperation::Unknown(_) => return Err(Error::Unsupported),
        };
        let eth = |bytes: &[u8]| EthernetAddress::from_bytes(bytes).ok_or(Error::Truncated);
        let ip = |bytes: &[u8]| Ipv4Address::from_bytes(bytes).ok_or(Error::Truncated);
        Ok(ArpRepr {
            operation,
            source_hardware_addr: eth(packet.source_hardware_addr())?,
            source_protocol_addr: ip(packet.source_protocol_addr())?,
            target_hardware_addr: eth(packet.target_hardware_addr())?,
            target_protocol_addr: ip(packet.target_protocol_addr())?,
        })
    }

    /// The length of the packet [`ArpRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes the packet.
    ///
    /// # Panics
    /// If the buffer is shorter than [`ArpRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr.0);
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(&self.target_hardware_addr.0);
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

impl fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operation {
            ArpOperation::Request => write!(
                f,
                "ARP who has {} tell {} ({})",
                self.target_protocol_addr, self.source_protocol_addr, self.source_hardware_addr
            ),
            ArpOperation::Reply => write!(
                f,
                "ARP {} is at {} (to {})",
                self.source_protocol_addr, self.source_hardware_addr, self.target_protocol_addr
            ),
            ArpOperation::Unknown(op) => write!(f, "ARP op {op}"),
        }
    }
}
