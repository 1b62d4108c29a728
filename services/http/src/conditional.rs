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
//!   `Content-Range`; several ranges → one `206` of `multipart/byteranges` (RFC 9110 §14.6)
//!   with a part per range in the order asked; ranges that start past the end are dropped, and
//!   when none is left → `416` with `Content-Range: bytes */len`. In-memory `200`s advertise
//!   `Accept-Ranges: bytes`.
//! - Against range abuse (§14.2 lets a server ignore such a `Range`): more than
//!   [`MAX_RANGES`] ranges, or ranges that overlap, get the whole `200`. So does an unparsable
//!   `Range`.
//! - Not done: ranges of streamed bodies (they get the whole `200`).

use alloc::format;
use alloc::string::String;
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

/// Whether a list of entity tags (`If-None-Match`, `If-Match`) matches `current`: `*` matches
/// any current representation; with `strong` (RFC 9110 §8.8.3.2's strong comparison, for
/// `If-Match`) a weak tag on either side never matches, else the opaque parts are compared
/// (weak comparison, for `If-None-Match`). A list that does not parse matches nothing.
fn tag_matches(
    values: impl Iterator<Item = impl AsRef<[u8]>>,
    current: Option<ETag>,
    strong: bool,
) -> bool {
    for v in values {
        let mut s = trim(v.as_ref());
        if s == b"*" {
            return true;
        }
        while !s.is_empty() {
            let Some((tag, rest)) = etag(s) else {
                return false;
            };
            if current.is_some_and(|c| c.opaque == tag.opaque && !(strong && (c.weak || tag.weak)))
            {
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

/// The most ranges one request may ask for; more get the whole representation.
pub const MAX_RANGES: usize = 16;

/// The ranges of a `Range` value against a representation of `len` bytes, in the order asked:
/// `Some(Ok(ranges))` (each `(first, last)` inclusive, at least one), `Some(Err(()))` if none
/// is satisfiable, `None` to ignore the field (bad syntax, another unit, more than
/// [`MAX_RANGES`], or overlapping ranges).
fn byte_ranges(value: &[u8], len: u64) -> Option<Result<Vec<(u64, u64)>, ()>> {
    let eq = value.iter().position(|&b| b == b'=')?;
    if !trim(&value[..eq]).eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut ranges = Vec::new();
    let mut asked = 0;
    for spec in value[eq + 1..]
        .split(|&b| b == b',')
        .map(trim)
        .filter(|s| !s.is_empty())
    {
        asked += 1;
        if asked > MAX_RANGES {
            return None;
        }
        if let Some(range) = range_spec(spec, len)? {
            ranges.push(range);
        }
    }
    if asked == 0 {
        return None;
    }
    if ranges.is_empty() {
        return Some(Err(()));
    }
    // At most MAX_RANGES: comparing each pair costs less than a sort's code.
    let overlap = |(a, b): (u64, u64), (c, d): (u64, u64)| a <= d && c <= b;
    if ranges
        .iter()
        .enumerate()
        .any(|(i, &r)| ranges[..i].iter().any(|&q| overlap(q, r)))
    {
        return None;
    }
    Some(Ok(ranges))
}

/// One `first-last`, `first-` or `-suffix`: `Some(Some(range))`, `Some(None)` when it is not
/// satisfiable, `None` when it does not parse.
fn range_spec(spec: &[u8], len: u64) -> Option<Option<(u64, u64)>> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let number = |s: &[u8]| -> Option<u64> {
        if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        core::str::from_utf8(s).ok()?.parse().ok()
    };
    let (first, last) = (trim(&spec[..dash]), trim(&spec[dash + 1..]));
    if first.is_empty() {
        let n = number(last)?;
        if n == 0 || len == 0 {
            return Some(None);
        }
        return Some(Some((len.saturating_sub(n), len - 1)));
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
        return Some(None);
    }
    Some(Some((a, b.min(len - 1))))
}

/// A `multipart/byteranges` body of `ranges` of `body` (RFC 9110 §14.6), each part with the
/// representation's `content_type` (if any) and its `Content-Range`. The boundary carries a
/// hash of the body, so it cannot be predicted to collide with it.
fn multipart(body: &[u8], ranges: &[(u64, u64)], content_type: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = format!("morgana-{:016x}", fnv1a(body));
    let len = body.len();
    let mut out = Vec::new();
    for &(a, b) in ranges {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Range: bytes {a}-{b}/{len}\r\n\r\n").as_bytes());
        out.extend_from_slice(&body[a as usize..=b as usize]);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    (boundary, out)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
        return !tag_matches(req.get_all("if-match"), current, true);
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
        return tag_matches(req.get_all("if-none-match"), current, false);
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
    let Some(ranges) = req.get("range").and_then(|r| byte_ranges(r, len)) else {
        return;
    };
    match ranges.as_deref() {
        Ok(&[(a, b)]) => {
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
        Ok(several) => {
            let Some(bytes) = resp.body().as_bytes() else {
                return;
            };
            let content_type = resp.headers().get("content-type");
            let (boundary, parts) = multipart(bytes, several, content_type);
            resp.set_status(StatusCode::PARTIAL_CONTENT);
            resp.headers_mut().insert(
                "Content-Type",
                format!("multipart/byteranges; boundary={boundary}"),
            );
            *resp.body_mut() = Body::Bytes(parts);
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
        assert!(tag_matches([&b"\"x\", \"a,b\""[..]].iter(), cur, false));
        assert!(tag_matches([&b"W/\"a,b\""[..]].iter(), cur, false));
        assert!(tag_matches([&b"*"[..]].iter(), None, false));
        assert!(!tag_matches([&b"\"x\""[..]].iter(), cur, false));
        assert!(!tag_matches([&b"\"a,b"[..]].iter(), cur, false));
        assert!(!tag_matches([&b"a"[..]].iter(), cur, false));
    }

    #[test]
    fn if_match_compares_strongly() {
        let strong = etag(b"\"v1\"").map(|t| t.0);
        let weak = etag(b"W/\"v1\"").map(|t| t.0);
        assert!(tag_matches([&b"\"v0\", \"v1\""[..]].iter(), strong, true));
        assert!(!tag_matches([&b"W/\"v1\""[..]].iter(), strong, true));
        assert!(!tag_matches([&b"\"v1\""[..]].iter(), weak, true));
        assert!(tag_matches([&b"*"[..]].iter(), None, true));
        assert!(!tag_matches([&b"\"v2\""[..]].iter(), strong, true));
        assert!(!tag_matches([&b"v1"[..]].iter(), strong, true));
        assert!(!tag_matches([&b"\"v1\""[..]].iter(), None, true));
    }

    #[test]
    fn ranges() {
        let r = |s: &str| byte_ranges(s.as_bytes(), 10);
        let one = |a, b| Some(Ok(alloc::vec![(a, b)]));
        assert_eq!(r("bytes=0-4"), one(0, 4));
        assert_eq!(r("bytes=5-"), one(5, 9));
        assert_eq!(r("bytes=-3"), one(7, 9));
        assert_eq!(r("bytes=-30"), one(0, 9));
        assert_eq!(r("bytes=8-100"), one(8, 9));
        assert_eq!(r("Bytes = 1-1"), one(1, 1));
        assert_eq!(r("bytes=10-"), Some(Err(())));
        assert_eq!(r("bytes=-0"), Some(Err(())));
        assert_eq!(r("bytes=4-3"), None);
        assert_eq!(r("bytes=0-1,3-4"), Some(Ok(alloc::vec![(0, 1), (3, 4)])));
        // In the order asked; unsatisfiable ones dropped.
        assert_eq!(
            r("bytes=-2, 0-0, 20-30"),
            Some(Ok(alloc::vec![(8, 9), (0, 0)]))
        );
        assert_eq!(r("bytes=20-, 30-"), Some(Err(())));
        // Overlapping or too many: the whole representation.
        assert_eq!(r("bytes=0-5,5-6"), None);
        assert_eq!(r("bytes=0-,-1"), None);
        let many = alloc::format!("bytes={}", ["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(r(&many), None);
        assert_eq!(r("bytes=,"), None);
        assert_eq!(r("bytes=0-1,x"), None);
        assert_eq!(r("items=0-1"), None);
        assert_eq!(r("bytes=a-b"), None);
        assert_eq!(r("bytes=-"), None);
        assert_eq!(r("bytes=99999999999999999999-"), None);
        assert_eq!(byte_ranges(b"bytes=0-", 0), Some(Err(())));
    }
}
