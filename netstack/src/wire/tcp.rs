//! TCP segments (RFC 9293 §3.1): the header, its flags and options, the checksum over the IPv4
//! pseudo-header, the payload.
//!
//! [`TcpRepr`] carries the options this stack negotiates: MSS (RFC 9293 §3.7.1, RFC 6691),
//! window scale and timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018). It emits
//! them in the layout Linux uses, every option 4-byte aligned with NOPs, so that the options
//! area needs no trailing padding:
//!
//! ```text
//! MSS:                      02 04 mm mm
//! SACK-permitted + TS:      04 02 08 0a <tsval> <tsecr>
//! TS alone:                 01 01 08 0a <tsval> <tsecr>
//! SACK-permitted alone:     01 01 04 02
//! window scale:             01 03 03 ss
//! SACK blocks:              01 01 05 len <left right>...
//! ```

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not};

use super::checksum::{self, ChecksumCaps, TxChecksum};
use super::field::{set_u16, set_u32, u16_at, u32_at};
use super::ipv4::{IpProtocol, Ipv4Address};
use super::seq::SeqNumber;
use super::tcp_options::{MAX_SACK_BLOCKS, TcpOption, TcpOptions};
use super::{Error, Result};

/// The control bits of a TCP header (RFC 9293 §3.1; ECE and CWR from RFC 3168; AE from
/// RFC 9768, formerly RFC 3540's NS).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u16);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// The acknowledgment number is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// Accurate ECN (RFC 9768).
    pub const AE: TcpFlags = TcpFlags(0x100);

    /// All nine flag bits.
    const ALL: u16 = 0x1ff;

    /// No flag.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// The flags in the low nine bits of `bits` (the header's bytes 12 and 13, data offset and
    /// reserved bits masked off).
    pub const fn from_bits_truncate(bits: u16) -> TcpFlags {
        TcpFlags(bits & Self::ALL)
    }

    /// The flags as the header's low nine bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0 & Self::ALL)
    }
}

/// Names in tcpdump's order and letters: `S`, `F`, `R`, `P`, `.` (ACK), `U`, `E`, `W`, `A`.
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, char); 9] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
            (TcpFlags::AE, 'A'),
        ];
        f.write_str("[")?;
        for (flag, letter) in NAMES {
            if self.contains(flag) {
                fmt::Write::write_char(f, letter)?;
            }
        }
        f.write_str("]")
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ_NUM: usize = 4;
    pub const ACK_NUM: usize = 8;
    /// Data offset (4 bits), reserved (3 bits) and AE; then the other eight flags.
    pub const FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    /// The end of the fixed header, where options begin.
    pub const OPTIONS: usize = 20;
}

/// The most option bytes a header can carry: a data offset of 15 words, less the fixed header.
pub const MAX_OPTIONS_LEN: usize = 40;

/// A view of a TCP segment in a buffer. The buffer must be exactly the segment (the IP payload):
/// TCP has no length field, so the payload runs to the buffer's end and the checksum covers it.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// The length of a header without options.
    pub const MIN_HEADER_LEN: usize = field::OPTIONS;

    /// Wraps a buffer without checking it: accessors panic if it is shorter than the header.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer holding a whole header, as [`TcpPacket::check_len`] validates.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the lengths: the buffer holds the fixed header (`Truncated`), the data offset
    /// covers it (`Malformed`) and lies within the buffer (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPTIONS {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < field::OPTIONS {
            return Err(Error::Malformed);
        }
        if len < header_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The sequence number.
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(u32_at(self.buffer.as_ref(), field::SEQ_NUM))
    }

    /// The acknowledgment number field (significant only with ACK).
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(u32_at(self.buffer.as_ref(), field::ACK_NUM))
    }

    /// The header length in bytes (the data offset times four).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS] >> 4) * 4
    }

    /// The control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits_truncate(u16_at(self.buffer.as_ref(), field::FLAGS))
    }

    /// The FIN flag.
    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    /// The SYN flag.
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    /// The RST flag.
    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    /// The PSH flag.
    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }

    /// The ACK flag.
    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    /// The URG flag.
    pub fn urg(&self) -> bool {
        self.flags().contains(TcpFlags::URG)
    }

    /// The ECE flag.
    pub fn ece(&self) -> bool {
        self.flags().contains(TcpFlags::ECE)
    }

    /// The CWR flag.
    pub fn cwr(&self) -> bool {
        self.flags().contains(TcpFlags::CWR)
    }

    /// The window field, unscaled.
    pub fn window_len(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::WINDOW)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The urgent pointer (significant only with URG).
    pub fn urgent_at(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::URGENT)
    }

    /// The sequence space the segment occupies: payload, plus one for SYN, plus one for FIN
    /// (RFC 9293 §3.4, `SEG.LEN`).
    pub fn segment_len(&self) -> usize {
        let payload_len = self
            .buffer
            .as_ref()
            .len()
            .saturating_sub(usize::from(self.header_len()));
        payload_len + usize::from(self.syn()) + usize::from(self.fin())
    }

    /// Whether the checksum is right for these IPv4 addresses (RFC 9293 §3.1).
    pub fn verify_checksum(&self, src_addr: Ipv4Address, dst_addr: Ipv4Address) -> bool {
        let data = self.buffer.as_ref();
        // A segment longer than 65535 bytes cannot have come in an IPv4 packet.
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        checksum::combine(&[
            checksum::ipv4_pseudo_header(src_addr, dst_addr, IpProtocol::Tcp, len),
            checksum::sum(data),
        ]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The option bytes, between the fixed header and the data offset.
    pub fn options(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::OPTIONS..usize::from(self.header_len())]
    }

    /// The options, one by one.
    pub fn options_iter(&self) -> TcpOptions<'a> {
        TcpOptions::new(self.options())
    }

    /// The payload: after the data offset, to the end of the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[usize::from(self.header_len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: SeqNumber) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM, value.0);
    }

    /// Sets the acknowledgment number field.
    pub fn set_ack_number(&mut self, value: SeqNumber) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM, value.0);
    }

    /// Sets the header length (in bytes, a multiple of 4 from 20 to 60), keeping the flags.
    pub fn set_header_len(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        *b = ((value / 4) << 4) | (*b & 0x0f);
    }

    /// Sets the control bits, keeping the header length and clearing the reserved bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let data = self.buffer.as_mut();
        let offset = u16::from(data[field::FLAGS] & 0xf0) << 8;
        set_u16(data, field::FLAGS, offset | flags.bits());
    }

    /// Sets the window field.
    pub fn set_window_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::WINDOW, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// The option bytes, to fill (the header length must be set first).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// The payload, to fill (the header length must be set first).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes and writes the checksum over the pseudo-header and the whole buffer.
    ///
    /// # Panics
    /// If the buffer is longer than 65535 bytes.
    pub fn fill_checksum(&mut self, src_addr: Ipv4Address, dst_addr: Ipv4Address) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = u16::try_from(data.len()).expect("TCP segment longer than 65535 bytes");
        let sum = checksum::combine(&[
            checksum::ipv4_pseudo_header(src_addr, dst_addr, IpProtocol::Tcp, len),
            checksum::sum(data),
        ]);
        self.set_checksum(!sum);
    }
}

/// A TCP segment with the options this stack uses.
///
/// `flags` never holds ACK: `ack_number` is `Some` exactly when the ACK bit is set. Options are
/// read from any segment; which of them count (MSS, window scale and SACK-permitted only in a
/// SYN) is the state machine's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr<'a> {
    /// Source port, never zero.
    pub src_port: u16,
    /// Destination port, never zero.
    pub dst_port: u16,
    /// Sequence number of the first byte (of the SYN, if set).
    pub seq_number: SeqNumber,
    /// The next sequence number the sender expects, with the ACK flag.
    pub ack_number: Option<SeqNumber>,
    /// The control bits other than ACK.
    pub flags: TcpFlags,
    /// The window field, unscaled.
    pub window_len: u16,
    /// The urgent pointer, significant with URG (RFC 9293 §3.8.5).
    pub urgent_at: u16,
    /// The MSS option.
    pub max_seg_size: Option<u16>,
    /// The window scale option's shift count, at most 14 (RFC 7323 §2.3: larger values are
    /// taken as 14).
    pub window_scale: Option<u8>,
    /// The SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks, from the start of the array; on parse, the first three of the option's
    /// (RFC 2018 §4: the first is the most recent), as three is all that fit beside a timestamp.
    pub sack_ranges: [Option<(SeqNumber, SeqNumber)>; 3],
    /// The timestamps option: `(TSval, TSecr)` (RFC 7323 §3).
    pub timestamp: Option<(u32, u32)>,
    /// The data, borrowed from the received buffer.
    pub payload: &'a [u8],
}

/// RFC 7323 §2.3: the largest window scale shift.
const MAX_WINDOW_SCALE: u8 = 14;

impl<'a> TcpRepr<'a> {
    /// Reads a checked segment that came from `src_addr` to `dst_addr` (the packet's buffer is
    /// exactly the segment). Ports must not be zero (`Malformed`); the checksum must be right
    /// unless `caps` says the device verified it (`Checksum`); every option must be well formed
    /// (`Malformed`: a segment whose options cannot be read is dropped rather than half
    /// understood). Unknown options are skipped.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src_addr: Ipv4Address,
        dst_addr: Ipv4Address,
        caps: &ChecksumCaps,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if caps.tcp.verify_rx && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::Checksum);
        }
        let mut flags = packet.flags();
        flags.remove(TcpFlags::ACK);
        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack().then(|| packet.ack_number()),
            flags,
            window_len: packet.window_len(),
            urgent_at: packet.urgent_at(),
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: packet.payload(),
        };
        for option in packet.options_iter() {
            match option? {
                TcpOption::MaxSegmentSize(mss) => repr.max_seg_size = Some(mss),
                TcpOption::WindowScale(shift) => {
                    repr.window_scale = Some(shift.min(MAX_WINDOW_SCALE))
                }
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(blocks) => {
                    repr.sack_ranges.copy_from_slice(&blocks[..3]);
                }
                TcpOption::Timestamps { tsval, tsecr } => repr.timestamp = Some((tsval, tsecr)),
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(repr)
    }

    /// The sequence space the segment occupies: payload, plus one for SYN, plus one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// The SACK blocks that fit beside the other options in 40 bytes.
    pub(crate) fn sack_blocks_to_emit(&self) -> usize {
        let blocks = self.sack_ranges.iter().flatten().count();
        if blocks == 0 {
            return 0;
        }
        // NOP NOP kind length, then 8 bytes a block.
        let room = MAX_OPTIONS_LEN - self.options_len_without_sack();
        blocks.min(room.saturating_sub(4) / 8)
    }

    /// The option bytes for everything but SACK blocks, in the layout of the module docs.
    fn options_len_without_sack(&self) -> usize {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4;
        }
        len += match (self.sack_permitted, self.timestamp.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// The length of the options area emitted: a multiple of 4, at most 40. SACK blocks that do
    /// not fit are left out, the oldest first.
    pub fn options_len(&self) -> usize {
        let blocks = self.sack_blocks_to_emit();
        let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        (self.options_len_without_sack() + sack).next_multiple_of(4)
    }

    /// The length of the header emitted.
    pub fn header_len(&self) -> usize {
        field::OPTIONS + self.options_len()
    }

    /// The length of the segment [`TcpRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the options in the layout of the module docs into `buffer`, which is
    /// [`TcpRepr::options_len`] long.
    fn emit_options(&self, buffer: &mut [u8]) {
        let mut at = 0;
        let mut put =
            |option: TcpOption<'_>, at: &mut usize| *at += option.emit(&mut buffer[*at..]);
        if let Some(mss) = self.max_seg_size {
            put(TcpOption::MaxSegmentSize(mss), &mut at);
        }
        match (self.sack_permitted, self.timestamp) {
            (sack_permitted, Some((tsval, tsecr))) => {
                if sack_permitted {
                    put(TcpOption::SackPermitted, &mut at);
                } else {
                    put(TcpOption::NoOperation, &mut at);
                    put(TcpOption::NoOperation, &mut at);
                }
                put(TcpOption::Timestamps { tsval, tsecr }, &mut at);
            }
            (true, None) => {
                put(TcpOption::NoOperation, &mut at);
                put(TcpOption::NoOperation, &mut at);
                put(TcpOption::SackPermitted, &mut at);
            }
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            put(TcpOption::NoOperation, &mut at);
            put(TcpOption::WindowScale(shift), &mut at);
        }
        let blocks = self.sack_blocks_to_emit();
        if blocks > 0 {
            let mut ranges = [None; MAX_SACK_BLOCKS];
            for (slot, range) in ranges
                .iter_mut()
                .zip(self.sack_ranges.iter().flatten().take(blocks))
            {
                *slot = Some(*range);
            }
            put(TcpOption::NoOperation, &mut at);
            put(TcpOption::NoOperation, &mut at);
            put(TcpOption::SackRange(ranges), &mut at);
        }
        // Pad to the 32-bit boundary with End of Option List (RFC 9293 §3.1); the layout above is
        // aligned already, so this only guards against its changes.
        buffer[at..].fill(0);
    }

    /// Writes the segment, options and payload included, and the checksum as `caps.tcp.tx` says.
    /// The ACK flag is set iff `ack_number` is `Some`; the ACK field is zero otherwise.
    ///
    /// # Panics
    /// If the buffer is shorter than [`TcpRepr::buffer_len`], or that is over 65535 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src_addr: Ipv4Address,
        dst_addr: Ipv4Address,
        caps: &ChecksumCaps,
    ) {
        let len = self.buffer_len();
        let seg_len = u16::try_from(len).expect("TCP segment longer than 65535 bytes");
        let mut view = TcpPacket::new_unchecked(&mut packet.buffer.as_mut()[..len]);
        let mut flags = self.flags;
        flags.remove(TcpFlags::ACK);
        if self.ack_number.is_some() {
            flags.insert(TcpFlags::ACK);
        }
        view.set_src_port(self.src_port);
        view.set_dst_port(self.dst_port);
        view.set_seq_number(self.seq_number);
        view.set_ack_number(self.ack_number.unwrap_or_default());
        view.set_header_len(self.header_len() as u8);
        view.set_flags(flags);
        view.set_window_len(self.window_len);
        view.set_urgent_at(self.urgent_at);
        self.emit_options(view.options_mut());
        view.payload_mut().copy_from_slice(self.payload);
        match caps.tcp.tx {
            TxChecksum::Compute => view.fill_checksum(src_addr, dst_addr),
            TxChecksum::Partial => view.set_checksum(checksum::ipv4_pseudo_header(
                src_addr,
                dst_addr,
                IpProtocol::Tcp,
                seg_len,
            )),
            TxChecksum::Offloaded => view.set_checksum(0),
        }
    }
}

impl fmt::Display for TcpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut flags = self.flags;
        if self.ack_number.is_some() {
            flags.insert(TcpFlags::ACK);
        }
        write!(
            f,
            "TCP {} > {} {flags} seq={}",
            self.src_port, self.dst_port, self.seq_number
        )?;
        if let Some(ack) = self.ack_number {
            write!(f, " ack={ack}")?;
        }
        write!(f, " win={} len={}", self.window_len, self.payload.len())?;
        if let Some(mss) = self.max_seg_size {
            write!(f, " mss={mss}")?;
        }
        if let Some(shift) = self.window_scale {
            write!(f, " wscale={shift}")?;
        }
        if self.sack_permitted {
            f.write_str(" sackOK")?;
        }
        for (left, right) in self.sack_ranges.iter().flatten() {
            write!(f, " sack={left}:{right}")?;
        }
        if let Some((tsval, tsecr)) = self.timestamp {
            write!(f, " ts={tsval}/{tsecr}")?;
        }
        Ok(())
    }
}
