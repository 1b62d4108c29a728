//! The chunked transfer coding (RFC 9112 §7.1): a resumable decoder that takes bytes as they
//! arrive and hands back the data spans in place, and the encoder's framing.
//!
//! The decoder is strict where ambiguity could let two parsers disagree: the chunk size is
//! 1*HEXDIG and must fit in 64 bits; chunk extensions are skipped but bounded (the whole size
//! line is at most [`Limits::max_chunk_line`] bytes) and may hold no control characters; every
//! line ends in CRLF (no bare LF, as in the head); the data must be followed by CRLF exactly;
//! trailer fields are bounded ([`Limits::max_trailer_bytes`]) and discarded.

use core::fmt;
use core::ops::Range;

use crate::parse::Limits;
use crate::status::StatusCode;

/// Why a chunked body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// Bad framing: 400.
    Malformed(&'static str),
    /// The body is over [`Limits::max_body`]: 413.
    TooLarge,
    /// The trailer section is over [`Limits::max_trailer_bytes`]: 431.
    TrailersTooLarge,
}

impl ChunkError {
    /// The status to answer with.
    pub fn status(self) -> StatusCode {
        match self {
            ChunkError::Malformed(_) => StatusCode::BAD_REQUEST,
            ChunkError::TooLarge => StatusCode::CONTENT_TOO_LARGE,
            ChunkError::TrailersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::Malformed(why) => write!(f, "malformed chunked body: {why}"),
            ChunkError::TooLarge => f.write_str("chunked body over the limit"),
            ChunkError::TrailersTooLarge => f.write_str("trailer section over the limit"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In the chunk-size digits (`digits` so far).
    Size { digits: bool },
    /// In the chunk extensions, after the size.
    Ext,
    /// After the CR that ends the size line.
    SizeLf,
    /// In the chunk data.
    Data,
    /// After the data, expecting CR.
    DataCr,
    /// After the data's CR, expecting LF.
    DataLf,
    /// In a trailer line (`empty` while nothing is on it).
    Trailer { empty: bool },
    /// After a trailer line's CR.
    TrailerLf { empty: bool },
    /// The last chunk and the trailer section have been read.
    Done,
}

/// Decodes a chunked body incrementally. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read, then the data bytes left in the chunk.
    remaining: u64,
    line_len: usize,
    total: u64,
    trailer_bytes: usize,
    max_body: u64,
    max_line: usize,
    max_trailer: usize,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body, bounded by `limits`.
    pub fn new(limits: &Limits) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size { digits: false },
            remaining: 0,
            line_len: 0,
            total: 0,
            trailer_bytes: 0,
            max_body: limits.max_body,
            max_line: limits.max_chunk_line,
            max_trailer: limits.max_trailer_bytes,
        }
    }

    /// Whether the whole body (last chunk and trailers) has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Data bytes decoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn line_byte(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > self.max_line {
            return Err(ChunkError::Malformed("chunk line too long"));
        }
        Ok(())
    }

    /// Consumes framing from `input` until it reaches data, the end of the body, or the end of
    /// `input`. Returns how many bytes were consumed and, when it reached data, the span of
    /// `input` that is body data (included in the count). Call again with the rest.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Range<usize>>), ChunkError> {
        let mut pos = 0;
        while pos < input.len() {
            let b = input[pos];
            match self.state {
                State::Size { digits } => {
                    if let Some(d) = (b as char).to_digit(16) {
                        self.remaining = self
                            .remaining
                            .checked_mul(16)
                            .map(|r| r + u64::from(d))
                            .ok_or(ChunkError::Malformed("chunk size overflows"))?;
                        self.state = State::Size { digits: true };
                        self.line_byte()?;
                    } else if !digits {
                        return Err(ChunkError::Malformed("chunk size expected"));
                    } else if matches!(b, b';' | b' ' | b'\t') {
                        self.state = State::Ext;
                        self.line_byte()?;
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else {
                        return Err(ChunkError::Malformed("bad character after chunk size"));
                    }
                }
                State::Ext => match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\t' | b' '..=b'~' | 0x80.. => self.line_byte()?,
                    _ => return Err(ChunkError::Malformed("control character in chunk line")),
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("CR without LF in chunk line"));
                    }
                    self.line_len = 0;
                    if self.remaining == 0 {
                        self.state = State::Trailer { empty: true };
                    } else {
                        self.total = self
                            .total
                            .checked_add(self.remaining)
                            .filter(|&t| t <= self.max_body)
                            .ok_or(ChunkError::TooLarge)?;
                        self.state = State::Data;
                    }
                }
                State::Data => {
                    let avail = (input.len() - pos) as u64;
                    let n = self.remaining.min(avail) as usize;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok((pos + n, Some(pos..pos + n)));
                }
                State::DataCr if b == b'\r' => self.state = State::DataLf,
                State::DataLf if b == b'\n' => self.state = State::Size { digits: false },
                State::DataCr | State::DataLf => {
                    return Err(ChunkError::Malformed("chunk data not followed by CRLF"));
                }
                State::Trailer { empty } => match b {
                    b'\r' => self.state = State::TrailerLf { empty },
                    b'\t' | b' '..=b'~' | 0x80.. => {
                        self.state = State::Trailer { empty: false };
                        self.trailer_bytes += 1;
                        if self.trailer_bytes > self.max_trailer {
                            return Err(ChunkError::TrailersTooLarge);
                        }
                    }
                    _ => return Err(ChunkError::Malformed("control character in trailer")),
                },
                State::TrailerLf { empty } => {
                    if b != b'\n' {
                        return Err(ChunkError::Malformed("CR without LF in trailer"));
                    }
                    if empty {
                        self.state = State::Done;
                        return Ok((pos + 1, None));
                    }
                    self.state = State::Trailer { empty: true };
                }
                State::Done => return Ok((pos, None)),
            }
            pos += 1;
        }
        Ok((pos, None))
    }
}

/// The last chunk and an empty trailer section: the end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes the size line of a chunk of `len` bytes (`len` in hex, then CRLF) into `out`; returns
/// its length.
pub fn chunk_header(len: usize, out: &mut [u8; 20]) -> usize {
    let digits = if len == 0 {
        1
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(4) as usize
    };
    for (i, o) in out[..digits].iter_mut().enumerate() {
        let nibble = (len >> (4 * (digits - 1 - i))) & 0xf;
        *o = b"0123456789abcdef"[nibble];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Decodes `input` fed in pieces of `step` bytes; returns the data and the bytes consumed.
    fn decode(input: &[u8], step: usize, limits: &Limits) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new(limits);
        let mut out = Vec::new();
        let mut fed = 0;
        let mut consumed = 0;
        while !d.is_done() {
            if consumed == fed {
                if fed == input.len() {
                    return Err(ChunkError::Malformed("truncated"));
                }
                fed = (fed + step).min(input.len());
            }
            let (n, data) = d.decode(&input[consumed..fed])?;
            if let Some(r) = data {
                out.extend_from_slice(&input[consumed..fed][r]);
            }
            consumed += n;
        }
        Ok((out, consumed))
    }

    #[test]
    fn decodes_in_any_pieces() {
        let body = b"5\r\nhello\r\n7;name=val;x\r\n, world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..body.len() {
            assert_eq!(
                decode(body, step, &Limits::default()),
                Ok((b"hello, world".to_vec(), body.len() - 4)),
                "step {step}"
            );
        }
        assert_eq!(
            decode(
                b"A \t; e\r\n0123456789\r\n00\r\n\r\n",
                3,
                &Limits::default()
            )
            .map(|r| r.0),
            Ok(b"0123456789".to_vec())
        );
    }

    #[test]
    fn refuses_bad_framing() {
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b"-1\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5 x\x01\r\nhello\r\n0\r\n\r\n",
            b"0\r\nX: a\nb\r\n\r\n",
            b"0\r\nX: \x00\r\n\r\n",
            b"10000000000000000\r\n",
            b"5\rhello",
            b";ext\r\n",
        ] {
            assert!(
                matches!(
                    decode(bad, 4, &Limits::default()),
                    Err(ChunkError::Malformed(_))
                ),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
        // Sixteen hex digits fit (and are then over the body limit).
        assert_eq!(
            decode(b"ffffffffffffffff\r\n", 4, &Limits::default()),
            Err(ChunkError::TooLarge)
        );
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits {
            max_body: 8,
            max_chunk_line: 8,
            max_trailer_bytes: 8,
            ..Limits::default()
        };
        assert!(decode(b"4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", 5, &limits).is_ok());
        assert_eq!(
            decode(b"4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n", 5, &limits),
            Err(ChunkError::TooLarge)
        );
        assert!(decode(b"1;abcde\r\na\r\n0\r\n\r\n", 5, &limits).is_ok());
        assert!(matches!(
            decode(b"1;abcdefg\r\na\r\n0\r\n\r\n", 5, &limits),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            decode(b"000000001\r\na\r\n0\r\n\r\n", 5, &limits),
            Err(ChunkError::Malformed(_))
        ));
        assert!(decode(b"0\r\nA: 1\r\nB: 2\r\n\r\n", 5, &limits).is_ok());
        assert_eq!(
            decode(b"0\r\nA: 1\r\nB: 23\r\n\r\n", 5, &limits),
            Err(ChunkError::TrailersTooLarge)
        );
    }

    #[test]
    fn chunk_headers() {
        let mut out = [0; 20];
        for (len, s) in [
            (0, "0\r\n"),
            (1, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (0x1234abc, "1234abc\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let n = chunk_header(len, &mut out);
            assert_eq!(&out[..n], s.as_bytes());
        }
    }
}
