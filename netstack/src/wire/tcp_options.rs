//! TCP options (RFC 9293 §3.1, §3.2): end of list, no-operation, maximum segment size (RFC 9293
//! §3.7.1, RFC 6691), window scale and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018).
//!
//! [`TcpOptions`] walks the option bytes of a header and yields each option or an error; it
//! never reads past its slice and never panics. A length below 2 or past the end of the options
//! ends the walk with `Err(Malformed)`, since nothing after it can be located; a known option of
//! the wrong length yields `Err(Malformed)` and the walk goes on after it.

use core::fmt;
use core::iter::FusedIterator;

use super::field::{u16_at, u32_at};
use super::seq::SeqNumber;
use super::{Error, Result};

/// Option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// The most SACK blocks one option can hold: `2 + 8 * 4 = 34` of the 40 option bytes
/// (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// Kind 0: the end of the option list; what follows is padding.
    EndOfList,
    /// Kind 1: padding between options.
    NoOperation,
    /// Kind 2, length 4: the largest segment the sender will receive (RFC 9293 §3.7.1); only in
    /// a SYN. RFC 6691: it counts neither IP nor TCP options.
    MaxSegmentSize(u16),
    /// Kind 3, length 3: the shift count the sender will apply to its windows (RFC 7323 §2);
    /// only in a SYN.
    WindowScale(u8),
    /// Kind 4, length 2: the sender can receive SACK options (RFC 2018 §2); only in a SYN.
    SackPermitted,
    /// Kind 5, length `2 + 8n`: up to four blocks of received, not yet acknowledged, data, each
    /// as its left edge and the sequence number after its right edge (RFC 2018 §3). The blocks
    /// fill the array from its start.
    SackRange([Option<(SeqNumber, SeqNumber)>; MAX_SACK_BLOCKS]),
    /// Kind 8, length 10: the sender's clock and the echo of the peer's (RFC 7323 §3).
    Timestamps {
        /// TSval.
        tsval: u32,
        /// TSecr.
        tsecr: u32,
    },
    /// Any other option of a well-formed length, kept as it was.
    Unknown {
        /// The kind.
        kind: u8,
        /// The bytes after the kind and length.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Interprets the data (after kind and length) of an option of kind `kind`.
    fn from_kind(kind: u8, data: &'a [u8]) -> Result<TcpOption<'a>> {
        Ok(match (kind, data.len()) {
            (kind::MSS, 2) => TcpOption::MaxSegmentSize(u16_at(data, 0)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::SACK, n) if n % 8 == 0 && (1..=MAX_SACK_BLOCKS).contains(&(n / 8)) => {
                let mut blocks = [None; MAX_SACK_BLOCKS];
                for (slot, block) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((SeqNumber(u32_at(block, 0)), SeqNumber(u32_at(block, 4))));
                }
                TcpOption::SackRange(blocks)
            }
            (kind::TIMESTAMPS, 8) => TcpOption::Timestamps {
                tsval: u32_at(data, 0),
                tsecr: u32_at(data, 4),
            },
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMPS,
                _,
            ) => {
                return Err(Error::Malformed);
            }
            (kind, _) => TcpOption::Unknown { kind, data },
        })
    }

    /// The number of bytes [`TcpOption::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(blocks) => 2 + 8 * blocks.iter().flatten().count(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buffer` and returns its length. A SACK option writes
    /// the blocks that are `Some`, in order.
    ///
    /// # Panics
    /// If `buffer` is shorter than [`TcpOption::buffer_len`], or an unknown option's data is
    /// longer than 253 bytes.
    pub fn emit(&self, buffer: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let buffer = &mut buffer[..len];
        match *self {
            TcpOption::EndOfList => buffer[0] = kind::END,
            TcpOption::NoOperation => buffer[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                buffer[..2].copy_from_slice(&[kind::MSS, 4]);
                buffer[2..].copy_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => {
                buffer.copy_from_slice(&[kind::WINDOW_SCALE, 3, shift])
            }
            TcpOption::SackPermitted => buffer.copy_from_slice(&[kind::SACK_PERMITTED, 2]),
            TcpOption::SackRange(blocks) => {
                buffer[..2].copy_from_slice(&[kind::SACK, len as u8]);
                for ((left, right), out) in
                    blocks.iter().flatten().zip(buffer[2..].chunks_exact_mut(8))
                {
                    out[..4].copy_from_slice(&left.0.to_be_bytes());
                    out[4..].copy_from_slice(&right.0.to_be_bytes());
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                buffer[..2].copy_from_slice(&[kind::TIMESTAMPS, 10]);
                buffer[2..6].copy_from_slice(&tsval.to_be_bytes());
                buffer[6..].copy_from_slice(&tsecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                let option_len = u8::try_from(len).expect("TCP option longer than 255 bytes");
                buffer[..2].copy_from_slice(&[kind, option_len]);
                buffer[2..].copy_from_slice(data);
            }
        }
        len
    }
}

impl fmt::Display for TcpOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::EndOfList => f.write_str("eol"),
            TcpOption::NoOperation => f.write_str("nop"),
            TcpOption::MaxSegmentSize(mss) => write!(f, "mss {mss}"),
            TcpOption::WindowScale(shift) => write!(f, "wscale {shift}"),
            TcpOption::SackPermitted => f.write_str("sackOK"),
            TcpOption::SackRange(blocks) => {
                f.write_str("sack")?;
                for (left, right) in blocks.iter().flatten() {
                    write!(f, " {left}:{right}")?;
                }
                Ok(())
            }
            TcpOption::Timestamps { tsval, tsecr } => write!(f, "TS val {tsval} ecr {tsecr}"),
            TcpOption::Unknown { kind, data } => write!(f, "option {kind} len {}", data.len() + 2),
        }
    }
}

/// An iterator over the options in a TCP header's option bytes.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Walks `options`, the bytes between the fixed header and the data offset.
    pub const fn new(options: &'a [u8]) -> Self {
        TcpOptions { rest: options }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after_kind) = self.rest.split_first()?;
        match kind {
            kind::END => {
                // The rest is padding (RFC 9293 §3.1: "End of Option List").
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            kind::NOP => {
                self.rest = after_kind;
                Some(Ok(TcpOption::NoOperation))
            }
            _ => {
                let len = after_kind.first().map(|&l| usize::from(l));
                match len {
                    Some(len) if len >= 2 && len <= self.rest.len() => {
                        let (option, rest) = self.rest.split_at(len);
                        self.rest = rest;
                        Some(TcpOption::from_kind(kind, &option[2..]))
                    }
                    // No length byte, a length that cannot cover kind and length, or one past the
                    // end: the next option cannot be found, so the walk ends here.
                    _ => {
                        self.rest = &[];
                        Some(Err(Error::Malformed))
                    }
                }
            }
        }
    }
}

impl FusedIterator for TcpOptions<'_> {}
