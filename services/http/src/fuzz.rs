//! The bodies of the fuzz targets in `services/http/fuzz/`, as plain functions.
//!
//! They live here, compiled always, so that the ordinary `cargo test` runs the very same bodies
//! over the saved corpus and seeded pseudo-random inputs (`tests/fuzz.rs`). Nothing calls them
//! in an appliance, so no image links them. A panic anywhere, an assertion included, is a
//! finding.

use alloc::vec::Vec;

use crate::chunked::{ChunkError, ChunkedDecoder};
use crate::parse::{HeadScanner, Limits, parse_request, parse_response};

/// Small limits, so that short inputs reach every limit.
fn small_limits() -> Limits {
    Limits {
        max_request_line: 64,
        max_header_bytes: 128,
        max_headers: 4,
        max_body: 256,
        max_chunk_line: 16,
        max_trailer_bytes: 32,
    }
}

/// Scans `data` fed in pieces of `step` bytes, as the server does.
fn scan_in_pieces(data: &[u8], step: usize, limits: &Limits) -> Result<Option<usize>, u16> {
    let mut scanner = HeadScanner::new();
    let mut end = 0;
    loop {
        end = (end + step).min(data.len());
        match scanner.scan(&data[..end], limits) {
            Ok(Some(len)) => return Ok(Some(len)),
            Ok(None) if end == data.len() => return Ok(None),
            Ok(None) => {}
            Err(e) => return Err(e.status.as_u16()),
        }
    }
}

/// A request head: scanned whole and in pieces (which must agree), then parsed; what parses is
/// checked for the invariants the server relies on. Also parsed as a response head.
pub fn request_head(data: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        let whole = scan_in_pieces(data, data.len().max(1), &limits);
        let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 7);
        assert_eq!(
            whole,
            scan_in_pieces(data, step, &limits),
            "the scanner's answer must not depend on how the bytes arrive"
        );
        if let Ok(Some(len)) = whole {
            assert!(len <= data.len());
            assert!(len <= limits.head_buffer(), "a head fits the buffer");
            let head = &data[..len];
            assert!(head.ends_with(b"\r\n\r\n"));
            if let Ok(req) = parse_request(head, &limits) {
                assert!(req.path.starts_with('/') || req.path == "*");
                assert!(req.headers.len() <= limits.max_headers);
                if let crate::parse::Framing::Length(n) = req.framing {
                    assert!(n <= limits.max_body);
                }
                // What a baked site does with the request: decode the path, read the encodings.
                if let Some(path) = crate::site::decode_path(&req.path) {
                    assert!(!path.split('/').any(|seg| seg == ".." || seg == "."));
                }
                let _ = crate::site::accepts_gzip(req.headers.get_all("Accept-Encoding"));
                conditionals(&req.headers);
                assert_eq!(parse_request(head, &limits), Ok(req), "parsing is pure");
            }
            let _ = parse_response(head);
        }
    }
}

/// What the server makes of a GET's validators and ranges on a small file: one of the statuses
/// they may give, and a 206 that holds only bytes of the file.
fn conditionals(headers: &crate::headers::Headers) {
    use crate::message::{Body, Response};
    use crate::parse::Method;
    use crate::status::StatusCode;
    const FILE: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    let mut resp = Response::new(StatusCode::OK)
        .with_header("Content-Type", "text/plain")
        .with_header("ETag", "\"v1\"")
        .with_header("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")
        .with_body(Body::Static(FILE));
    crate::conditional::apply(Method::Get, headers, &mut resp);
    let status = resp.status().as_u16();
    assert!(
        [200, 206, 304, 412, 416].contains(&status),
        "conditionals gave {status}"
    );
    if status == 206 {
        let body = resp.body().as_bytes().expect("a 206 is in memory");
        let single = resp.headers().get("content-range").is_some();
        if single {
            assert!(!body.is_empty() && FILE.windows(body.len()).any(|w| w == body));
        } else {
            // Each part is at most the file and its headers.
            let most = crate::conditional::MAX_RANGES * (FILE.len() + 128) + 64;
            assert!(body.len() <= most, "{} bytes of parts", body.len());
        }
    }
}

/// A chunked body: decoded whole and in pieces (which must agree), within the limits.
pub fn chunked(data: &[u8]) {
    let limits = small_limits();
    let decode = |step: usize| -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut d = ChunkedDecoder::new(&limits);
        let mut out = Vec::new();
        let mut consumed = 0;
        let mut fed = 0;
        while !d.is_done() {
            if consumed == fed {
                if fed == data.len() {
                    break;
                }
                fed = (fed + step).min(data.len());
            }
            let (n, span) = d.decode(&data[consumed..fed])?;
            assert!(consumed + n <= fed, "consumes only what it is given");
            if let Some(r) = span {
                assert!(r.end <= n && !r.is_empty());
                out.extend_from_slice(&data[consumed..fed][r]);
            }
            consumed += n;
        }
        assert!(out.len() as u64 <= limits.max_body);
        assert_eq!(out.len() as u64, d.total().min(out.len() as u64));
        Ok((out, consumed, d.is_done()))
    };
    let whole = decode(data.len().max(1));
    let step = 1 + usize::from(data.first().copied().unwrap_or(0) % 5);
    assert_eq!(whole, decode(step), "pieces must not change the result");
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name, for the stable tests.
pub const TARGETS: [(&str, Target); 2] = [("request_head", request_head), ("chunked", chunked)];
