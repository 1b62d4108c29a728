//! DHCP (RFC 2131) over the BOOTP header (RFC 951), with the options of RFC 2132 a client needs.
//!
//! ```text
//!  0      op | htype | hlen | hops          (1 byte each)
//!  4      xid                               (4)
//!  8      secs | flags                      (2, 2; flags bit 15 = BROADCAST)
//! 12      ciaddr | yiaddr | siaddr | giaddr (4 each)
//! 28      chaddr (16) | sname (64) | file (128)
//! 236     magic cookie 99.130.83.99, then options: code, length, data; 0 pads, 255 ends
//! ```
//!
//! The view checks the fixed part's length once; the value parses the options with strict
//! bounds: every option must lie inside the buffer, fixed-size options must have their size
//! (`Malformed` otherwise), the message type must be present and agree with `op`. Options
//! other than those in [`DhcpRepr`] are skipped; option overload (52) is not honoured (`sname`
//! and `file` are ignored), which RFC 2131 allows a client that does not ask for it. Only
//! Ethernet hardware addresses are accepted (`Unsupported` otherwise).

use core::fmt;

use super::ethernet::EthernetAddress;
use super::field::{set_u16, set_u32, u16_at, u32_at};
use super::ipv4::Ipv4Address;
use super::{Error, Result};

/// The server's port.
pub const DHCP_SERVER_PORT: u16 = 67;
/// The client's port.
pub const DHCP_CLIENT_PORT: u16 = 68;
/// The magic cookie that starts the options (RFC 2131 §3).
pub const DHCP_MAGIC: [u8; 4] = [99, 130, 83, 99];

mod field {
    use super::super::field::Field;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: usize = 4;
    pub const SECS: usize = 8;
    pub const FLAGS: usize = 10;
    pub const CIADDR: Field = 12..16;
    pub const YIADDR: Field = 16..20;
    pub const SIADDR: Field = 20..24;
    pub const GIADDR: Field = 24..28;
    pub const CHADDR: Field = 28..44;
    pub const MAGIC: Field = 236..240;
    pub const OPTIONS: usize = 240;
}

mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const END: u8 = 255;
}

/// The parameters a client asks for (option 55): subnet mask, router, DNS, lease, T1, T2.
pub const DEFAULT_PARAMETERS: [u8; 6] = [
    opt::SUBNET_MASK,
    opt::ROUTER,
    opt::DNS,
    opt::LEASE_TIME,
    opt::RENEWAL_TIME,
    opt::REBINDING_TIME,
];

/// The BROADCAST bit of `flags` (RFC 2131 §2).
const FLAG_BROADCAST: u16 = 0x8000;
/// BOOTP's minimum message (RFC 951, RFC 1542 §3.3): some relays drop shorter ones.
const MIN_EMIT_LEN: usize = 300;

/// Option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhcpMessageType {
    /// Client looks for servers.
    Discover,
    /// Server offers an address.
    Offer,
    /// Client asks for the offered address, or renews.
    Request,
    /// Client says the address is in use.
    Decline,
    /// Server grants the lease.
    Ack,
    /// Server refuses.
    Nak,
    /// Client gives the address back.
    Release,
    /// Client asks for parameters only.
    Inform,
}

impl DhcpMessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Discover => 1,
            Self::Offer => 2,
            Self::Request => 3,
            Self::Decline => 4,
            Self::Ack => 5,
            Self::Nak => 6,
            Self::Release => 7,
            Self::Inform => 8,
        }
    }

    /// Whether a server sends it (BOOTREPLY, `op` 2) rather than a client (BOOTREQUEST, 1).
    pub const fn is_reply(self) -> bool {
        matches!(self, Self::Offer | Self::Ack | Self::Nak)
    }
}

/// A view of a DHCP message in a buffer (the UDP payload).
#[derive(Debug, Clone)]
pub struct DhcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DhcpPacket<T> {
    /// The fixed part and the magic cookie.
    pub const MIN_LEN: usize = field::OPTIONS;

    /// Wraps a buffer without checking it: accessors panic if it is shorter than
    /// [`DhcpPacket::MIN_LEN`].
    pub const fn new_unchecked(buffer: T) -> Self {
        DhcpPacket { buffer }
    }

    /// Wraps a buffer that holds the fixed part and the magic cookie's place (`Truncated`
    /// otherwise).
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < field::OPTIONS {
            return Err(Error::Truncated);
        }
        Ok(DhcpPacket { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn addr(&self, f: super::field::Field) -> Ipv4Address {
        Ipv4Address::from_bytes(&self.b()[f]).unwrap_or_default()
    }

    /// `op`: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub fn op(&self) -> u8 {
        self.b()[field::OP]
    }
    /// The hardware type (1: Ethernet).
    pub fn hardware_type(&self) -> u8 {
        self.b()[field::HTYPE]
    }
    /// The hardware address length (6 for Ethernet).
    pub fn hardware_len(&self) -> u8 {
        self.b()[field::HLEN]
    }
    /// Relay hops.
    pub fn hops(&self) -> u8 {
        self.b()[field::HOPS]
    }
    /// The transaction id.
    pub fn transaction_id(&self) -> u32 {
        u32_at(self.b(), field::XID)
    }
    /// Seconds since the client began.
    pub fn secs(&self) -> u16 {
        u16_at(self.b(), field::SECS)
    }
    /// The flags (bit 15: broadcast).
    pub fn flags(&self) -> u16 {
        u16_at(self.b(), field::FLAGS)
    }
    /// `ciaddr`: the client's address, when it has one.
    pub fn client_ip(&self) -> Ipv4Address {
        self.addr(field::CIADDR)
    }
    /// `yiaddr`: the address offered or granted.
    pub fn your_ip(&self) -> Ipv4Address {
        self.addr(field::YIADDR)
    }
    /// `siaddr`: the next server (boot).
    pub fn server_ip(&self) -> Ipv4Address {
        self.addr(field::SIADDR)
    }
    /// `giaddr`: the relay agent.
    pub fn relay_agent_ip(&self) -> Ipv4Address {
        self.addr(field::GIADDR)
    }
    /// The first six bytes of `chaddr`.
    pub fn client_hardware_address(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.b()[field::CHADDR]).unwrap_or(EthernetAddress([0; 6]))
    }
    /// The magic cookie field.
    pub fn magic(&self) -> [u8; 4] {
        let mut m = [0; 4];
        m.copy_from_slice(&self.b()[field::MAGIC]);
        m
    }
    /// The option bytes.
    pub fn options(&self) -> &[u8] {
        &self.b()[field::OPTIONS..]
    }
}

/// The options, walked: `(code, data)`, each inside the buffer, up to End; `Truncated` for one
/// that runs past the end.
#[derive(Debug)]
pub struct DhcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> DhcpOptions<'a> {
    /// Walks `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        DhcpOptions { rest: bytes }
    }
}

impl<'a> Iterator for DhcpOptions<'a> {
    type Item = Result<(u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&code, rest) = self.rest.split_first()?;
            match code {
                opt::PAD => self.rest = rest,
                opt::END => {
                    self.rest = &[];
                    return None;
                }
                _ => {
                    let Some((&len, rest)) = rest.split_first() else {
                        self.rest = &[];
                        return Some(Err(Error::Truncated));
                    };
                    let Some(data) = rest.get(..usize::from(len)) else {
                        self.rest = &[];
                        return Some(Err(Error::Truncated));
                    };
                    self.rest = &rest[usize::from(len)..];
                    return Some(Ok((code, data)));
                }
            }
        }
    }
}

/// A DHCP message: the header fields and the options this stack reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpRepr<'a> {
    /// Option 53; it also decides `op`.
    pub message_type: DhcpMessageType,
    /// `xid`.
    pub transaction_id: u32,
    /// `secs`.
    pub secs: u16,
    /// The BROADCAST flag: the client cannot receive unicast before it has an address.
    pub broadcast: bool,
    /// `chaddr` (Ethernet).
    pub client_hardware_address: EthernetAddress,
    /// `ciaddr`.
    pub client_ip: Ipv4Address,
    /// `yiaddr`.
    pub your_ip: Ipv4Address,
    /// `siaddr`.
    pub server_ip: Ipv4Address,
    /// `giaddr`.
    pub relay_agent_ip: Ipv4Address,
    /// Option 54.
    pub server_identifier: Option<Ipv4Address>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Address>,
    /// Option 51, seconds (`u32::MAX`: infinite).
    pub lease_time: Option<u32>,
    /// Option 58 (T1), seconds.
    pub renewal_time: Option<u32>,
    /// Option 59 (T2), seconds.
    pub rebinding_time: Option<u32>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Address>,
    /// Option 3: the first router.
    pub router: Option<Ipv4Address>,
    /// Option 6: the first three DNS servers.
    pub dns_servers: [Option<Ipv4Address>; 3],
    /// Option 55.
    pub parameter_request_list: Option<&'a [u8]>,
    /// Option 57.
    pub max_message_size: Option<u16>,
}

fn addr4(data: &[u8]) -> Result<Ipv4Address> {
    if data.len() != 4 {
        return Err(Error::Malformed);
    }
    Ipv4Address::from_bytes(data).ok_or(Error::Malformed)
}

fn u32_of(data: &[u8]) -> Result<u32> {
    let a: [u8; 4] = data.try_into().map_err(|_| Error::Malformed)?;
    Ok(u32::from_be_bytes(a))
}

impl<'a> DhcpRepr<'a> {
    /// A message with every optional field empty.
    pub const fn new(
        message_type: DhcpMessageType,
        transaction_id: u32,
        client_hardware_address: EthernetAddress,
    ) -> Self {
        DhcpRepr {
            message_type,
            transaction_id,
            secs: 0,
            broadcast: false,
            client_hardware_address,
            client_ip: Ipv4Address::UNSPECIFIED,
            your_ip: Ipv4Address::UNSPECIFIED,
            server_ip: Ipv4Address::UNSPECIFIED,
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            server_identifier: None,
            requested_ip: None,
            lease_time: None,
            renewal_time: None,
            rebinding_time: None,
            subnet_mask: None,
            router: None,
            dns_servers: [None; 3],
            parameter_request_list: None,
            max_message_size: None,
        }
    }

    /// Reads a checked message: the magic cookie (`Malformed`), Ethernet addresses
    /// (`Unsupported`), the options with strict lengths, a message type (`Unsupported`
    /// without one: plain BOOTP) that agrees with `op` (`Malformed`).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &DhcpPacket<&'a T>) -> Result<Self> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        let packet = DhcpPacket::new_checked(bytes)?;
        if packet.magic() != DHCP_MAGIC {
            return Err(Error::Malformed);
        }
        if packet.hardware_type() != 1 || packet.hardware_len() != 6 {
            return Err(Error::Unsupported);
        }
        let mut message_type = None;
        let mut repr = DhcpRepr::new(
            DhcpMessageType::Discover,
            packet.transaction_id(),
            packet.client_hardware_address(),
        );
        repr.secs = packet.secs();
        repr.broadcast = packet.flags() & FLAG_BROADCAST != 0;
        repr.client_ip = packet.client_ip();
        repr.your_ip = packet.your_ip();
        repr.server_ip = packet.server_ip();
        repr.relay_agent_ip = packet.relay_agent_ip();
        for option in DhcpOptions::new(&bytes[field::OPTIONS..]) {
            let (code, data) = option?;
            match code {
                opt::MESSAGE_TYPE => {
                    let [t] = data else {
                        return Err(Error::Malformed);
                    };
                    let t = DhcpMessageType::from_u8(*t).ok_or(Error::Malformed)?;
                    message_type.get_or_insert(t);
                }
                opt::SERVER_ID => {
                    let a = addr4(data)?;
                    repr.server_identifier.get_or_insert(a);
                }
                opt::REQUESTED_IP => {
                    let a = addr4(data)?;
                    repr.requested_ip.get_or_insert(a);
                }
                opt::SUBNET_MASK => {
                    let a = addr4(data)?;
                    repr.subnet_mask.get_or_insert(a);
                }
                opt::LEASE_TIME => {
                    let v = u32_of(data)?;
                    repr.lease_time.get_or_insert(v);
                }
                opt::RENEWAL_TIME => {
                    let v = u32_of(data)?;
                    repr.renewal_time.get_or_insert(v);
                }
                opt::REBINDING_TIME => {
                    let v = u32_of(data)?;
                    repr.rebinding_time.get_or_insert(v);
                }
                opt::ROUTER => {
                    if data.is_empty() || data.len() % 4 != 0 {
                        return Err(Error::Malformed);
                    }
                    let a = addr4(&data[..4])?;
                    repr.router.get_or_insert(a);
                }
                opt::DNS => {
                    if data.is_empty() || data.len() % 4 != 0 {
                        return Err(Error::Malformed);
                    }
                    if repr.dns_servers[0].is_none() {
                        for (slot, a) in repr.dns_servers.iter_mut().zip(data.chunks_exact(4)) {
                            *slot = Some(addr4(a)?);
                        }
                    }
                }
                opt::PARAMETER_REQUEST_LIST => {
                    if data.is_empty() {
                        return Err(Error::Malformed);
                    }
                    repr.parameter_request_list.get_or_insert(data);
                }
                opt::MAX_MESSAGE_SIZE => {
                    let [a, b] = data else {
                        return Err(Error::Malformed);
                    };
                    let v = u16::from_be_bytes([*a, *b]);
                    if v < 576 {
                        return Err(Error::Malformed);
                    }
                    repr.max_message_size.get_or_insert(v);
                }
                _ => {}
            }
        }
        repr.message_type = message_type.ok_or(Error::Unsupported)?;
        let op = if repr.message_type.is_reply() { 2 } else { 1 };
        if packet.op() != op {
            return Err(Error::Malformed);
        }
        Ok(repr)
    }

    fn options_len(&self) -> usize {
        let addr = |a: Option<Ipv4Address>| if a.is_some() { 6 } else { 0 };
        let word = |v: Option<u32>| if v.is_some() { 6 } else { 0 };
        let dns = self.dns_servers.iter().take_while(|d| d.is_some()).count();
        3 + addr(self.server_identifier)
            + addr(self.requested_ip)
            + word(self.lease_time)
            + word(self.renewal_time)
            + word(self.rebinding_time)
            + addr(self.subnet_mask)
            + addr(self.router)
            + if dns > 0 { 2 + 4 * dns } else { 0 }
            + self
                .parameter_request_list
                .map_or(0, |l| 2 + l.len().min(255))
            + if self.max_message_size.is_some() {
                4
            } else {
                0
            }
            + 1
    }

    /// The length [`DhcpRepr::emit`] writes: the options, padded to BOOTP's 300 bytes.
    pub fn buffer_len(&self) -> usize {
        (field::OPTIONS + self.options_len()).max(MIN_EMIT_LEN)
    }

    /// Writes the message into a zeroed or any buffer of at least [`DhcpRepr::buffer_len`]
    /// bytes (panics if shorter). The DNS servers are written up to the first `None`; a
    /// parameter request list is cut at 255 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut DhcpPacket<T>) {
        let len = self.buffer_len();
        let b = &mut packet.buffer.as_mut()[..len];
        b.fill(0);
        b[field::OP] = if self.message_type.is_reply() { 2 } else { 1 };
        b[field::HTYPE] = 1;
        b[field::HLEN] = 6;
        set_u32(b, field::XID, self.transaction_id);
        set_u16(b, field::SECS, self.secs);
        set_u16(
            b,
            field::FLAGS,
            if self.broadcast { FLAG_BROADCAST } else { 0 },
        );
        b[field::CIADDR].copy_from_slice(&self.client_ip.octets());
        b[field::YIADDR].copy_from_slice(&self.your_ip.octets());
        b[field::SIADDR].copy_from_slice(&self.server_ip.octets());
        b[field::GIADDR].copy_from_slice(&self.relay_agent_ip.octets());
        b[field::CHADDR.start..field::CHADDR.start + 6]
            .copy_from_slice(&self.client_hardware_address.octets());
        b[field::MAGIC].copy_from_slice(&DHCP_MAGIC);
        let mut at = field::OPTIONS;
        let mut put = |code: u8, data: &[u8]| {
            b[at] = code;
            b[at + 1] = data.len() as u8;
            b[at + 2..at + 2 + data.len()].copy_from_slice(data);
            at += 2 + data.len();
        };
        put(opt::MESSAGE_TYPE, &[self.message_type.to_u8()]);
        let addrs = [
            (opt::REQUESTED_IP, self.requested_ip),
            (opt::SERVER_ID, self.server_identifier),
        ];
        for (code, a) in addrs {
            if let Some(a) = a {
                put(code, &a.octets());
            }
        }
        let words = [
            (opt::LEASE_TIME, self.lease_time),
            (opt::RENEWAL_TIME, self.renewal_time),
            (opt::REBINDING_TIME, self.rebinding_time),
        ];
        for (code, v) in words {
            if let Some(v) = v {
                put(code, &v.to_be_bytes());
            }
        }
        for (code, a) in [
            (opt::SUBNET_MASK, self.subnet_mask),
            (opt::ROUTER, self.router),
        ] {
            if let Some(a) = a {
                put(code, &a.octets());
            }
        }
        let mut dns = [0u8; 12];
        let mut n = 0;
        for a in self.dns_servers.iter().map_while(|d| *d) {
            dns[n..n + 4].copy_from_slice(&a.octets());
            n += 4;
        }
        if n > 0 {
            put(opt::DNS, &dns[..n]);
        }
        if let Some(list) = self.parameter_request_list {
            put(opt::PARAMETER_REQUEST_LIST, &list[..list.len().min(255)]);
        }
        if let Some(v) = self.max_message_size {
            put(opt::MAX_MESSAGE_SIZE, &v.to_be_bytes());
        }
        b[at] = opt::END;
    }
}

impl fmt::Display for DhcpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DHCP {:?} xid={:#010x} chaddr={}",
            self.message_type, self.transaction_id, self.client_hardware_address
        )?;
        if !self.your_ip.is_unspecified() {
            write!(f, " yiaddr={}", self.your_ip)?;
        }
        if let Some(s) = self.server_identifier {
            write!(f, " server={s}")?;
        }
        if let Some(l) = self.lease_time {
            write!(f, " lease={l}s")?;
        }
        Ok(())
    }
}
