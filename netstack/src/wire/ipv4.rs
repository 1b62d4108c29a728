//! IPv4 (RFC 791): addresses, protocol numbers, and the header.
//!
//! The view exposes every field, options and fragment fields included, so that a reassembler
//! (RFC 791 §3.2, RFC 815) can work from it; the value keeps what the layers above need and is
//! emitted without options. Options are validated only for length (they lie inside the header
//! length) and are otherwise skipped, as RFC 1122 §3.2.1.8 allows for the ones a host does not
//! implement.

use core::fmt;
use core::str::FromStr;

use super::checksum::{self, ChecksumCaps, TxChecksum};
use super::field::{set_u16, u16_at};
use super::{Error, Result};

/// An IPv4 address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ipv4Address(pub [u8; 4]);

impl Ipv4Address {
    /// `0.0.0.0`.
    pub const UNSPECIFIED: Ipv4Address = Ipv4Address([0; 4]);
    /// `255.255.255.255`, the limited broadcast address.
    pub const BROADCAST: Ipv4Address = Ipv4Address([255; 4]);

    /// The address `a.b.c.d`.
    pub const fn new(a: u8, b: u8, c: u8, d: u8) -> Ipv4Address {
        Ipv4Address([a, b, c, d])
    }

    /// The address held in the first four bytes of `bytes`, if it has four.
    pub fn from_bytes(bytes: &[u8]) -> Option<Ipv4Address> {
        bytes.get(..4)?.try_into().ok().map(Ipv4Address)
    }

    /// The address whose big-endian value is `bits`.
    pub const fn from_bits(bits: u32) -> Ipv4Address {
        Ipv4Address(bits.to_be_bytes())
    }

    /// The address as a big-endian number, for masks and prefixes.
    pub const fn to_bits(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The four octets.
    pub const fn octets(self) -> [u8; 4] {
        self.0
    }

    /// Whether this is `255.255.255.255` (RFC 919). Directed broadcasts depend on a subnet, which
    /// the interface knows.
    pub const fn is_broadcast(self) -> bool {
        self.to_bits() == u32::MAX
    }

    /// Whether this is in `224.0.0.0/4` (RFC 5771).
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0xf0 == 224
    }

    /// Whether this is `0.0.0.0`.
    pub const fn is_unspecified(self) -> bool {
        self.to_bits() == 0
    }

    /// Whether this is in `127.0.0.0/8` (RFC 1122 §3.2.1.3).
    pub const fn is_loopback(self) -> bool {
        self.0[0] == 127
    }

    /// Whether this is in `169.254.0.0/16` (RFC 3927).
    pub const fn is_link_local(self) -> bool {
        self.0[0] == 169 && self.0[1] == 254
    }

    /// Whether this can be a packet's source or a host's own address: not unspecified,
    /// broadcast or multicast (RFC 1122 §3.2.1.3).
    pub const fn is_unicast(self) -> bool {
        !(self.is_unspecified() || self.is_broadcast() || self.is_multicast())
    }
}

impl From<[u8; 4]> for Ipv4Address {
    fn from(octets: [u8; 4]) -> Self {
        Ipv4Address(octets)
    }
}

impl From<core::net::Ipv4Addr> for Ipv4Address {
    fn from(addr: core::net::Ipv4Addr) -> Self {
        Ipv4Address(addr.octets())
    }
}

impl From<Ipv4Address> for core::net::Ipv4Addr {
    fn from(addr: Ipv4Address) -> Self {
        core::net::Ipv4Addr::from(addr.0)
    }
}

/// Parses dotted-quad notation (`10.0.2.15`), as `core::net::Ipv4Addr` does.
impl FromStr for Ipv4Address {
    type Err = core::net::AddrParseError;
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        core::net::Ipv4Addr::from_str(s).map(Ipv4Address::from)
    }
}

impl fmt::Display for Ipv4Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl fmt::Debug for Ipv4Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The protocol carried by an IP packet (IANA's "Assigned Internet Protocol Numbers"; the same
/// numbers are IPv6's next-header values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// `1`, RFC 792.
    Icmp,
    /// `6`, RFC 9293.
    Tcp,
    /// `17`, RFC 768.
    Udp,
    /// Any other value, kept as it was.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        match value {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        match value {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Unknown(p) => write!(f, "protocol {p}"),
        }
    }
}

mod field {
    use super::super::field::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    /// The end of the fixed header, where options begin.
    pub const OPTIONS: usize = 20;
}

/// The "don't fragment" flag (RFC 791 §3.1).
const FLAG_DF: u16 = 0x4000;
/// The "more fragments" flag.
const FLAG_MF: u16 = 0x2000;
/// The fragment offset, in units of 8 bytes.
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet in a buffer.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// The length of a header without options.
    pub const MIN_HEADER_LEN: usize = field::OPTIONS;

    /// Wraps a buffer without checking it: accessors panic if it is shorter than the header.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer holding a whole packet, as [`Ipv4Packet::check_len`] validates.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the lengths: the buffer holds the fixed header (`Truncated`), the header length
    /// is at least that (`Malformed`), the total length covers the header (`Malformed`) and lies
    /// within the buffer (`Truncated`). Bytes past the total length (Ethernet padding) are
    /// allowed and are not part of [`Ipv4Packet::payload`].
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPTIONS {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len < field::OPTIONS || total_len < header_len {
            return Err(Error::Malformed);
        }
        if len < total_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (`4`).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (the IHL field times four).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The Differentiated Services code point (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// The Explicit Congestion Notification bits (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The total length of header and payload.
    pub fn total_len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// The identification, shared by the fragments of one datagram.
    pub fn ident(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::IDENT)
    }

    /// The "don't fragment" flag.
    pub fn dont_frag(&self) -> bool {
        u16_at(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// The "more fragments" flag: this is not the datagram's last fragment.
    pub fn more_frags(&self) -> bool {
        u16_at(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// The fragment's offset in the datagram, in bytes (a multiple of 8).
    pub fn frag_offset(&self) -> u16 {
        (u16_at(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Whether this is a fragment of a larger datagram, rather than a whole one.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// The time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The payload's protocol.
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv4Address {
        let mut a = [0; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv4Address(a)
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv4Address {
        let mut a = [0; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv4Address(a)
    }

    /// Whether the header checksum is right (RFC 791 §3.1: the header, options included, sums
    /// to all ones).
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..usize::from(self.header_len())]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The option bytes, between the fixed header and the payload.
    pub fn options(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::OPTIONS..usize::from(self.header_len())]
    }

    /// The payload: from the header length to the total length.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version and the header length (in bytes, a multiple of 4 up to 60).
    pub fn set_version_and_header_len(&mut self, version: u8, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | ((header_len / 4) & 0x0f);
    }

    /// Sets the DSCP and ECN bits.
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::TOTAL_LEN, value);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    /// Sets the flags and the fragment offset (in bytes, a multiple of 8).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut v = (frag_offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        set_u16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Address) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.0);
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Address) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.0);
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::sum(&self.buffer.as_ref()[..usize::from(self.header_len())]);
        self.set_checksum(!sum);
    }

    /// The payload, to fill (the header length and total length must be set first).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// An IPv4 header, as this stack reads and writes it: options are skipped on parse and never
/// emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Address,
    /// Destination address.
    pub dst_addr: Ipv4Address,
    /// The payload's protocol.
    pub protocol: IpProtocol,
    /// The payload's length in bytes (the total length less the header).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated Services code point (RFC 2474), 6 bits.
    pub dscp: u8,
    /// Explicit Congestion Notification (RFC 3168), 2 bits.
    pub ecn: u8,
    /// Identification (RFC 6864: unique only among a source's fragmentable packets in flight).
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments follow this one.
    pub more_frags: bool,
    /// This fragment's offset in its datagram, in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Reads the header of a checked packet: version 4 (else `Malformed`) and a right checksum
    /// unless `caps` says the device verified it (else `Checksum`). Fragments parse like whole
    /// datagrams; [`Ipv4Repr::is_fragment`] tells them apart.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, caps: &ChecksumCaps) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::Malformed);
        }
        if caps.ipv4.verify_rx && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len() - u16::from(packet.header_len())),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// Whether this is a fragment of a larger datagram.
    pub const fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// The length of the header [`Ipv4Repr::emit`] writes (no options).
    pub const fn buffer_len(&self) -> usize {
        field::OPTIONS
    }

    /// Writes the header, without options; the payload is the caller's. The checksum is written
    /// as `caps.ipv4.tx` says ([`TxChecksum::Partial`] computes it).
    ///
    /// # Panics
    /// If the buffer is shorter than [`Ipv4Repr::buffer_len`], or `payload_len` does not fit the
    /// 16-bit total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        caps: &ChecksumCaps,
    ) {
        let total_len = u16::try_from(field::OPTIONS + self.payload_len)
            .expect("IPv4 payload longer than 65515 bytes");
        packet.set_version_and_header_len(4, field::OPTIONS as u8);
        packet.set_dscp_ecn(self.dscp, self.ecn);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_frag(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        match caps.ipv4.tx {
            TxChecksum::Compute | TxChecksum::Partial => packet.fill_checksum(),
            TxChecksum::Offloaded => packet.set_checksum(0),
        }
    }
}

impl fmt::Display for Ipv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv4 {} > {} {} len={} ttl={}",
            self.src_addr, self.dst_addr, self.protocol, self.payload_len, self.ttl
        )?;
        if self.is_fragment() {
            write!(
                f,
                " frag id={} off={}{}",
                self.ident,
                self.frag_offset,
                if self.more_frags { " MF" } else { "" }
            )?;
        }
        Ok(())
    }
}
