//! Requests as handlers see them (with a body they read on demand) and the responses they
//! return (with a body that is static, owned, or streamed).

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use futures::stream::{LocalBoxStream, Stream};

use crate::chunked::ChunkError;
use crate::headers::Headers;
use crate::parse::{Method, RequestHead, Version};
use crate::status::StatusCode;

/// A request, as a handler receives it.
#[derive(Debug)]
pub struct Request {
    head: RequestHead,
    body: RequestBody,
}

impl Request {
    pub(crate) fn new(head: RequestHead, body: RequestBody) -> Request {
        Request { head, body }
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.head.method
    }

    /// The path, still percent-encoded, without the query.
    pub fn path(&self) -> &str {
        &self.head.path
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.head.query.as_deref()
    }

    /// The request target as sent.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The host (from an absolute-form target or the `Host` field).
    pub fn host(&self) -> Option<&str> {
        self.head.host.as_deref()
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// The value of the first field named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.headers.get(name)
    }

    /// The body, read on demand (an `Expect: 100-continue` is answered on the first read).
    pub fn body(&mut self) -> &mut RequestBody {
        &mut self.body
    }

    /// Reads the whole body (at most the server's `max_body`).
    pub async fn body_bytes(&mut self) -> Result<Vec<u8>, BodyError> {
        self.body.to_vec().await
    }
}

/// Why a request body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The chunked framing was bad or over a limit; the server answers with its status.
    Framing(ChunkError),
    /// The connection ended before the body did.
    Truncated,
    /// The client was too slow.
    TimedOut,
    /// The connection failed.
    Io,
    /// The request is over: its connection has moved on.
    Gone,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Framing(e) => e.fmt(f),
            BodyError::Truncated => f.write_str("the connection ended inside the body"),
            BodyError::TimedOut => f.write_str("timed out reading the body"),
            BodyError::Io => f.write_str("connection error reading the body"),
            BodyError::Gone => f.write_str("the request is over"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyState {
    Open,
    Done,
    Failed(BodyError),
}

/// What the connection and a handler's [`RequestBody`] share: the connection fills `data` when
/// the handler asks (`wanted`), so nothing is read (and no `100 Continue` sent) unless the
/// handler reads.
#[derive(Debug)]
pub(crate) struct BodyShared {
    pub data: Vec<u8>,
    pub pos: usize,
    pub state: BodyState,
    pub wanted: bool,
    pub requested: bool,
    pub reader: Option<Waker>,
    pub pump: Option<Waker>,
}

impl BodyShared {
    pub fn new() -> BodyShared {
        BodyShared {
            data: Vec::new(),
            pos: 0,
            state: BodyState::Open,
            wanted: false,
            requested: false,
            reader: None,
            pump: None,
        }
    }

    /// Ends the body with `state` (if it is still open) and wakes the reader.
    pub fn finish(&mut self, state: BodyState) {
        if self.state == BodyState::Open {
            self.state = state;
        }
        self.wanted = false;
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }
}

/// A request body, read on demand from the connection.
#[derive(Debug, Default)]
pub struct RequestBody {
    shared: Option<Rc<RefCell<BodyShared>>>,
}

impl RequestBody {
    pub(crate) fn empty() -> RequestBody {
        RequestBody { shared: None }
    }

    pub(crate) fn shared(shared: Rc<RefCell<BodyShared>>) -> RequestBody {
        RequestBody {
            shared: Some(shared),
        }
    }

    /// Whether the request has a body at all.
    pub fn is_present(&self) -> bool {
        self.shared.is_some()
    }

    /// Reads some of the body into `buf`; `Ok(0)` at its end.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            let mut s = shared.borrow_mut();
            if s.pos < s.data.len() {
                let n = buf.len().min(s.data.len() - s.pos);
                buf[..n].copy_from_slice(&s.data[s.pos..s.pos + n]);
                s.pos += n;
                if s.pos == s.data.len() {
                    s.data.clear();
                    s.pos = 0;
                }
                return Poll::Ready(Ok(n));
            }
            match s.state {
                BodyState::Done => Poll::Ready(Ok(0)),
                BodyState::Failed(e) => Poll::Ready(Err(e)),
                BodyState::Open => {
                    s.wanted = true;
                    s.requested = true;
                    s.reader = Some(cx.waker().clone());
                    if let Some(w) = s.pump.take() {
                        w.wake();
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Reads the rest of the body.
    pub async fn to_vec(&mut self) -> Result<Vec<u8>, BodyError> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match self.read(&mut buf).await? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }
}

/// A response body.
pub enum Body {
    /// None.
    Empty,
    /// Bytes that live for the whole program (a static site built into the image).
    Static(&'static [u8]),
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// Produced piece by piece and written as it comes: chunked in HTTP/1.1 when the length is
    /// unknown, delimited by closing the connection in HTTP/1.0.
    Stream {
        /// The total length, when known in advance (then sent as Content-Length; a stream that
        /// produces a different amount makes the server close the connection).
        len: Option<u64>,
        /// The pieces; empty pieces are skipped.
        stream: LocalBoxStream<'static, Vec<u8>>,
    },
}

impl Body {
    /// A streamed body of unknown length.
    pub fn stream(stream: impl Stream<Item = Vec<u8>> + 'static) -> Body {
        Body::Stream {
            len: None,
            stream: Box::pin(stream),
        }
    }

    /// A streamed body of known length.
    pub fn stream_with_len(len: u64, stream: impl Stream<Item = Vec<u8>> + 'static) -> Body {
        Body::Stream {
            len: Some(len),
            stream: Box::pin(stream),
        }
    }

    /// The length, when known.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Static(b) => Some(b.len() as u64),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Stream { len, .. } => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of an in-memory body.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Static(b) => Some(b),
            Body::Bytes(b) => Some(b),
            Body::Stream { .. } => None,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Static(b) => write!(f, "Static({} bytes)", b.len()),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream { len, .. } => write!(f, "Stream({len:?})"),
        }
    }
}

impl From<&'static [u8]> for Body {
    fn from(b: &'static [u8]) -> Body {
        Body::Static(b)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Static(s.as_bytes())
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::Bytes(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Bytes(s.into_bytes())
    }
}

/// A response, as a handler returns it. The server adds `Date`, the framing fields
/// (`Content-Length`/`Transfer-Encoding`) and `Connection`; a handler's own are replaced.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: Headers,
    body: Body,
}

impl Response {
    /// A response with `status` and no body.
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Body::Empty,
        }
    }

    /// `200 OK` with `body`.
    pub fn ok(body: impl Into<Body>) -> Response {
        Response::new(StatusCode::OK).with_body(body)
    }

    /// A short plain-text error page for `status`.
    pub fn error(status: StatusCode) -> Response {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(format!("{status}\n"))
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Body>) -> Response {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Changes the status.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The header fields, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The body, to change.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    pub(crate) fn into_parts(self) -> (StatusCode, Headers, Body) {
        (self.status, self.headers, self.body)
    }
}
