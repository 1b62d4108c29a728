//! The server: one task per connection, reading requests (pipelined ones are read ahead and
//! answered in order), dispatching them to the [`Router`], and writing the responses.
//!
//! The connection loop is generic over [`Connection`] (any `embedded-io-async` stream that can
//! close its sending side), so tests run it over an in-memory pipe; [`serve`] is the accept loop
//! over the netstack's `TcpListener`.
//!
//! Timeouts (all on the executor's clock): a connection idle between requests is closed after
//! [`Config::idle_timeout`]; once a request's first byte has arrived, its whole head must arrive
//! within [`Config::header_timeout`] or the answer is `408` and a close (the slowloris defence);
//! each body read and each write must make progress within [`Config::io_timeout`].
//!
//! After any framing error (bad head, bad chunked body, a body over the limit) the answer
//! carries `Connection: close` and the connection closes (RFC 9112 §9.6, §6.3). A close is
//! lingering: the sending side is shut, then what the client still sends is read and dropped
//! for a moment, so the client reads the answer rather than a reset.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::convert::Infallible;
use core::fmt::{self, Write as _};
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embedded_io_async::{Read, Write};
use futures::StreamExt;
use futures::future::{Either, select};
use morgana_executor::{Duration, Instant, spawn, timeout};
use morgana_netstack::iface::{TcpListener, TcpStream};

use crate::chunked::{ChunkedDecoder, LAST_CHUNK, chunk_header};
use crate::conditional;
use crate::date::HttpDate;
use crate::headers::{Headers, is_field_value_byte, is_tchar};
use crate::message::{Body, BodyError, BodyShared, BodyState, Request, RequestBody, Response};
use crate::parse::{
    Framing, HeadScanner, Limits, Method, ParseError, RequestHead, Version, parse_request,
};
use crate::router::Router;
use crate::status::StatusCode;

/// One line of the access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// The method (`None` for a request refused before its method was known).
    pub method: Option<Method>,
    /// The path (empty for a request refused before its path was known).
    pub path: &'a str,
    /// The status sent.
    pub status: StatusCode,
    /// Body bytes sent.
    pub bytes: u64,
    /// From the end of the request head to the end of the response, in microseconds.
    pub micros: u64,
}

impl fmt::Display for AccessRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = self.method.map_or("-", Method::as_str);
        let path = if self.path.is_empty() { "-" } else { self.path };
        write!(
            f,
            "{method} {path} {} {} {}us",
            self.status.as_u16(),
            self.bytes,
            self.micros
        )
    }
}

/// Where the access log goes: one line per request.
#[derive(Clone, Default)]
pub enum AccessLog {
    /// Nowhere.
    #[default]
    Off,
    /// To the `log` crate, at `info`, target `http::access`.
    Log,
    /// To a callback.
    Callback(Rc<dyn Fn(&AccessRecord<'_>)>),
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessLog::Off => f.write_str("Off"),
            AccessLog::Log => f.write_str("Log"),
            AccessLog::Callback(_) => f.write_str("Callback"),
        }
    }
}

impl AccessLog {
    fn record(&self, r: &AccessRecord<'_>) {
        match self {
            AccessLog::Off => {}
            AccessLog::Log => log::info!(target: "http::access", "{r}"),
            AccessLog::Callback(f) => f(r),
        }
    }
}

/// The server's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Size limits on requests.
    pub limits: Limits,
    /// Connections served at once; the next are answered `503` and closed.
    pub max_connections: usize,
    /// How long a connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long a request head may take to arrive, from its first byte.
    pub header_timeout: Duration,
    /// How long one body read or one write may wait for the peer.
    pub io_timeout: Duration,
    /// How long a closing connection reads and drops what the client still sends.
    pub linger: Duration,
    /// The access log.
    pub access_log: AccessLog,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            max_connections: 64,
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
            access_log: AccessLog::Off,
        }
    }
}

/// A byte stream the server can answer on: `embedded-io-async` read and write, and a way to
/// close the sending side (a FIN) while still reading.
pub trait Connection: Read + Write {
    /// Closes the sending side after what was written.
    fn close_write(&mut self);
}

impl Connection for TcpStream {
    fn close_write(&mut self) {
        let _ = self.shutdown_now();
    }
}

/// Where connections come from.
pub trait Listener {
    /// The connections.
    type Conn: Connection + 'static;
    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = Self::Conn>;
}

impl Listener for TcpListener {
    type Conn = TcpStream;
    async fn accept(&self) -> TcpStream {
        TcpListener::accept(self).await.0
    }
}

/// Serves `router` on `listener` forever, one task per connection, at most
/// [`Config::max_connections`] at once.
///
/// ```no_run
/// # async fn run(stack: morgana_netstack::iface::StackHandle) {
/// use morgana_http::{Config, Request, Response, Router, serve};
/// use morgana_netstack::iface::TcpListener;
///
/// let router = Router::new().get("/", |_req: Request| async { Response::ok("hi\n") });
/// let listener = TcpListener::bind(&stack, 80).unwrap();
/// serve(listener, router, Config::default()).await;
/// # }
/// ```
pub async fn serve(listener: TcpListener, router: Router, config: Config) -> Infallible {
    serve_on(listener, router, config).await
}

/// Refusals (503) in flight at most; beyond, a connection over the cap is just dropped.
const MAX_REFUSING: usize = 16;

/// [`serve`] over any [`Listener`].
pub async fn serve_on<L: Listener>(listener: L, router: Router, config: Config) -> Infallible {
    let router = Rc::new(router);
    let config = Rc::new(config);
    let active = Rc::new(Cell::new(0usize));
    let refusing = Rc::new(Cell::new(0usize));
    loop {
        let mut conn = listener.accept().await;
        if active.get() >= config.max_connections {
            if refusing.get() < MAX_REFUSING {
                let guard = Counted::new(&refusing);
                let config = config.clone();
                spawn(async move {
                    refuse(&mut conn, &config).await;
                    drop(guard);
                })
                .detach();
            }
            continue;
        }
        let guard = Counted::new(&active);
        let (router, config) = (router.clone(), config.clone());
        spawn(async move {
            serve_connection(&mut conn, &router, &config).await;
            drop(guard);
        })
        .detach();
    }
}

/// Counts itself in a shared counter while it lives.
struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn new(c: &Rc<Cell<usize>>) -> Counted {
        c.set(c.get() + 1);
        Counted(c.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Answers a connection over the cap with `503` and closes it.
async fn refuse<S: Connection>(io: &mut S, config: &Config) {
    let mut conn = Conn::new(io, config, 512);
    let resp = Response::error(StatusCode::SERVICE_UNAVAILABLE).with_header("Retry-After", "1");
    let ctx = Exchange::refused();
    if conn.respond(resp, &ctx, true).await.is_ok() {
        conn.linger(Duration::from_millis(500)).await;
    }
}

/// Serves one connection until it closes. Pipelined requests are answered in order.
pub async fn serve_connection<S: Connection>(io: &mut S, router: &Router, config: &Config) {
    let capacity = (config.limits.head_buffer() + 1).max(4096);
    let mut conn = Conn::new(io, config, capacity);
    if conn.run(router).await {
        conn.linger(config.linger).await;
    } else {
        conn.io.close_write();
    }
}

/// The connection failed or the peer is gone: stop without a word.
#[derive(Debug)]
struct Gone;

/// What a request's handling needs to know for the answer.
struct Exchange<'a> {
    method: Option<Method>,
    path: &'a str,
    version: Version,
    started: Instant,
}

impl Exchange<'_> {
    fn refused() -> Exchange<'static> {
        Exchange {
            method: None,
            path: "",
            version: Version::Http11,
            started: Instant::now(),
        }
    }
}

/// How a request's body is read off the connection.
#[derive(Debug)]
enum BodyReader {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
}

/// Why reading the head stopped.
enum HeadError {
    /// End of stream or idle timeout between requests: close quietly.
    Closed,
    /// The head did not arrive in time: 408.
    TimedOut,
    /// A bad head: its status.
    Bad(ParseError),
}

struct Conn<'a, S> {
    io: &'a mut S,
    config: &'a Config,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<'a, S: Connection> Conn<'a, S> {
    fn new(io: &'a mut S, config: &'a Config, capacity: usize) -> Self {
        Conn {
            io,
            config,
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more into the buffer within `wait`: the bytes read (0 at end of stream).
    async fn fill(&mut self, wait: Duration) -> Result<usize, BodyError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Cannot happen: the head limits are smaller than the buffer, and body bytes are
            // consumed as they are decoded.
            return Err(BodyError::Io);
        }
        match timeout(wait, self.io.read(&mut self.buf[self.end..])).await {
            Ok(Ok(n)) => {
                self.end += n;
                Ok(n)
            }
            Ok(Err(_)) => Err(BodyError::Io),
            Err(_) => Err(BodyError::TimedOut),
        }
    }

    async fn write_all(&mut self, mut data: &[u8]) -> Result<(), Gone> {
        while !data.is_empty() {
            match timeout(self.config.io_timeout, self.io.write(data)).await {
                Ok(Ok(n)) if n > 0 => data = &data[n..],
                _ => return Err(Gone),
            }
        }
        Ok(())
    }

    /// Reads the next request head.
    async fn read_head(&mut self) -> Result<RequestHead, HeadError> {
        let limits = &self.config.limits;
        let mut scanner = HeadScanner::new();
        let mut deadline = None;
        loop {
            match scanner.scan(self.pending(), limits) {
                Ok(Some(len)) => {
                    let head = parse_request(&self.pending()[..len], limits);
                    self.start += len;
                    return head.map_err(HeadError::Bad);
                }
                Ok(None) => {}
                Err(e) => return Err(HeadError::Bad(e)),
            }
            let wait = if self.start == self.end {
                self.config.idle_timeout
            } else {
                let d = *deadline.get_or_insert(Instant::now() + self.config.header_timeout);
                d.saturating_duration_since(Instant::now())
            };
            let started = self.start != self.end;
            match self.fill(wait).await {
                Ok(0) | Err(BodyError::Io) => return Err(HeadError::Closed),
                Ok(_) => {}
                Err(_) if started => return Err(HeadError::TimedOut),
                Err(_) => return Err(HeadError::Closed),
            }
        }
    }

    /// Reads the next piece of body, handing its data to `sink`: `Ok(true)` at the end.
    async fn body_step(
        &mut self,
        reader: &mut BodyReader,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, BodyError> {
        loop {
            match reader {
                BodyReader::Done => return Ok(true),
                BodyReader::Length(0) => {
                    *reader = BodyReader::Done;
                    return Ok(true);
                }
                _ => {}
            }
            if self.start == self.end && self.fill(self.config.io_timeout).await? == 0 {
                return Err(BodyError::Truncated);
            }
            let pending = &self.buf[self.start..self.end];
            match reader {
                BodyReader::Length(left) => {
                    let n = (*left).min(pending.len() as u64) as usize;
                    sink(&pending[..n]);
                    self.start += n;
                    *left -= n as u64;
                    return Ok(false);
                }
                BodyReader::Chunked(d) => {
                    let (n, data) = d.decode(pending).map_err(BodyError::Framing)?;
                    let got = data.is_some();
                    if let Some(r) = data {
                        sink(&pending[r]);
                    }
                    self.start += n;
                    if d.is_done() {
                        *reader = BodyReader::Done;
                        return Ok(true);
                    }
                    if got {
                        return Ok(false);
                    }
                }
                BodyReader::Done => return Ok(true),
            }
        }
    }

    /// Fills the handler's body on demand, sending `100 Continue` first where it is owed.
    async fn pump(
        &mut self,
        reader: &mut BodyReader,
        shared: &RefCell<BodyShared>,
        continue_owed: &mut bool,
    ) -> Infallible {
        loop {
            poll_fn(|cx| {
                let mut s = shared.borrow_mut();
                if s.wanted {
                    Poll::Ready(())
                } else {
                    s.pump = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
            if core::mem::take(continue_owed)
                && self
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .await
                    .is_err()
            {
                shared.borrow_mut().finish(BodyState::Failed(BodyError::Io));
                return futures::future::pending().await;
            }
            let r = self
                .body_step(reader, &mut |d| {
                    shared.borrow_mut().data.extend_from_slice(d);
                })
                .await;
            let open = {
                let mut s = shared.borrow_mut();
                match r {
                    Ok(false) => {
                        s.wanted = false;
                        if let Some(w) = s.reader.take() {
                            w.wake();
                        }
                    }
                    Ok(true) => s.finish(BodyState::Done),
                    Err(e) => s.finish(BodyState::Failed(e)),
                }
                s.state == BodyState::Open
            };
            if !open {
                return futures::future::pending().await;
            }
        }
    }

    /// Serves requests until the connection should close; returns whether to close it politely
    /// (linger) rather than just drop it.
    async fn run(&mut self, router: &Router) -> bool {
        loop {
            let head = match self.read_head().await {
                Ok(head) => head,
                Err(HeadError::Closed) => return false,
                Err(HeadError::TimedOut) => {
                    return self.refuse(StatusCode::REQUEST_TIMEOUT).await;
                }
                Err(HeadError::Bad(e)) => {
                    log::debug!("http: refused a request: {e}");
                    return self.refuse(e.status).await;
                }
            };
            match self.exchange(head, router).await {
                Ok(true) => {}
                Ok(false) => return true,
                Err(Gone) => return false,
            }
        }
    }

    /// Answers an unusable request with `status` and `Connection: close`.
    async fn refuse(&mut self, status: StatusCode) -> bool {
        let ctx = Exchange::refused();
        self.respond(Response::error(status), &ctx, true)
            .await
            .is_ok()
    }

    /// One request and its response; `Ok(true)` to keep the connection for the next one.
    async fn exchange(&mut self, head: RequestHead, router: &Router) -> Result<bool, Gone> {
        let started = Instant::now();
        let mut keep = head.keep_alive;
        let (method, version) = (head.method, head.version);
        let path = head.path.clone();
        let req_headers = head.headers.clone();
        let mut reader = match head.framing {
            Framing::Length(n) => BodyReader::Length(n),
            Framing::Chunked => BodyReader::Chunked(ChunkedDecoder::new(&self.config.limits)),
            Framing::None | Framing::Close => BodyReader::Done,
        };
        let mut continue_owed = head.expect_continue;
        let shared = match reader {
            BodyReader::Done => None,
            _ => Some(Rc::new(RefCell::new(BodyShared::new()))),
        };
        let body = shared
            .clone()
            .map_or_else(RequestBody::empty, RequestBody::shared);
        let handler = router.dispatch(Request::new(head, body));
        let mut resp = match &shared {
            None => handler.await,
            Some(shared) => {
                let pump = pin!(self.pump(&mut reader, shared, &mut continue_owed));
                match select(handler, pump).await {
                    Either::Left((resp, _)) => resp,
                    Either::Right((never, _)) => match never {},
                }
            }
        };
        if let Some(shared) = &shared {
            let state = shared.borrow().state;
            shared
                .borrow_mut()
                .finish(BodyState::Failed(BodyError::Gone));
            match state {
                BodyState::Failed(BodyError::Framing(e)) => {
                    resp = Response::error(e.status());
                    keep = false;
                }
                BodyState::Failed(BodyError::TimedOut) => {
                    resp = Response::error(StatusCode::REQUEST_TIMEOUT);
                    keep = false;
                }
                BodyState::Failed(_) => return Err(Gone),
                BodyState::Open if continue_owed => {
                    // The client waits for our word before sending the body; without reading
                    // it we cannot find the next request, so this is the last one.
                    keep = false;
                }
                BodyState::Open | BodyState::Done => {}
            }
        }
        conditional::apply(method, &req_headers, &mut resp);
        let ctx = Exchange {
            method: Some(method),
            path: &path,
            version,
            started,
        };
        let kept = self.respond(resp, &ctx, !keep).await?;
        if !kept {
            return Ok(false);
        }
        // Skip what the handler left of the body, so the next request can be found.
        let mut skip = |_: &[u8]| {};
        loop {
            match self.body_step(&mut reader, &mut skip).await {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(_) => return Ok(false),
            }
        }
    }

    /// Writes `resp` (for `ctx`); `close` adds `Connection: close`. Returns whether the
    /// connection may serve another request.
    async fn respond(
        &mut self,
        resp: Response,
        ctx: &Exchange<'_>,
        mut close: bool,
    ) -> Result<bool, Gone> {
        let (status, headers, mut body) = resp.into_parts();
        let head_only = ctx.method == Some(Method::Head) || status.forbids_body();
        // The framing: a length, chunks, or the end of the connection.
        let length = if status.forbids_body() {
            None
        } else {
            body.len()
        };
        let chunked = !status.forbids_body() && length.is_none() && ctx.version == Version::Http11;
        if !status.forbids_body() && length.is_none() && ctx.version == Version::Http10 {
            close = true;
        }
        let mut out = Vec::with_capacity(256);
        write_head(
            &mut out,
            status,
            &headers,
            length,
            chunked,
            close,
            ctx.version,
        );
        let mut sent = 0u64;
        if head_only {
            self.write_all(&out).await?;
        } else {
            match &mut body {
                Body::Empty => self.write_all(&out).await?,
                Body::Static(b) => {
                    sent = self.write_small_or_big(&mut out, b).await?;
                }
                Body::Bytes(b) => {
                    sent = self.write_small_or_big(&mut out, b).await?;
                }
                Body::Stream { len, stream } => {
                    self.write_all(&out).await?;
                    let mut header = [0u8; 20];
                    while let Some(piece) = stream.next().await {
                        if piece.is_empty() {
                            continue;
                        }
                        let piece = match len {
                            Some(l) => &piece[..piece.len().min((*l - sent) as usize)],
                            None => &piece[..],
                        };
                        if chunked {
                            let n = chunk_header(piece.len(), &mut header);
                            self.write_all(&header[..n]).await?;
                        }
                        self.write_all(piece).await?;
                        if chunked {
                            self.write_all(b"\r\n").await?;
                        }
                        sent += piece.len() as u64;
                        if len.is_some_and(|l| sent >= l) {
                            break;
                        }
                    }
                    if chunked {
                        self.write_all(LAST_CHUNK).await?;
                    }
                    if len.is_some_and(|l| sent != l) {
                        log::warn!("http: a stream ended at {sent} bytes of its {len:?}");
                        close = true;
                    }
                }
            }
        }
        let _ = timeout(self.config.io_timeout, self.io.flush()).await;
        let micros = u64::try_from(ctx.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.config.access_log.record(&AccessRecord {
            method: ctx.method,
            path: ctx.path,
            status,
            bytes: sent,
            micros,
        });
        Ok(!close)
    }

    /// Writes the head and a body from memory: in one write when small, else in two.
    async fn write_small_or_big(&mut self, out: &mut Vec<u8>, body: &[u8]) -> Result<u64, Gone> {
        if body.len() <= 1024 {
            out.extend_from_slice(body);
            self.write_all(out).await?;
        } else {
            self.write_all(out).await?;
            self.write_all(body).await?;
        }
        Ok(body.len() as u64)
    }

    /// Closes politely: shuts the sending side, then reads and drops what still comes, for at
    /// most `wait` and 64 KiB, so that the client reads our answer rather than a reset.
    async fn linger(&mut self, wait: Duration) {
        self.io.close_write();
        let deadline = Instant::now() + wait;
        let mut dropped = 0usize;
        while dropped < 64 * 1024 {
            self.start = 0;
            self.end = 0;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.fill(left).await {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
    }
}

/// The response head: status line, the handler's fields (those the server owns replaced, and
/// any with bytes that could split the response dropped), `Date`, framing and `Connection`.
fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &Headers,
    length: Option<u64>,
    chunked: bool,
    close: bool,
    version: Version,
) {
    let mut w = VecWriter(out);
    let _ = write!(w, "HTTP/1.1 {} {}\r\n", status.as_u16(), status.reason());
    let date = HttpDate::now();
    for (name, value) in headers.iter() {
        let owned = [
            "connection",
            "content-length",
            "transfer-encoding",
            "keep-alive",
        ]
        .iter()
        .any(|o| name.eq_ignore_ascii_case(o))
            || (date.is_some() && name.eq_ignore_ascii_case("date"));
        let valid = !name.is_empty()
            && name.bytes().all(is_tchar)
            && value.iter().all(|&b| is_field_value_byte(b));
        if owned || !valid {
            if !valid {
                log::warn!(
                    "http: dropped an invalid response field \"{}\"",
                    Escaped(name.as_bytes())
                );
            }
            continue;
        }
        w.0.extend_from_slice(name.as_bytes());
        w.0.extend_from_slice(b": ");
        w.0.extend_from_slice(value);
        w.0.extend_from_slice(b"\r\n");
    }
    if let Some(date) = date {
        let _ = write!(w, "Date: {date}\r\n");
    }
    if let Some(len) = length {
        if !(status == StatusCode::NO_CONTENT || status.is_informational()) {
            let _ = write!(w, "Content-Length: {len}\r\n");
        }
    } else if chunked {
        w.0.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if close {
        w.0.extend_from_slice(b"Connection: close\r\n");
    } else if version == Version::Http10 {
        w.0.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    w.0.extend_from_slice(b"\r\n");
}

/// Bytes for a log line: printable ASCII as it is, anything else (and `"`, `\\`) as `\xNN`. Not
/// `{:?}`, which would link in core's string escaper and Unicode tables for one log line.
struct Escaped<'a>(&'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
