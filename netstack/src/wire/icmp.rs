//! ICMP for IPv4 (RFC 792): echo request and reply, destination unreachable (with RFC 1191's
//! next-hop MTU) and time exceeded are understood; every other message parses as
//! [`Icmpv4Repr::Other`], kept whole so that it can be counted, logged or passed on.
//!
//! An error message carries the start of the datagram that caused it, the *invoking datagram*
//! (RFC 792: its IP header and at least its first 64 bits of data; RFC 1812 §4.3.2.3 allows
//! more). [`InvokingDatagram`] validates that much and reads the addresses, protocol and ports
//! that tell the layers above which socket the error is for.

use core::fmt;

use super::checksum::{self, ChecksumCaps, TxChecksum};
use super::field::{set_u16, u16_at};
use super::ipv4::{IpProtocol, Ipv4Address};
use super::{Error, Result};

/// An ICMP message type (RFC 792, IANA "ICMP Type Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Message {
    /// `0`.
    EchoReply,
    /// `3`.
    DstUnreachable,
    /// `5`.
    Redirect,
    /// `8`.
    EchoRequest,
    /// `11`.
    TimeExceeded,
    /// `12`.
    ParamProblem,
    /// `13`.
    Timestamp,
    /// `14`.
    TimestampReply,
    /// Any other type, kept as it was.
    Unknown(u8),
}

impl From<u8> for Icmpv4Message {
    fn from(value: u8) -> Self {
        match value {
            0 => Icmpv4Message::EchoReply,
            3 => Icmpv4Message::DstUnreachable,
            5 => Icmpv4Message::Redirect,
            8 => Icmpv4Message::EchoRequest,
            11 => Icmpv4Message::TimeExceeded,
            12 => Icmpv4Message::ParamProblem,
            13 => Icmpv4Message::Timestamp,
            14 => Icmpv4Message::TimestampReply,
            other => Icmpv4Message::Unknown(other),
        }
    }
}

impl From<Icmpv4Message> for u8 {
    fn from(value: Icmpv4Message) -> Self {
        match value {
            Icmpv4Message::EchoReply => 0,
            Icmpv4Message::DstUnreachable => 3,
            Icmpv4Message::Redirect => 5,
            Icmpv4Message::EchoRequest => 8,
            Icmpv4Message::TimeExceeded => 11,
            Icmpv4Message::ParamProblem => 12,
            Icmpv4Message::Timestamp => 13,
            Icmpv4Message::TimestampReply => 14,
            Icmpv4Message::Unknown(other) => other,
        }
    }
}

/// The code of a destination-unreachable message (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// `0`: net unreachable.
    NetUnreachable,
    /// `1`: host unreachable.
    HostUnreachable,
    /// `2`: protocol unreachable.
    ProtoUnreachable,
    /// `3`: port unreachable.
    PortUnreachable,
    /// `4`: fragmentation needed and DF set; the next-hop MTU is in the header (RFC 1191).
    FragRequired,
    /// `5`: source route failed.
    SrcRouteFailed,
    /// `6`: destination network unknown.
    DstNetUnknown,
    /// `7`: destination host unknown.
    DstHostUnknown,
    /// `8`: source host isolated.
    SrcHostIsolated,
    /// `9`: communication with the destination network administratively prohibited.
    NetProhibited,
    /// `10`: communication with the destination host administratively prohibited.
    HostProhibited,
    /// `11`: network unreachable for the type of service.
    NetUnreachToS,
    /// `12`: host unreachable for the type of service.
    HostUnreachToS,
    /// `13`: communication administratively prohibited (RFC 1812).
    CommProhibited,
    /// `14`: host precedence violation.
    HostPrecedenceViolation,
    /// `15`: precedence cutoff in effect.
    PrecedenceCutoff,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for DstUnreachable {
    fn from(value: u8) -> Self {
        use DstUnreachable::*;
        match value {
            0 => NetUnreachable,
            1 => HostUnreachable,
            2 => ProtoUnreachable,
            3 => PortUnreachable,
            4 => FragRequired,
            5 => SrcRouteFailed,
            6 => DstNetUnknown,
            7 => DstHostUnknown,
            8 => SrcHostIsolated,
            9 => NetProhibited,
            10 => HostProhibited,
            11 => NetUnreachToS,
            12 => HostUnreachToS,
            13 => CommProhibited,
            14 => HostPrecedenceViolation,
            15 => PrecedenceCutoff,
            other => Unknown(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(value: DstUnreachable) -> Self {
        use DstUnreachable::*;
        match value {
            NetUnreachable => 0,
            HostUnreachable => 1,
            ProtoUnreachable => 2,
            PortUnreachable => 3,
            FragRequired => 4,
            SrcRouteFailed => 5,
            DstNetUnknown => 6,
            DstHostUnknown => 7,
            SrcHostIsolated => 8,
            NetProhibited => 9,
            HostProhibited => 10,
            NetUnreachToS => 11,
            HostUnreachToS => 12,
            CommProhibited => 13,
            HostPrecedenceViolation => 14,
            PrecedenceCutoff => 15,
            Unknown(other) => other,
        }
    }
}

/// The code of a time-exceeded message (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// `0`: the TTL reached zero in transit.
    TtlExpired,
    /// `1`: fragment reassembly time exceeded.
    FragReassembly,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for TimeExceeded {
    fn from(value: u8) -> Self {
        match value {
            0 => TimeExceeded::TtlExpired,
            1 => TimeExceeded::FragReassembly,
            other => TimeExceeded::Unknown(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(value: TimeExceeded) -> Self {
        match value {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragReassembly => 1,
            TimeExceeded::Unknown(other) => other,
        }
    }
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    /// Echo identifier; unused in the error messages here.
    pub const ECHO_IDENT: usize = 4;
    /// Echo sequence number; the next-hop MTU in "fragmentation needed" (RFC 1191).
    pub const ECHO_SEQNO: usize = 6;
    /// The four bytes after the checksum, whose meaning depends on the type.
    pub const REST_OF_HEADER: core::ops::Range<usize> = 4..8;
    /// Where the echo data or the invoking datagram begins.
    pub const DATA: usize = 8;
}

/// A view of an ICMPv4 message in a buffer: the whole buffer is the message (the IP payload),
/// and the checksum covers all of it.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// The length of the header, up to the data.
    pub const HEADER_LEN: usize = field::DATA;

    /// Wraps a buffer without checking it: accessors panic if it is shorter than the header.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps a buffer that holds at least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` unless the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::DATA {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message type.
    pub fn msg_type(&self) -> Icmpv4Message {
        self.buffer.as_ref()[field::TYPE].into()
    }

    /// The message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The echo identifier.
    pub fn echo_ident(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// The echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191 §4).
    pub fn next_hop_mtu(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The four bytes after the checksum.
    pub fn rest_of_header(&self) -> [u8; 4] {
        let mut r = [0; 4];
        r.copy_from_slice(&self.buffer.as_ref()[field::REST_OF_HEADER]);
        r
    }

    /// Whether the message sums, checksum included, to all ones (RFC 792).
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// Everything after the 8-byte header.
    pub fn data(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::DATA..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: Icmpv4Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    /// Sets the four bytes after the checksum.
    pub fn set_rest_of_header(&mut self, value: [u8; 4]) {
        self.buffer.as_mut()[field::REST_OF_HEADER].copy_from_slice(&value);
    }

    /// Everything after the header, to fill.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Computes and writes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::sum(self.buffer.as_ref());
        self.set_checksum(!sum);
    }
}

/// The start of the datagram that caused an ICMP error: an IPv4 header (options included) and
/// at least 8 bytes of its payload, as RFC 792 requires; the validated bytes are kept as they
/// came, to be emitted again unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvokingDatagram<'a> {
    bytes: &'a [u8],
}

impl<'a> InvokingDatagram<'a> {
    /// Validates the bytes of an invoking datagram: a version-4 header whose length is at least
    /// 20 (`Malformed` otherwise), followed by at least 8 bytes (`Truncated` otherwise). The
    /// header's total length and checksum are not checked: the datagram is usually cut short,
    /// and a router may have changed it.
    ///
    /// To answer a received datagram with an error, pass it cut to the length to quote (RFC 1812
    /// §4.3.2.3: as much as fits in 576 bytes).
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let first = *bytes.first().ok_or(Error::Truncated)?;
        if first >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < 20 {
            return Err(Error::Malformed);
        }
        if bytes.len() < header_len + 8 {
            return Err(Error::Truncated);
        }
        Ok(InvokingDatagram { bytes })
    }

    /// The bytes as received, from the IP header on.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The length of the invoking datagram's IP header.
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes[0] & 0x0f) * 4
    }

    /// Its source address: this host, for an error about a datagram it sent.
    pub fn src_addr(&self) -> Ipv4Address {
        Ipv4Address([
            self.bytes[12],
            self.bytes[13],
            self.bytes[14],
            self.bytes[15],
        ])
    }

    /// Its destination address.
    pub fn dst_addr(&self) -> Ipv4Address {
        Ipv4Address([
            self.bytes[16],
            self.bytes[17],
            self.bytes[18],
            self.bytes[19],
        ])
    }

    /// Its protocol.
    pub fn protocol(&self) -> IpProtocol {
        self.bytes[9].into()
    }

    /// Its identification.
    pub fn ident(&self) -> u16 {
        u16_at(self.bytes, 4)
    }

    /// The quoted start of its payload: at least 8 bytes.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len()..]
    }

    /// Its source and destination ports, for TCP and UDP, whose first 4 bytes they are.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.protocol() {
            IpProtocol::Tcp | IpProtocol::Udp => {
                let p = self.payload();
                Some((u16_at(p, 0), u16_at(p, 2)))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for InvokingDatagram<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvokingDatagram")
            .field("src_addr", &self.src_addr())
            .field("dst_addr", &self.dst_addr())
            .field("protocol", &self.protocol())
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// An ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8), which `ping` sends.
    EchoRequest {
        /// Identifier, to match replies with requests.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, returned in the reply.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// The request's identifier.
        ident: u16,
        /// The request's sequence number.
        seq_no: u16,
        /// The request's data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// Why.
        code: DstUnreachable,
        /// The next hop's MTU, for [`DstUnreachable::FragRequired`] (RFC 1191 §4); zero for
        /// the other codes and from routers older than RFC 1191.
        next_hop_mtu: u16,
        /// The start of the datagram that could not be delivered.
        invoking: InvokingDatagram<'a>,
    },
    /// Time exceeded (type 11).
    TimeExceeded {
        /// Which time.
        code: TimeExceeded,
        /// The start of the discarded datagram.
        invoking: InvokingDatagram<'a>,
    },
    /// Any other message, or a known type of a form this stack does not interpret, kept whole.
    Other {
        /// The type.
        msg_type: Icmpv4Message,
        /// The code.
        code: u8,
        /// The four bytes after the checksum.
        rest_of_header: [u8; 4],
        /// Everything after the header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a checked message: the checksum must be right unless `caps` says the device
    /// verified it (`Checksum`); an echo must have code 0 (`Malformed`); an error must quote an
    /// invoking datagram ([`InvokingDatagram::new`]'s errors). Other types are
    /// [`Icmpv4Repr::Other`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
        caps: &ChecksumCaps,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if caps.icmp.verify_rx && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let data = packet.data();
        Ok(match packet.msg_type() {
            Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply if packet.msg_code() != 0 => {
                return Err(Error::Malformed);
            }
            Icmpv4Message::EchoRequest => Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            Icmpv4Message::EchoReply => Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            Icmpv4Message::DstUnreachable => {
                let code = DstUnreachable::from(packet.msg_code());
                Icmpv4Repr::DstUnreachable {
                    code,
                    next_hop_mtu: packet.next_hop_mtu(),
                    invoking: InvokingDatagram::new(data)?,
                }
            }
            Icmpv4Message::TimeExceeded => Icmpv4Repr::TimeExceeded {
                code: packet.msg_code().into(),
                invoking: InvokingDatagram::new(data)?,
            },
            msg_type => Icmpv4Repr::Other {
                msg_type,
                code: packet.msg_code(),
                rest_of_header: packet.rest_of_header(),
                data,
            },
        })
    }

    /// The bytes after the 8-byte header.
    fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. }
            | Icmpv4Repr::EchoReply { data, .. }
            | Icmpv4Repr::Other { data, .. } => data,
            Icmpv4Repr::DstUnreachable { invoking, .. }
            | Icmpv4Repr::TimeExceeded { invoking, .. } => invoking.as_bytes(),
        }
    }

    /// The length of the message [`Icmpv4Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::DATA + self.data().len()
    }

    /// Writes the message and, as `caps.icmp.tx` says, its checksum over the first
    /// [`Icmpv4Repr::buffer_len`] bytes ([`TxChecksum::Partial`] computes it).
    ///
    /// # Panics
    /// If the buffer is shorter than [`Icmpv4Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
        caps: &ChecksumCaps,
    ) {
        let (msg_type, code, rest) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                (Icmpv4Message::EchoRequest, 0, echo_rest(ident, seq_no))
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                (Icmpv4Message::EchoReply, 0, echo_rest(ident, seq_no))
            }
            Icmpv4Repr::DstUnreachable {
                code, next_hop_mtu, ..
            } => {
                let [hi, lo] = next_hop_mtu.to_be_bytes();
                (Icmpv4Message::DstUnreachable, code.into(), [0, 0, hi, lo])
            }
            Icmpv4Repr::TimeExceeded { code, .. } => {
                (Icmpv4Message::TimeExceeded, code.into(), [0; 4])
            }
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header,
                ..
            } => (msg_type, code, rest_of_header),
        };
        let data = self.data();
        let len = field::DATA + data.len();
        let buffer = &mut packet.buffer.as_mut()[..len];
        let mut view = Icmpv4Packet::new_unchecked(buffer);
        view.set_msg_type(msg_type);
        view.set_msg_code(code);
        view.set_rest_of_header(rest);
        view.data_mut().copy_from_slice(data);
        match caps.icmp.tx {
            TxChecksum::Compute | TxChecksum::Partial => view.fill_checksum(),
            TxChecksum::Offloaded => view.set_checksum(0),
        }
    }
}

/// The rest of an echo header: identifier and sequence number.
fn echo_rest(ident: u16, seq_no: u16) -> [u8; 4] {
    let [a, b] = ident.to_be_bytes();
    let [c, d] = seq_no.to_be_bytes();
    [a, b, c, d]
}

impl fmt::Display for Icmpv4Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                write!(
                    f,
                    "ICMP echo request id={ident} seq={seq_no} len={}",
                    data.len()
                )
            }
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                write!(
                    f,
                    "ICMP echo reply id={ident} seq={seq_no} len={}",
                    data.len()
                )
            }
            Icmpv4Repr::DstUnreachable { code, invoking, .. } => write!(
                f,
                "ICMP destination unreachable ({code:?}) for {} > {} {}",
                invoking.src_addr(),
                invoking.dst_addr(),
                invoking.protocol()
            ),
            Icmpv4Repr::TimeExceeded { code, invoking } => write!(
                f,
                "ICMP time exceeded ({code:?}) for {} > {} {}",
                invoking.src_addr(),
                invoking.dst_addr(),
                invoking.protocol()
            ),
            Icmpv4Repr::Other {
                msg_type,
                code,
                data,
                ..
            } => {
                write!(f, "ICMP {msg_type:?} code={code} len={}", data.len())
            }
        }
    }
}
