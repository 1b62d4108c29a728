//! HTTP/1.1 server and client for Morgana appliances, on the netstack's `TcpListener`.
//!
//! ```no_run
//! # async fn run(stack: morgana_netstack::iface::StackHandle) {
//! use morgana_http::{AccessLog, Config, Request, Response, Router, StatusCode, serve};
//! use morgana_netstack::iface::TcpListener;
//!
//! async fn index(_req: Request) -> Response {
//!     Response::ok("<h1>hello</h1>\n")
//!         .with_header("Content-Type", "text/html")
//!         .with_header("ETag", "\"v1\"")
//! }
//!
//! let router = Router::new()
//!     .get("/", index)
//!     .post("/echo", |mut req: Request| async move {
//!         match req.body_bytes().await {
//!             Ok(body) => Response::ok(body),
//!             Err(_) => Response::error(StatusCode::BAD_REQUEST),
//!         }
//!     })
//!     .fallback(|_req: Request| async { Response::error(StatusCode::NOT_FOUND) });
//! let config = Config { access_log: AccessLog::Log, ..Config::default() };
//! serve(TcpListener::bind(&stack, 80).unwrap(), router, config).await;
//! # }
//! ```
//!
//! # Layers
//!
//! - [`parse`]: the request-head scanner and parser (limits, strictness), pure;
//!   [`chunked`]: the chunked decoder and encoder framing, pure; [`date`]: HTTP dates;
//!   [`conditional`]: `304`s and byte ranges, pure.
//! - [`message`]: [`Request`] (with a body read on demand) and [`Response`] (with a static,
//!   owned or streamed [`Body`]); [`router`]: the [`Router`].
//! - [`server`]: the connection loop over any `embedded-io-async` stream ([`serve_connection`])
//!   and the accept loop over `TcpListener` ([`serve`]); [`client`]: the [`Client`].
//! - [`fuzz`]: the fuzz targets' bodies (`fuzz/` runs them under cargo-fuzz; the tests run them
//!   over a corpus and seeded inputs).
//!
//! # Why our own parser and not httparse
//!
//! httparse is fast, `no_std` and well fuzzed, but it parses a head that is already in a buffer
//! and leaves the rest to the caller: it has no notion of our limits (request-line bytes → 414,
//! header bytes and count → 431, checked as bytes arrive so a slow or huge head is refused
//! early), it accepts things we refuse (bare LF line endings; and the framing rules of RFC 9112
//! §6 — Content-Length with Transfer-Encoding, differing Content-Lengths, codings other than a
//! final `chunked` — are not its business), and its errors are not our statuses. The head
//! grammar is small; owning it puts every limit, every refusal and its status in one file
//! ([`parse`]) with its tests, and keeps the crate free of dependencies beyond the workspace's.
//!
//! # Line endings: CRLF only
//!
//! RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator. We do not: a bare LF
//! or bare CR anywhere in a request head or chunk line is a `400` and a close. An appliance may
//! sit behind a proxy that splits lines differently, and parsers that disagree on where a line
//! ends are how requests get smuggled; every real client sends CRLF.
//!
//! # What the server does
//!
//! HTTP/1.0 and 1.1 (1.2+ answered as 1.1, 2+ → 505); origin-form, absolute-form and `*`
//! (OPTIONS) targets; persistent connections (1.1 by default, 1.0 on `Connection: keep-alive`)
//! with pipelining (read ahead, answered in order); `HEAD`; `Expect: 100-continue` answered only
//! when the handler reads the body (otherwise the connection closes after the answer); request
//! bodies by Content-Length or chunked (with limits: 413); responses by Content-Length, chunked
//! (streams in 1.1) or close-delimited (streams in 1.0); `Date` from the platform's wall clock;
//! conditional GET and single byte ranges (see [`conditional`]: several ranges get the whole
//! `200`); a connection cap (`503` and close beyond it); idle, head and I/O timeouts (see
//! [`server`]); errors 400, 404, 405 (with `Allow`), 408, 413, 414, 416, 417, 431, 501, 505,
//! each after a framing problem with `Connection: close` and a lingering close; an access log.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod chunked;
pub mod client;
pub mod conditional;
pub mod date;
pub mod fuzz;
pub mod headers;
pub mod message;
pub mod parse;
pub mod router;
pub mod server;
pub mod site;
pub mod status;

pub use client::{Client, ClientError, ClientResponse};
pub use date::HttpDate;
pub use headers::Headers;
pub use message::{Body, BodyError, Request, RequestBody, Response};
pub use parse::{Framing, Limits, Method, ParseError, Version};
pub use router::Router;
pub use server::{
    AccessLog, AccessRecord, Config, Connection, Listener, serve, serve_connection, serve_on,
};
pub use site::{Site, SiteFile};
pub use status::StatusCode;

#[cfg(test)]
mod tests;
