//! UDP (RFC 768): ports, a length, a checksum over an IPv4 pseudo-header, the payload.
//!
//! Over IPv4 a zero checksum means that the sender computed none (RFC 768); such datagrams are
//! accepted, and a computed checksum of zero is sent as `0xffff`, its other one's-complement
//! form.

use core::fmt;

use super::checksum::{self, ChecksumCaps, TxChecksum};
use super::field::{set_u16, u16_at};
use super::ipv4::{IpProtocol, Ipv4Address};
use super::{Error, Result};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const PAYLOAD: usize = 8;
}

/// A view of a UDP datagram in a buffer (the IP payload; the length field may end it earlier).
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// The length of the header.
    pub const HEADER_LEN: usize = field::PAYLOAD;

    /// Wraps a buffer without checking it: accessors panic if it is shorter than the header or
    /// the length field.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer holding a whole datagram, as [`UdpPacket::check_len`] validates.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the lengths: the buffer holds the header (`Truncated`), the length field covers
    /// the header (`Malformed`) and lies within the buffer (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::PAYLOAD {
            return Err(Error::Truncated);
        }
        let udp_len = usize::from(self.len());
        if udp_len < field::PAYLOAD {
            return Err(Error::Malformed);
        }
        if len < udp_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port (zero when no reply is expected).
    pub fn src_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header and payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::LENGTH)
    }

    /// The checksum field (zero: none).
    pub fn checksum(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether the checksum is right for these IPv4 addresses, or absent (zero).
    pub fn verify_checksum(&self, src_addr: Ipv4Address, dst_addr: Ipv4Address) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        checksum::combine(&[
            checksum::ipv4_pseudo_header(src_addr, dst_addr, IpProtocol::Udp, len),
            checksum::sum(&self.buffer.as_ref()[..usize::from(len)]),
        ]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The payload, up to the length field.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::PAYLOAD..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// The payload, up to the length field, to fill.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }

    /// Computes and writes the checksum over the pseudo-header and the datagram (the length field
    /// must be set), writing `0xffff` for a zero result (RFC 768).
    pub fn fill_checksum(&mut self, src_addr: Ipv4Address, dst_addr: Ipv4Address) {
        self.set_checksum(0);
        let len = self.len();
        let sum = checksum::combine(&[
            checksum::ipv4_pseudo_header(src_addr, dst_addr, IpProtocol::Udp, len),
            checksum::sum(&self.buffer.as_ref()[..usize::from(len)]),
        ]);
        let value = !sum;
        self.set_checksum(if value == 0 { 0xffff } else { value });
    }
}

/// A UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr<'a> {
    /// Source port (zero when no reply is expected).
    pub src_port: u16,
    /// Destination port, never zero.
    pub dst_port: u16,
    /// The payload, borrowed from the received buffer.
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Reads a checked datagram that came from `src_addr` to `dst_addr`: the destination port
    /// must not be zero (`Malformed`); the checksum must be right or zero, unless `caps` says the
    /// device verified it (`Checksum`).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&'a T>,
        src_addr: Ipv4Address,
        dst_addr: Ipv4Address,
        caps: &ChecksumCaps,
    ) -> Result<UdpRepr<'a>> {
        packet.check_len()?;
        if packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if caps.udp.verify_rx && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: packet.payload(),
        })
    }

    /// The length of the datagram [`UdpRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::PAYLOAD + self.payload.len()
    }

    /// Writes the datagram, payload included, and the checksum as `caps.udp.tx` says.
    ///
    /// # Panics
    /// If the buffer is shorter than [`UdpRepr::buffer_len`], or the payload is longer than
    /// 65527 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src_addr: Ipv4Address,
        dst_addr: Ipv4Address,
        caps: &ChecksumCaps,
    ) {
        let len = u16::try_from(self.buffer_len()).expect("UDP payload longer than 65527 bytes");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.payload_mut().copy_from_slice(self.payload);
        match caps.udp.tx {
            TxChecksum::Compute => packet.fill_checksum(src_addr, dst_addr),
            TxChecksum::Partial => packet.set_checksum(checksum::ipv4_pseudo_header(
                src_addr,
                dst_addr,
                IpProtocol::Udp,
                len,
            )),
            TxChecksum::Offloaded => packet.set_checksum(0),
        }
    }
}

impl fmt::Display for UdpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UDP {} > {} len={}",
            self.src_port,
            self.dst_port,
            self.payload.len()
        )
    }
}
