//! The xenstore wire format.
//!
//! Ref: `io/xs_wire.h`. Every message, either way, is a 16-byte header and a payload of at
//! most 4096 bytes:
//!
//! ```text
//! struct xsd_sockmsg { u32 type; u32 req_id; u32 tx_id; u32 len; }   /* then len bytes */
//! ```
//!
//! Requests carry NUL-terminated strings (`READ`: `path\0`; `WRITE`: `path\0value`, the value
//! unterminated; `WATCH`: `path\0token\0`). A reply has the request's type and `req_id`, or
//! type `ERROR` with an errno name (`"ENOENT\0"`). `WATCH_EVENT` messages (`path\0token\0`)
//! arrive unasked, between replies. Nothing here trusts the other end: lengths are bounded
//! and every parse returns a `Result`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Header length.
pub const HEADER_LEN: usize = 16;
/// The largest payload (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = 4096;

/// Message types (`enum xsd_sockmsg_type`) that Morgana uses or may receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MsgType {
    Directory = 1,
    Read = 2,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    WatchEvent = 15,
    Error = 16,
}

impl MsgType {
    /// The type with number `n`, if it is one of ours.
    pub fn from_u32(n: u32) -> Option<MsgType> {
        use MsgType::*;
        Some(match n {
            1 => Directory,
            2 => Read,
            4 => Watch,
            5 => Unwatch,
            6 => TransactionStart,
            7 => TransactionEnd,
            10 => GetDomainPath,
            11 => Write,
            12 => Mkdir,
            13 => Rm,
            15 => WatchEvent,
            16 => Error,
            _ => return None,
        })
    }
}

/// A message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The message type (raw: the other end may send types we do not know).
    pub ty: u32,
    /// Matches a reply to its request.
    pub req_id: u32,
    /// The transaction (0: none).
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

impl Header {
    /// Reads a header.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            ty: w(0),
            req_id: w(4),
            tx_id: w(8),
            len: w(12),
        }
    }
}

/// What went wrong with xenstore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XsError {
    /// xenstored said no, with this errno name (`ENOENT`, `EACCES`, `EAGAIN`, ...).
    Errno(String),
    /// A request's payload would exceed [`PAYLOAD_MAX`].
    TooLong(usize),
    /// The other end broke the protocol (an oversized message, bad indexes, a reply of the
    /// wrong type).
    Protocol(&'static str),
    /// A value that should be text is not UTF-8.
    NotText,
    /// A blocking request gave up waiting for xenstored.
    TimedOut,
}

impl XsError {
    /// The errno name, if xenstored returned one.
    pub fn errno(&self) -> Option<&str> {
        match self {
            XsError::Errno(e) => Some(e),
            _ => None,
        }
    }

    /// `ENOENT`: the path does not exist.
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some("ENOENT")
    }

    /// `EAGAIN` at the end of a transaction: it conflicted; run it again.
    pub fn is_retry(&self) -> bool {
        self.errno() == Some("EAGAIN")
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XsError::Errno(e) => write!(f, "xenstore: {e}{}", errno_meaning(e)),
            XsError::TooLong(n) => write!(
                f,
                "xenstore: request of {n} bytes exceeds the {PAYLOAD_MAX}-byte limit"
            ),
            XsError::Protocol(what) => write!(f, "xenstore protocol error: {what}"),
            XsError::NotText => f.write_str("xenstore: value is not UTF-8"),
            XsError::TimedOut => f.write_str("xenstore: no reply from xenstored in time"),
        }
    }
}

/// A few words on the errno names xenstored uses.
fn errno_meaning(name: &str) -> &'static str {
    match name {
        "ENOENT" => " (no such path)",
        "EACCES" => " (permission denied)",
        "EEXIST" => " (already exists)",
        "EINVAL" => " (invalid request)",
        "EAGAIN" => " (transaction conflict: retry)",
        "ENOSPC" => " (quota exceeded)",
        "E2BIG" => " (too big)",
        "EISDIR" => " (is a directory)",
        "EBUSY" => " (busy)",
        "EROFS" => " (read-only)",
        "ENOSYS" => " (not implemented)",
        "EIO" => " (I/O error)",
        _ => "",
    }
}

/// Appends a request message to `out`: the header, then `parts` back to back (callers include
/// the NULs the request needs).
pub fn encode(
    ty: MsgType,
    req_id: u32,
    tx_id: u32,
    parts: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<(), XsError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > PAYLOAD_MAX {
        return Err(XsError::TooLong(len));
    }
    for w in [ty as u32, req_id, tx_id, len as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

/// A decoded message: its header, its payload and the bytes it took.
pub type Message<'a> = (Header, &'a [u8], usize);

/// The first complete message in `buf`: its header, payload and total length; `Ok(None)` if
/// more bytes are needed; an error for a payload over [`PAYLOAD_MAX`] (the stream cannot be
/// trusted after that).
pub fn decode(buf: &[u8]) -> Result<Option<Message<'_>>, XsError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = Header::parse(head);
    let len = header.len as usize;
    if len > PAYLOAD_MAX {
        return Err(XsError::Protocol("message payload over 4096 bytes"));
    }
    match buf.get(HEADER_LEN..HEADER_LEN + len) {
        Some(payload) => Ok(Some((header, payload, HEADER_LEN + len))),
        None => Ok(None),
    }
}

/// The payload as text, without one trailing NUL.
pub fn text(payload: &[u8]) -> Result<&str, XsError> {
    let payload = payload.strip_suffix(&[0]).unwrap_or(payload);
    core::str::from_utf8(payload).map_err(|_| XsError::NotText)
}

/// The error of an `ERROR` reply.
pub fn error(payload: &[u8]) -> XsError {
    match text(payload) {
        Ok(name) if !name.is_empty() && name.len() <= 16 => XsError::Errno(name.to_string()),
        _ => XsError::Protocol("unreadable ERROR reply"),
    }
}

/// The entries of a `DIRECTORY` reply (NUL-separated names).
pub fn directory(payload: &[u8]) -> Result<Vec<String>, XsError> {
    let payload = payload.strip_suffix(&[0]).unwrap_or(payload);
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    payload
        .split(|&b| b == 0)
        .map(|name| {
            core::str::from_utf8(name)
                .map(ToString::to_string)
                .map_err(|_| XsError::NotText)
        })
        .collect()
}

/// The (path, token) of a `WATCH_EVENT`.
pub fn watch_event(payload: &[u8]) -> Result<(String, String), XsError> {
    let mut parts = payload.split(|&b| b == 0);
    let (Some(path), Some(token)) = (parts.next(), parts.next()) else {
        return Err(XsError::Protocol("WATCH_EVENT without a token"));
    };
    let s = |b: &[u8]| {
        core::str::from_utf8(b)
            .map(ToString::to_string)
            .map_err(|_| XsError::NotText)
    };
    Ok((s(path)?, s(token)?))
}

/// Fuzz body: whatever bytes xenstored puts on the response ring, decoding messages and
/// parsing each payload every way the client may never panics, and lengths stay in bounds.
pub fn fuzz_reply(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((header, payload, used))) = decode(rest) {
        assert!(used <= rest.len() && used == HEADER_LEN + payload.len());
        assert!(payload.len() <= PAYLOAD_MAX);
        let _ = text(payload);
        let _ = error(payload).to_string();
        let _ = directory(payload);
        let _ = watch_event(payload);
        let _ = MsgType::from_u32(header.ty);
        rest = &rest[used..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn encodes_a_write() {
        let mut out = Vec::new();
        encode(
            MsgType::Write,
            7,
            3,
            &[b"device/vif/0/state\0", b"4"],
            &mut out,
        )
        .unwrap();
        let mut want = vec![11, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 20, 0, 0, 0];
        want.extend_from_slice(b"device/vif/0/state\x004");
        assert_eq!(out, want);
        let big = [0u8; 4097];
        assert_eq!(
            encode(MsgType::Write, 1, 0, &[&big], &mut out),
            Err(XsError::TooLong(4097))
        );
    }

    #[test]
    fn decodes_replies_in_pieces() {
        let mut msg = Vec::new();
        encode(
            MsgType::Read,
            9,
            0,
            &[b"/local/domain/0/backend/vif/1/0"],
            &mut msg,
        )
        .unwrap();
        for cut in 0..msg.len() {
            assert_eq!(decode(&msg[..cut]).unwrap(), None);
        }
        let (h, payload, used) = decode(&msg).unwrap().unwrap();
        assert_eq!((h.ty, h.req_id, h.tx_id, used), (2, 9, 0, msg.len()));
        assert_eq!(text(payload).unwrap(), "/local/domain/0/backend/vif/1/0");
        let mut huge = vec![2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        huge.extend_from_slice(&5000u32.to_le_bytes());
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn parses_payloads() {
        assert_eq!(error(b"ENOENT\0"), XsError::Errno("ENOENT".into()));
        assert!(error(b"ENOENT\0").is_not_found());
        assert_eq!(
            error(b"ENOENT\0").to_string(),
            "xenstore: ENOENT (no such path)"
        );
        assert!(matches!(error(b""), XsError::Protocol(_)));
        assert!(matches!(error(&[0xff, 0]), XsError::Protocol(_)));
        assert_eq!(directory(b"0\x001\x00").unwrap(), ["0", "1"]);
        assert_eq!(directory(b"").unwrap(), Vec::<String>::new());
        assert_eq!(
            watch_event(b"device/vif/0/state\0tok\0").unwrap(),
            ("device/vif/0/state".into(), "tok".into())
        );
        assert!(watch_event(b"no-token").is_err());
    }

    /// The fuzz body over seeded random inputs (the cargo-fuzz target runs it unbounded).
    #[test]
    fn fuzz_reply_on_random_streams() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Often give it a plausible header so that payload parsers run.
            if len >= 16 && next() % 2 == 0 {
                let plen = (next() % (len as u64 - 15)) as u32;
                data[12..16].copy_from_slice(&plen.to_le_bytes());
                data[0..4].copy_from_slice(&((next() % 20) as u32).to_le_bytes());
            }
            fuzz_reply(&data);
        }
    }
}
