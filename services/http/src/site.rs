//! A static web site baked into the image: a sorted table of [`SiteFile`]s (made at build time,
//! see `appliances/static-site/build.rs`) served by [`Site::respond`] with content types,
//! strong ETags, `Last-Modified`, a gzip variant when the client accepts it, and everything the
//! server adds to a `200` (conditional GET, byte ranges, `HEAD`). No file system at run time.
//!
//! Paths: the request path is percent-decoded; `/` and any `/dir/` mean their `index.html`;
//! a path naming a directory without its slash is redirected (`301`) to it with the slash; a
//! decoded path with a `..` or `.` segment, a NUL or a backslash is a `400`; anything else not
//! in the table is a `404`. Only `GET` and `HEAD` are served (`405` with `Allow` for others).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::date::HttpDate;
use crate::message::{Request, Response};
use crate::parse::Method;
use crate::status::StatusCode;

/// One file of a baked site.
#[derive(Debug, Clone, Copy)]
pub struct SiteFile {
    /// Its URL path, from the site's root: `/index.html`, `/css/site.css`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// A strong ETag of the identity bytes, quotes included: `"9e3779b97f4a7c15"`.
    pub etag: &'static str,
    /// Its modification time, in seconds since the Unix epoch.
    pub modified: u64,
    /// The bytes.
    pub body: &'static [u8],
    /// The same bytes gzip-compressed, when that is worth it.
    pub gzip: Option<&'static [u8]>,
}

/// A baked site: a table of files sorted by path.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    files: &'static [SiteFile],
}

impl Site {
    /// The site made of `files`, which must be sorted by path (the build script sorts them; an
    /// unsorted table is sorted-checked here and files out of order are simply not found).
    pub const fn new(files: &'static [SiteFile]) -> Site {
        Site { files }
    }

    /// Its files.
    pub fn files(&self) -> &'static [SiteFile] {
        self.files
    }

    /// How many bytes of the image the site takes, at most: its table, each file's bytes and
    /// gzip variant, and its strings (content types the linker may share are counted each time).
    /// An image's size less this is the size of the code that serves it.
    pub fn baked_bytes(&self) -> usize {
        core::mem::size_of_val(self.files)
            + self
                .files
                .iter()
                .map(|f| {
                    f.path.len()
                        + f.content_type.len()
                        + f.etag.len()
                        + f.body.len()
                        + f.gzip.map_or(0, <[u8]>::len)
                })
                .sum::<usize>()
    }

    /// The file at URL path `path` (already decoded), exactly.
    pub fn get(&self, path: &str) -> Option<&'static SiteFile> {
        self.files
            .binary_search_by(|f| f.path.cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    fn is_dir(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        let i = self.files.partition_point(|f| f.path < prefix.as_str());
        self.files
            .get(i)
            .is_some_and(|f| f.path.starts_with(&prefix))
    }

    /// The answer to `req`: the file, a redirect, or an error status.
    pub fn respond(&self, req: &Request) -> Response {
        if !matches!(req.method(), Method::Get | Method::Head) {
            return Response::error(StatusCode::METHOD_NOT_ALLOWED)
                .with_header("Allow", "GET, HEAD");
        }
        let Some(path) = decode_path(req.path()) else {
            return Response::error(StatusCode::BAD_REQUEST);
        };
        let file = if path.ends_with('/') {
            self.get(&format!("{path}index.html"))
        } else {
            self.get(&path)
        };
        let Some(file) = file else {
            if !path.ends_with('/') && self.is_dir(&path) {
                let mut location = String::from(req.path());
                location.push('/');
                if let Some(q) = req.query() {
                    location.push('?');
                    location.push_str(q);
                }
                return Response::new(StatusCode::MOVED_PERMANENTLY)
                    .with_header("Location", location);
            }
            return Response::error(StatusCode::NOT_FOUND);
        };
        let gzip = file
            .gzip
            .filter(|_| accepts_gzip(req.headers().get_all("Accept-Encoding")));
        let modified = HttpDate::from_unix_secs(file.modified);
        let mut resp = match gzip {
            Some(gz) => Response::ok(gz)
                .with_header("Content-Encoding", "gzip")
                // Each representation has its own strong validator (RFC 9110 §8.8.3).
                .with_header("ETag", gzip_etag(file.etag)),
            None => Response::ok(file.body).with_header("ETag", file.etag),
        };
        resp = resp
            .with_header("Content-Type", file.content_type)
            .with_header("Last-Modified", format!("{modified}"));
        if file.gzip.is_some() {
            resp = resp.with_header("Vary", "Accept-Encoding");
        }
        resp
    }
}

/// `"abc"` → `"abc-gz"`.
fn gzip_etag(etag: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-gz\""),
        None => format!("{etag}-gz"),
    }
}

/// Whether `Accept-Encoding` lets us send gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip` or `*`
/// with a non-zero quality, and not refused by a later `gzip;q=0`.
pub fn accepts_gzip<'a>(values: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut gzip: Option<bool> = None;
    let mut star: Option<bool> = None;
    for value in values {
        for item in value.split(|&b| b == b',') {
            let mut parts = item.split(|&b| b == b';');
            let coding = trim(parts.next().unwrap_or_default());
            let mut q_zero = false;
            for param in parts {
                let param = trim(param);
                if let Some(q) = param
                    .strip_prefix(b"q=")
                    .or_else(|| param.strip_prefix(b"Q="))
                {
                    q_zero = is_zero_quality(q);
                }
            }
            if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
                gzip = Some(!q_zero);
            } else if coding == b"*" {
                star = Some(!q_zero);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// `0`, `0.`, `0.0`, `0.00`, `0.000`.
fn is_zero_quality(q: &[u8]) -> bool {
    match q {
        [b'0'] => true,
        [b'0', b'.', rest @ ..] => rest.len() <= 3 && rest.iter().all(|&b| b == b'0'),
        _ => false,
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Percent-decodes a request path; `None` for a bad escape, invalid UTF-8, a NUL or a
/// backslash, or a `.`/`..` segment (no path may climb out of the site or alias a file).
pub fn decode_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |c: u8| char::from(c).to_digit(16);
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let path = String::from_utf8(out).ok()?;
    if path.contains(['\0', '\\']) || path.split('/').any(|seg| seg == "." || seg == "..") {
        return None;
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_and_escapes_refused() {
        assert_eq!(decode_path("/a%20b.html").as_deref(), Some("/a b.html"));
        assert_eq!(decode_path("/caf%C3%A9/").as_deref(), Some("/café/"));
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/a/./b",
            "/%00",
            "/a%5cb",
            "/%zz",
            "/%4",
            "/%ff",
            "relative",
        ] {
            assert_eq!(decode_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn gzip_is_negotiated_by_accept_encoding() {
        let ok = |v: &[&str]| accepts_gzip(v.iter().map(|s| s.as_bytes()));
        assert!(ok(&["gzip"]));
        assert!(ok(&["br, gzip;q=0.5"]));
        assert!(ok(&["deflate", "x-gzip"]));
        assert!(ok(&["*"]));
        assert!(ok(&["GZIP ; q=1"]));
        assert!(!ok(&[]));
        assert!(!ok(&["br, deflate"]));
        assert!(!ok(&["gzip;q=0"]));
        assert!(!ok(&["gzip;q=0.000"]));
        assert!(!ok(&["*, gzip;q=0"]));
        assert!(!ok(&["*;q=0"]));
        assert!(ok(&["gzip;q=0.001"]));
    }

    #[test]
    fn gzip_variants_have_their_own_etag() {
        assert_eq!(gzip_etag("\"abc\""), "\"abc-gz\"");
    }
}
