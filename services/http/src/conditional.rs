//! Conditional requests (RFC 9110 §13) and byte ranges (RFC 9110 §14), applied by the server
//! to a handler's `200 OK` for `GET`/`HEAD`: a handler only sets `ETag` and/or `Last-Modified`.
//!
//! - Evaluated in RFC 9110 §13.2.2's order: `If-Match` (strong comparison; `*` matches) →
//!   `412 Precondition Failed` when nothing matches; when it is absent, `If-Unmodified-Since`
//!   against `Last-Modified` → 412 when modified since. Then `If-None-Match` (weak comparison;
//!   `*` matches) → `304 Not Modified`; when it is absent, `If-Modified-Since` → 304. Dates in
//!   any of the three formats; an unparsable date is ignored, as §13.1.3 and §13.1.4 say.
//!   These apply to `GET`/`HEAD` answers only: a handler of a state-changing method has acted
//!   by the time the server sees its answer, so it checks its own preconditions.
//! - `Range: bytes=a-b`, `a-`, `-n` on an in-memory body → `206 Partial Content` with
//!   `Content-Range`; a range that starts past the end → `416` with `Content-Range: bytes */len`.
//!   In-memory `200`s advertise `Accept-Ranges: bytes`.
//! - Not done: multipart ranges (a request for several ranges gets the whole `200`, which RFC
//!   9110 §14.2 allows) and ranges of streamed bodies (also the whole `200`). An unparsable
//!   `Range` is ignored, as §14.2 allows.

use alloc::format;
use alloc::vec::Vec;

use crate::date::HttpDate;
use crate::headers::{Headers, trim};
use crate::message::{Body, Response};
use crate::parse::Method;
use crate::status::StatusCode;

/// An entity tag: whether it is weak, and its opaque part with the quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ETag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

/// Parses one entity tag at the start of `s`; returns it and the rest.
fn etag(s: &[u8]) -> Option<(ETag<'_>, &[u8])> {
    let (weak, s) = match s {
        [b'W', b'/', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if s.first() != Some(&b'"') {
        return None;
    }
    let end = 1 + s[1..].iter().position(|&b| b == b'"')?;
    let opaque = &s[..=end];
    // etagc = %x21 / %x23-7E / obs-text
    if !opaque[1..end]
        .iter()
        .all(|&b| b == 0x21 || b >= 0x23 && b != 0x7f)
    {
        return None;
    }
    Some((ETag { weak, opaque }, &s[end + 1..]))
}

/// Whether an `If-None-Match` list matches `current` (weak comparison, RFC 9110 §8.8.3.2).
fn none_match(values: impl Iterator<Item = impl AsRef<[u8]>>, current: Option<ETag>) -> bool {
    for v in values {
        let mut s = trim(v.as_ref());
        if s == b"*" {
            return true;
        }
        while !s.is_empty() {
            let Some((tag, rest)) = etag(s) else {
                return false;
            };
            if current.is_some_and(|c| c.opaque == tag.opaque) {
                return true;
            }
            s = trim(rest);
            match s {
                [b',', rest @ ..] => s = trim(rest),
                [] => {}
                _ => return false,
            }
        }
    }
    false
}

/// Whether an `If-Match` list matches `current` (strong comparison, RFC 9110 §13.1.1): `*`
/// matches any current representation; a weak tag on either side never matches; a list that
/// does not parse matches nothing.
fn any_match(values: impl Iterator<Item = impl AsRef<[u8]>>, current: Option<ETag>) -> bool {
    for v in values {
        let mut s = trim(v.as_ref());
        if s == b"*" {
            return true;
        }
        while !s.is_empty() {
            let Some((tag, rest)) = etag(s) else {
                return false;
            };
            if current.is_some_and(|c| !c.weak && !tag.weak && c.opaque == tag.opaque) {
                return true;
            }
            s = trim(rest);
            match s {
                [b',', rest @ ..] => s = trim(rest),
                [] => {}
                _ => return false,
            }
        }
    }
    false
}

/// The single range of a `Range` value against a representation of `len` bytes:
/// `Some(Ok(a..=b))`, `Some(Err(()))` if unsatisfiable, `None` to ignore the field (bad syntax,
/// another unit, or several ranges).
fn single_range(value: &[u8], len: u64) -> Option<Result<(u64, u64), ()>> {
    let eq = value.iter().position(|&b| b == b'=')?;
    if !trim(&value[..eq]).eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs = value[eq + 1..]
        .split(|&b| b == b',')
        .map(trim)
        .filter(|s| !s.is_empty());
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let dash = spec.iter().position(|&b| b == b'-')?;
    let number = |s: &[u8]| -> Option<u64> {
        if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        core::str::from_utf8(s).ok()?.parse().ok()
    };
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        let n = number(last)?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len - 1)));
    }
    let a = number(first)?;
    let b = if last.is_empty() {
        u64::MAX
    } else {
        number(last)?
    };
    if a > b {
        return None;
    }
    if a >= len {
        return Some(Err(()));
    }
    Some(Ok((a, b.min(len - 1))))
}

/// The fields a 304 keeps (RFC 9110 §15.4.5), plus `Last-Modified` for caches.
const KEPT_BY_304: [&str; 7] = [
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
    "last-modified",
];

fn not_modified(resp: &mut Response) {
    resp.set_status(StatusCode::NOT_MODIFIED);
    resp.headers_mut()
        .retain(|n| KEPT_BY_304.iter().any(|k| n.eq_ignore_ascii_case(k)));
    *resp.body_mut() = Body::Empty;
}

/// Whether the request's preconditions on the server's state fail (RFC 9110 §13.2.2 steps 1
/// and 2): `If-Match`, else `If-Unmodified-Since`.
fn precondition_fails(req: &Headers, resp: &Headers) -> bool {
    if req.contains("if-match") {
        let current = resp.get("etag").and_then(|v| etag(trim(v))).map(|t| t.0);
        return !any_match(req.get_all("if-match"), current);
    }
    let since = req.get("if-unmodified-since").and_then(HttpDate::parse);
    let modified = resp.get("last-modified").and_then(HttpDate::parse);
    matches!((since, modified), (Some(s), Some(m)) if m > s)
}

fn precondition_failed(resp: &mut Response) {
    resp.set_status(StatusCode::PRECONDITION_FAILED);
    let h = resp.headers_mut();
    h.retain(|n| n.eq_ignore_ascii_case("date"));
    h.insert("Content-Type", "text/plain; charset=utf-8");
    *resp.body_mut() = Body::Bytes(Vec::from(&b"412 Precondition Failed\n"[..]));
}

/// Whether the request's validators say the client's copy is current.
fn is_not_modified(req: &Headers, resp: &Headers) -> bool {
    if req.contains("if-none-match") {
        let current = resp.get("etag").and_then(|v| etag(trim(v))).map(|t| t.0);
        return none_match(req.get_all("if-none-match"), current);
    }
    let since = req.get("if-modified-since").and_then(HttpDate::parse);
    let modified = resp.get("last-modified").and_then(HttpDate::parse);
    matches!((since, modified), (Some(s), Some(m)) if m <= s)
}

/// Whether `If-Range` (if any) lets the range apply: a strong ETag match or an exact
/// `Last-Modified` date.
fn if_range_holds(req: &Headers, resp: &Headers) -> bool {
    let Some(cond) = req.get("if-range").map(trim) else {
        return true;
    };
    if let Some((tag, [])) = etag(cond) {
        let current = resp.get("etag").and_then(|v| etag(trim(v))).map(|t| t.0);
        return !tag.weak && current.is_some_and(|c| !c.weak && c.opaque == tag.opaque);
    }
    let date = HttpDate::parse(cond);
    date.is_some() && date == resp.get("last-modified").and_then(HttpDate::parse)
}

/// Applies the conditionals and ranges of the request (`method`, `req`) to `resp`.
pub(crate) fn apply(method: Method, req: &Headers, resp: &mut Response) {
    if !matches!(method, Method::Get | Method::Head) || resp.status() != StatusCode::OK {
        return;
    }
    if precondition_fails(req, resp.headers()) {
        precondition_failed(resp);
        return;
    }
    if is_not_modified(req, resp.headers()) {
        not_modified(resp);
        return;
    }
    let Some(len) = resp.body().as_bytes().map(|b| b.len() as u64) else {
        return;
    };
    resp.headers_mut().insert("Accept-Ranges", "bytes");
    if method != Method::Get || !if_range_holds(req, resp.headers()) {
        return;
    }
    let Some(range) = req.get("range").and_then(|r| single_range(r, len)) else {
        return;
    };
    match range {
        Ok((a, b)) => {
            resp.set_status(StatusCode::PARTIAL_CONTENT);
            resp.headers_mut()
                .insert("Content-Range", format!("bytes {a}-{b}/{len}"));
            let (a, b) = (a as usize, b as usize + 1);
            let body = resp.body_mut();
            *body = match core::mem::replace(body, Body::Empty) {
                Body::Static(s) => Body::Static(&s[a..b]),
                Body::Bytes(mut v) => {
                    v.truncate(b);
                    v.drain(..a);
                    Body::Bytes(v)
                }
                other => other,
            };
        }
        Err(()) => {
            resp.set_status(StatusCode::RANGE_NOT_SATISFIABLE);
            let h = resp.headers_mut();
            h.insert("Content-Range", format!("bytes */{len}"));
            h.insert("Content-Type", "text/plain; charset=utf-8");
            *resp.body_mut() = Body::Bytes(Vec::from(&b"416 Range Not Satisfiable\n"[..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists() {
        let cur = etag(b"\"a,b\"").map(|t| t.0);
        assert!(none_match([&b"\"x\", \"a,b\""[..]].iter(), cur));
        assert!(none_match([&b"W/\"a,b\""[..]].iter(), cur));
        assert!(none_match([&b"*"[..]].iter(), None));
        assert!(!none_match([&b"\"x\""[..]].iter(), cur));
        assert!(!none_match([&b"\"a,b"[..]].iter(), cur));
        assert!(!none_match([&b"a"[..]].iter(), cur));
    }

    #[test]
    fn if_match_compares_strongly() {
        let strong = etag(b"\"v1\"").map(|t| t.0);
        let weak = etag(b"W/\"v1\"").map(|t| t.0);
        assert!(any_match([&b"\"v0\", \"v1\""[..]].iter(), strong));
        assert!(!any_match([&b"W/\"v1\""[..]].iter(), strong));
        assert!(!any_match([&b"\"v1\""[..]].iter(), weak));
        assert!(any_match([&b"*"[..]].iter(), None));
        assert!(!any_match([&b"\"v2\""[..]].iter(), strong));
        assert!(!any_match([&b"v1"[..]].iter(), strong));
        assert!(!any_match([&b"\"v1\""[..]].iter(), None));
    }

    #[test]
    fn ranges() {
        let r = |s: &str| single_range(s.as_bytes(), 10);
        assert_eq!(r("bytes=0-4"), Some(Ok((0, 4))));
        assert_eq!(r("bytes=5-"), Some(Ok((5, 9))));
        assert_eq!(r("bytes=-3"), Some(Ok((7, 9))));
        assert_eq!(r("bytes=-30"), Some(Ok((0, 9))));
        assert_eq!(r("bytes=8-100"), Some(Ok((8, 9))));
        assert_eq!(r("Bytes = 1-1"), Some(Ok((1, 1))));
        assert_eq!(r("bytes=10-"), Some(Err(())));
        assert_eq!(r("bytes=-0"), Some(Err(())));
        assert_eq!(r("bytes=4-3"), None);
        assert_eq!(r("bytes=0-1,3-4"), None);
        assert_eq!(r("items=0-1"), None);
        assert_eq!(r("bytes=a-b"), None);
        assert_eq!(r("bytes=-"), None);
        assert_eq!(r("bytes=99999999999999999999-"), None);
        assert_eq!(single_range(b"bytes=0-", 0), Some(Err(())));
    }
}
