//! A small HTTP/1.1 client over any `embedded-io-async` stream (a `TcpStream`, or an in-memory
//! pipe in tests): writes a request, reads the response head and a body delimited by
//! Content-Length, chunks or the end of the connection, within [`Limits`]. The connection is
//! kept for the next request unless the response ends it.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use embedded_io_async::{Read, Write};
use morgana_executor::{Duration, timeout};

use crate::chunked::{ChunkError, ChunkedDecoder};
use crate::headers::{Headers, is_field_value_byte, is_tchar};
use crate::parse::{
    Framing, HeadScanner, Limits, Method, ParseError, Version, parse_framing, parse_response,
};
use crate::status::StatusCode;

/// A response as the client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResponse {
    /// The version the server spoke.
    pub version: Version,
    /// The status.
    pub status: StatusCode,
    /// The header fields.
    pub headers: Headers,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The connection failed or closed before the response was complete.
    Io,
    /// The server did not answer within the client's timeout.
    TimedOut,
    /// The response head was malformed or over the limits.
    Malformed(ParseError),
    /// The chunked body was malformed or over the limits.
    Body(ChunkError),
    /// The body is over [`Limits::max_body`].
    TooLarge,
    /// The connection was closed by an earlier response.
    Closed,
    /// The request itself (method, host, path, a header) holds bytes that cannot be sent.
    InvalidRequest,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io => f.write_str("connection failed"),
            ClientError::TimedOut => f.write_str("timed out"),
            ClientError::Malformed(e) => write!(f, "malformed response: {}", e.reason),
            ClientError::Body(e) => e.fmt(f),
            ClientError::TooLarge => f.write_str("response body over the limit"),
            ClientError::Closed => f.write_str("the connection is closed"),
            ClientError::InvalidRequest => f.write_str("invalid request"),
        }
    }
}

/// An HTTP/1.1 client on one connection.
#[derive(Debug)]
pub struct Client<S> {
    io: S,
    limits: Limits,
    wait: Duration,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    closed: bool,
}

impl<S: Read + Write> Client<S> {
    /// A client on `io` with the default limits and a 30 s timeout per read or write.
    pub fn new(io: S) -> Client<S> {
        Client::with_limits(io, Limits::default(), Duration::from_secs(30))
    }

    /// A client with `limits`, waiting at most `wait` for each read or write.
    pub fn with_limits(io: S, limits: Limits, wait: Duration) -> Client<S> {
        let capacity = (limits.head_buffer() + 1).max(4096);
        Client {
            io,
            limits,
            wait,
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            closed: false,
        }
    }

    /// The stream back.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// `GET path` on `host`.
    pub async fn get(&mut self, host: &str, path: &str) -> Result<ClientResponse, ClientError> {
        self.request(Method::Get, host, path, &[], None).await
    }

    /// `POST path` on `host` with `body` of `content_type`.
    pub async fn post(
        &mut self,
        host: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<ClientResponse, ClientError> {
        self.request(
            Method::Post,
            host,
            path,
            &[("Content-Type", content_type)],
            Some(body),
        )
        .await
    }

    /// Any request: `headers` are sent as given (with `Host` and `Content-Length` added).
    pub async fn request(
        &mut self,
        method: Method,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<ClientResponse, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !visible(host) || !visible(path) {
            return Err(ClientError::InvalidRequest);
        }
        let mut out = alloc::string::String::new();
        let _ = write!(out, "{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            let ok = !name.is_empty()
                && name.bytes().all(is_tchar)
                && value.bytes().all(is_field_value_byte);
            if !ok {
                return Err(ClientError::InvalidRequest);
            }
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if let Some(body) = body {
            let _ = write!(out, "Content-Length: {}\r\n", body.len());
        }
        out.push_str("\r\n");
        // Any failure from here on leaves the connection in an unknown state.
        self.closed = true;
        self.write_all(out.as_bytes()).await?;
        if let Some(body) = body {
            self.write_all(body).await?;
        }
        let _ = timeout(self.wait, self.io.flush()).await;
        let (head, framing) = loop {
            let head = self.read_head().await?;
            if !head.status.is_informational() {
                let framing = if method == Method::Head || head.status.forbids_body() {
                    Framing::None
                } else {
                    match parse_framing(&head.headers, Version::Http11) {
                        Ok(Framing::None) => Framing::Close,
                        Ok(f) => f,
                        Err(e) => return Err(ClientError::Malformed(e)),
                    }
                };
                break (head, framing);
            }
        };
        let body = self.read_body(framing).await?;
        let keep = framing != Framing::Close
            && !head.headers.has_token("connection", "close")
            && (head.version == Version::Http11
                || head.headers.has_token("connection", "keep-alive"));
        self.closed = !keep;
        Ok(ClientResponse {
            version: head.version,
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    async fn write_all(&mut self, mut data: &[u8]) -> Result<(), ClientError> {
        while !data.is_empty() {
            match timeout(self.wait, self.io.write(data)).await {
                Ok(Ok(n)) if n > 0 => data = &data[n..],
                Ok(_) => return Err(ClientError::Io),
                Err(_) => return Err(ClientError::TimedOut),
            }
        }
        Ok(())
    }

    /// Reads more into the buffer: the count, 0 at the end of the stream.
    async fn fill(&mut self) -> Result<usize, ClientError> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(ClientError::Io);
        }
        match timeout(self.wait, self.io.read(&mut self.buf[self.end..])).await {
            Ok(Ok(n)) => {
                self.end += n;
                Ok(n)
            }
            Ok(Err(_)) => Err(ClientError::Io),
            Err(_) => Err(ClientError::TimedOut),
        }
    }

    async fn read_head(&mut self) -> Result<crate::parse::ResponseHead, ClientError> {
        let mut scanner = HeadScanner::new();
        loop {
            let pending = &self.buf[self.start..self.end];
            match scanner.scan(pending, &self.limits) {
                Ok(Some(len)) => {
                    let head = parse_response(&pending[..len]).map_err(ClientError::Malformed);
                    self.start += len;
                    return head;
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::Malformed(e)),
            }
            if self.fill().await? == 0 {
                return Err(ClientError::Io);
            }
        }
    }

    async fn read_body(&mut self, framing: Framing) -> Result<Vec<u8>, ClientError> {
        let mut body = Vec::new();
        match framing {
            Framing::None => {}
            Framing::Length(n) => {
                if n > self.limits.max_body {
                    return Err(ClientError::TooLarge);
                }
                while (body.len() as u64) < n {
                    if self.start == self.end && self.fill().await? == 0 {
                        return Err(ClientError::Io);
                    }
                    let want = (n - body.len() as u64) as usize;
                    let take = want.min(self.end - self.start);
                    body.extend_from_slice(&self.buf[self.start..self.start + take]);
                    self.start += take;
                }
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::new(&self.limits);
                while !decoder.is_done() {
                    if self.start == self.end && self.fill().await? == 0 {
                        return Err(ClientError::Io);
                    }
                    let pending = &self.buf[self.start..self.end];
                    let (n, data) = decoder.decode(pending).map_err(ClientError::Body)?;
                    if let Some(r) = data {
                        body.extend_from_slice(&pending[r]);
                    }
                    self.start += n;
                }
            }
            Framing::Close => loop {
                body.extend_from_slice(&self.buf[self.start..self.end]);
                self.start = self.end;
                if body.len() as u64 > self.limits.max_body {
                    return Err(ClientError::TooLarge);
                }
                if self.fill().await? == 0 {
                    break;
                }
            },
        }
        Ok(body)
    }
}
