//! The request-head parser: a resumable scanner that finds the end of the head in a bounded
//! buffer and enforces the size limits as bytes arrive, then a strict parse of the complete head
//! (RFC 9112 §2-§7, RFC 9110 §5).
//!
//! Each failure is a [`ParseError`] carrying the status to answer with; after any of them the
//! connection is closed, since the framing of what follows can no longer be trusted.
//!
//! # Line endings
//!
//! Only CRLF ends a line. RFC 9112 §2.2 lets a recipient accept a bare LF; we do not: a bare LF
//! or a bare CR anywhere in the head is a 400. An appliance may sit behind a proxy that splits
//! lines differently, and disagreeing parsers are how requests get smuggled; every real client
//! sends CRLF. Empty lines before the request line are skipped (§2.2 SHOULD), within the
//! request-line limit.

use alloc::string::String;
use core::fmt;

use crate::headers::{Headers, is_field_value_byte, is_tchar, trim};
use crate::status::StatusCode;

/// The bounds on what a peer may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (or status line), CRLF included; beyond: 414.
    pub max_request_line: usize,
    /// Most bytes of header fields after the request line, the final empty line included;
    /// beyond: 431.
    pub max_header_bytes: usize,
    /// Most header fields; beyond: 431.
    pub max_headers: usize,
    /// Largest body; beyond: 413.
    pub max_body: u64,
    /// Longest chunk line (size and extensions); beyond: 400.
    pub max_chunk_line: usize,
    /// Most bytes of a chunked body's trailer section; beyond: 431.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body: 1024 * 1024,
            max_chunk_line: 256,
            max_trailer_bytes: 4 * 1024,
        }
    }
}

impl Limits {
    /// The buffer a head must fit in: the request line and the header section.
    pub fn head_buffer(&self) -> usize {
        self.max_request_line + self.max_header_bytes
    }
}

/// Why a request (or response) head was refused, and the status to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The status for the answer.
    pub status: StatusCode,
    /// What was wrong, for logs.
    pub reason: &'static str,
}

impl ParseError {
    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> ParseError {
        ParseError { status, reason }
    }
    pub(crate) const fn bad(reason: &'static str) -> ParseError {
        ParseError::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

/// The request methods we route (RFC 9110 §9). Any other token is answered 501.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
}

impl Method {
    /// The method named `token` (methods are case-sensitive).
    pub fn from_bytes(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            _ => return None,
        })
    }

    /// The token.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocol version of a message: HTTP/1.0 or HTTP/1.1 (a higher 1.x minor is read as 1.1,
/// RFC 9110 §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// How the body of a message is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (a request with neither Content-Length nor Transfer-Encoding).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target as sent.
    pub target: String,
    /// The path of the target, still percent-encoded (`/` for the asterisk form: `*`).
    pub path: String,
    /// The query, without the `?`.
    pub query: Option<String>,
    /// The version.
    pub version: Version,
    /// The header fields.
    pub headers: Headers,
    /// The host: the authority of an absolute-form target, else the `Host` field.
    pub host: Option<String>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client wants the connection kept open afterwards.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// Finds the end of a head in a growing buffer, enforcing the size limits as it goes, without
/// rescanning what it has seen. Feed it the buffer from the head's first byte each time more
/// arrives; reset it (make a new one) for the next head.
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    /// Bytes already examined.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Where the header section starts, once the start line has ended.
    fields_start: Option<usize>,
    /// Header lines seen.
    fields: usize,
}

impl HeadScanner {
    /// A scanner at the start of a head.
    pub fn new() -> HeadScanner {
        HeadScanner::default()
    }

    /// Whether any byte of the head proper has arrived (leading empty lines do not count).
    pub fn started(&self, buf: &[u8]) -> bool {
        self.fields_start.is_some() || buf.len() > self.line_start
    }

    /// Scans `buf` (the head so far, from its first byte): `Ok(Some(len))` when the head is
    /// complete and `len` bytes long, `Ok(None)` when more is needed.
    pub fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ParseError> {
        let mut i = self.scanned;
        while i < buf.len() {
            // The limits first, byte by byte, so that the answer does not depend on how the
            // bytes were split into reads.
            match self.fields_start {
                None if i + 1 > limits.max_request_line => return Err(request_line_too_long()),
                Some(start) if i + 1 - start > limits.max_header_bytes => {
                    return Err(fields_too_large());
                }
                _ => {}
            }
            match buf[i] {
                b'\r' => match buf.get(i + 1) {
                    None => break,
                    Some(b'\n') => {}
                    Some(_) => return Err(ParseError::bad("bare CR")),
                },
                b'\n' => {
                    if i == 0 || buf[i - 1] != b'\r' {
                        return Err(ParseError::bad("bare LF"));
                    }
                    let line_len = i - 1 - self.line_start;
                    match self.fields_start {
                        None if line_len == 0 => {
                            // An empty line before the request line: skipped.
                        }
                        None => self.fields_start = Some(i + 1),
                        Some(_) => {
                            if line_len == 0 {
                                self.scanned = i + 1;
                                return Ok(Some(i + 1));
                            }
                            self.fields += 1;
                            if self.fields > limits.max_headers {
                                return Err(ParseError::new(
                                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                                    "too many header fields",
                                ));
                            }
                        }
                    }
                    self.line_start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.scanned = i;
        Ok(None)
    }
}

fn request_line_too_long() -> ParseError {
    ParseError::new(StatusCode::URI_TOO_LONG, "request line too long")
}

fn fields_too_large() -> ParseError {
    ParseError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "header section too large",
    )
}

/// Splits a complete head (as [`HeadScanner`] delimited it: CRLF-only) into its start line and
/// its field lines, skipping leading empty lines.
fn lines(head: &[u8]) -> (&[u8], impl Iterator<Item = &[u8]>) {
    let mut it = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let start = it.next().unwrap_or(&[]);
    (start, it.take_while(|l| !l.is_empty()))
}

/// `HTTP/x.y`: `Ok(Version)` for 1.x, 505 for another major version, 400 for anything else.
pub(crate) fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::new(
                    StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                    "HTTP major version not supported",
                )),
            }
        }
        _ => Err(ParseError::bad("malformed HTTP version")),
    }
}

/// Parses the field lines into `headers` (RFC 9112 §5): `name ":" OWS value OWS`, with no
/// whitespace before the colon, no obs-fold, and no control characters in the value.
pub(crate) fn parse_fields<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<Headers, ParseError> {
    let mut headers = Headers::new();
    for line in lines {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(ParseError::bad("obsolete line folding"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(ParseError::bad("header line without a colon"));
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() {
            return Err(ParseError::bad("empty header name"));
        }
        if matches!(name.last(), Some(b' ' | b'\t')) {
            return Err(ParseError::bad("whitespace between header name and colon"));
        }
        if !name.iter().all(|&b| is_tchar(b)) {
            return Err(ParseError::bad("invalid header name"));
        }
        if !value.iter().all(|&b| is_field_value_byte(b)) {
            return Err(ParseError::bad("control character in header value"));
        }
        let name = core::str::from_utf8(name).map_err(|_| ParseError::bad("header name"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The body framing of a message from its fields (RFC 9112 §6): Transfer-Encoding (chunked
/// last, only once, nothing else we implement) or Content-Length (digits; repeats must agree),
/// never both.
pub(crate) fn parse_framing(headers: &Headers, version: Version) -> Result<Framing, ParseError> {
    let mut codings = headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .filter(|c| !c.is_empty())
        .peekable();
    let has_te = headers.contains("transfer-encoding");
    let length = content_length(headers)?;
    if has_te {
        if version == Version::Http10 {
            return Err(ParseError::bad("Transfer-Encoding in an HTTP/1.0 message"));
        }
        if length.is_some() {
            return Err(ParseError::bad("both Content-Length and Transfer-Encoding"));
        }
        let (mut chunked, mut other, mut last_chunked) = (0, 0, false);
        while let Some(c) = codings.next() {
            let is_chunked = c.eq_ignore_ascii_case(b"chunked");
            chunked += usize::from(is_chunked);
            other += usize::from(!is_chunked);
            last_chunked = codings.peek().is_none() && is_chunked;
        }
        if !last_chunked {
            return Err(ParseError::bad("chunked is not the final transfer coding"));
        }
        if other > 0 {
            return Err(ParseError::new(
                StatusCode::NOT_IMPLEMENTED,
                "transfer coding not implemented",
            ));
        }
        if chunked > 1 {
            return Err(ParseError::bad("chunked applied more than once"));
        }
        return Ok(Framing::Chunked);
    }
    Ok(length.map_or(Framing::None, Framing::Length))
}

/// The Content-Length, if any: every value (in every field, comma-separated) must be digits
/// and all must be equal (RFC 9110 §8.6, RFC 9112 §6.3).
fn content_length(headers: &Headers) -> Result<Option<u64>, ParseError> {
    let mut length = None;
    for part in headers
        .get_all("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
    {
        let part = trim(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::bad("invalid Content-Length"));
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(ParseError::bad("Content-Length overflows"))?;
        }
        match length {
            Some(l) if l != n => return Err(ParseError::bad("differing Content-Lengths")),
            _ => length = Some(n),
        }
    }
    Ok(length)
}

fn to_string(b: &[u8]) -> Result<String, ParseError> {
    core::str::from_utf8(b)
        .map(String::from)
        .map_err(|_| ParseError::bad("non-ASCII request target"))
}

/// A request target (RFC 9112 §3.2): origin-form, absolute-form (`http`/`https`) or the
/// asterisk form; returns (path, query, authority).
#[allow(clippy::type_complexity)]
fn parse_target(
    target: &[u8],
    method: Method,
) -> Result<(String, Option<String>, Option<String>), ParseError> {
    if target == b"*" {
        return match method {
            Method::Options => Ok((String::from("*"), None, None)),
            _ => Err(ParseError::bad("asterisk form outside OPTIONS")),
        };
    }
    let (origin, authority) = if target.first() == Some(&b'/') {
        (target, None)
    } else {
        let rest = strip_prefix_ignore_case(target, b"http://")
            .or_else(|| strip_prefix_ignore_case(target, b"https://"))
            .ok_or(ParseError::bad("unsupported request-target form"))?;
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || authority.contains(&b'@') {
            return Err(ParseError::bad("invalid authority in absolute-form"));
        }
        (&rest[end..], Some(to_string(authority)?))
    };
    if origin.contains(&b'#') {
        return Err(ParseError::bad("fragment in request target"));
    }
    let (path, query) = match origin.iter().position(|&b| b == b'?') {
        Some(q) => (&origin[..q], Some(to_string(&origin[q + 1..])?)),
        None => (origin, None),
    };
    let path = if path.is_empty() {
        String::from("/")
    } else {
        to_string(path)?
    };
    Ok((path, query, authority))
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Parses a complete request head, as delimited by [`HeadScanner`].
pub fn parse_request(head: &[u8], limits: &Limits) -> Result<RequestHead, ParseError> {
    let (line, field_lines) = lines(head);
    // request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::bad("malformed request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::bad("malformed method"));
    }
    if target.is_empty() || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(ParseError::bad("malformed request target"));
    }
    let version = parse_version(version)?;
    let method = Method::from_bytes(method).ok_or(ParseError::new(
        StatusCode::NOT_IMPLEMENTED,
        "unknown method",
    ))?;
    let headers = parse_fields(field_lines)?;
    let (path, query, authority) = parse_target(target, method)?;

    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; never more than one.
    let hosts = headers.get_all("host").count();
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(ParseError::bad("missing or repeated Host"));
    }
    let host_field = headers
        .get("host")
        .map(to_string)
        .transpose()?
        .filter(|h| !h.is_empty());
    let host = authority.or(host_field);

    let framing = parse_framing(&headers, version)?;
    if let Framing::Length(n) = framing {
        if n > limits.max_body {
            return Err(ParseError::new(
                StatusCode::CONTENT_TOO_LARGE,
                "Content-Length over the limit",
            ));
        }
    }
    let keep_alive = match version {
        Version::Http11 => !headers.has_token("connection", "close"),
        Version::Http10 => {
            headers.has_token("connection", "keep-alive")
                && !headers.has_token("connection", "close")
        }
    };
    let mut expect_continue = false;
    if let Some(expect) = headers.get("expect") {
        if expect.eq_ignore_ascii_case(b"100-continue") {
            expect_continue = version == Version::Http11 && framing != Framing::None;
        } else {
            return Err(ParseError::new(
                StatusCode::EXPECTATION_FAILED,
                "unknown expectation",
            ));
        }
    }
    Ok(RequestHead {
        method,
        target: to_string(target)?,
        path,
        query,
        version,
        headers,
        host,
        framing,
        keep_alive,
        expect_continue,
    })
}

/// A parsed response head (for the client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The version.
    pub version: Version,
    /// The status.
    pub status: StatusCode,
    /// The header fields.
    pub headers: Headers,
}

/// Parses a complete response head: `HTTP-version SP 3DIGIT SP [reason]` and the fields.
pub fn parse_response(head: &[u8]) -> Result<ResponseHead, ParseError> {
    let (line, field_lines) = lines(head);
    let (version, rest) = line.split_at(line.len().min(8));
    let version = parse_version(version)?;
    let status = match rest {
        [b' ', a, b, c, tail @ ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit())
                && (tail.is_empty() || tail[0] == b' ') =>
        {
            let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            StatusCode::new(code).ok_or(ParseError::bad("status code out of range"))?
        }
        _ => return Err(ParseError::bad("malformed status line")),
    };
    let headers = parse_fields(field_lines)?;
    Ok(ResponseHead {
        version,
        status,
        headers,
    })
}

/// Parses a head given whole (for tests and the fuzz bodies): scan, then parse.
pub fn parse_request_bytes(
    bytes: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut scanner = HeadScanner::new();
    match scanner.scan(bytes, limits)? {
        Some(len) => parse_request(&bytes[..len], limits).map(|h| Some((h, len))),
        None => Ok(None),
    }
}

#[cfg(test)]
#[path = "tests/parse.rs"]
mod tests;
