//! The baked-site handler through the whole server: paths, index files, redirects, gzip
//! negotiation with per-variant ETags, conditional GET and ranges on site files.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

use embedded_io_async::Write;
use morgana_executor::sim::SimPlatform;
use morgana_executor::{Executor, spawn};

use super::duplex::duplex;
use crate::server::Connection;
use crate::{Config, Request, Router, Site, SiteFile, serve_connection};

static FILES: &[SiteFile] = &[
    SiteFile {
        path: "/docs/index.html",
        content_type: "text/html; charset=utf-8",
        etag: "\"d0c5\"",
        modified: 1_767_225_600,
        body: b"<p>docs</p>\n",
        gzip: None,
    },
    SiteFile {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        etag: "\"1dex\"",
        modified: 1_767_225_600,
        body: b"<h1>home</h1>\n",
        gzip: Some(b"GZ-BYTES"),
    },
    SiteFile {
        path: "/plain text.txt",
        content_type: "text/plain; charset=utf-8",
        etag: "\"7e27\"",
        modified: 0,
        body: b"0123456789",
        gzip: None,
    },
];

const SITE: Site = Site::new(FILES);

fn exchange(input: &str) -> String {
    let input = input.as_bytes().to_vec();
    Executor::new(Rc::new(SimPlatform::new(3))).block_on(async move {
        let (mut client, mut server) = duplex(1 << 16);
        let router = Router::new().fallback(|req: Request| async move { SITE.respond(&req) });
        let config = Config::default();
        let task = spawn(async move { serve_connection(&mut server, &router, &config).await });
        client.write_all(&input).await.unwrap();
        client.close_write();
        let out: Vec<u8> = client.read_to_end().await;
        task.await;
        String::from_utf8(out).unwrap()
    })
}

fn get(path: &str, extra: &str) -> String {
    exchange(&alloc::format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    ))
}

#[test]
fn the_root_and_directories_serve_their_index() {
    let out = get("/", "");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.contains("Content-Type: text/html; charset=utf-8\r\n"),
        "{out}"
    );
    assert!(out.contains("ETag: \"1dex\"\r\n"), "{out}");
    assert!(
        out.contains("Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\n"),
        "{out}"
    );
    assert!(out.contains("Vary: Accept-Encoding\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n<h1>home</h1>\n"), "{out}");
    assert!(get("/docs/", "").ends_with("<p>docs</p>\n"));
    let out = get("/docs?x=1", "");
    assert!(out.starts_with("HTTP/1.1 301 "), "{out}");
    assert!(out.contains("Location: /docs/?x=1\r\n"), "{out}");
}

#[test]
fn gzip_goes_to_clients_that_accept_it_with_its_own_etag() {
    let out = get("/index.html", "Accept-Encoding: br, gzip\r\n");
    assert!(out.contains("Content-Encoding: gzip\r\n"), "{out}");
    assert!(out.contains("ETag: \"1dex-gz\"\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nGZ-BYTES"), "{out}");
    let out = get("/index.html", "Accept-Encoding: gzip;q=0\r\n");
    assert!(!out.contains("Content-Encoding"), "{out}");
    // A file without a gzip variant is sent as is, and does not vary.
    let out = get("/docs/index.html", "Accept-Encoding: gzip\r\n");
    assert!(
        !out.contains("Content-Encoding") && !out.contains("Vary"),
        "{out}"
    );
}

#[test]
fn conditional_get_and_ranges_work_on_site_files() {
    let out = get("/index.html", "If-None-Match: \"1dex\"\r\n");
    assert!(out.starts_with("HTTP/1.1 304 "), "{out}");
    // The gzip variant's validator does not match the identity one.
    let out = get(
        "/index.html",
        "Accept-Encoding: gzip\r\nIf-None-Match: \"1dex\"\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    let out = get(
        "/index.html",
        "If-Modified-Since: Thu, 01 Jan 2026 00:00:00 GMT\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 304 "), "{out}");
    let out = get("/plain%20text.txt", "Range: bytes=2-4\r\n");
    assert!(out.starts_with("HTTP/1.1 206 "), "{out}");
    assert!(out.contains("Content-Range: bytes 2-4/10\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n234"), "{out}");
}

#[test]
fn if_match_and_if_unmodified_since_guard_site_files() {
    let out = get("/index.html", "If-Match: \"other\", \"1dex\"\r\n");
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    let out = get("/index.html", "If-Match: \"other\"\r\n");
    assert!(out.starts_with("HTTP/1.1 412 "), "{out}");
    assert!(!out.contains("ETag:"), "{out}");
    assert!(out.ends_with("412 Precondition Failed\n"), "{out}");
    // A weak tag never matches strongly.
    let out = get("/index.html", "If-Match: W/\"1dex\"\r\n");
    assert!(out.starts_with("HTTP/1.1 412 "), "{out}");
    assert!(get("/index.html", "If-Match: *\r\n").starts_with("HTTP/1.1 200 "));
    // If-Match wins over If-None-Match: 412 before any 304.
    let out = get(
        "/index.html",
        "If-Match: \"x\"\r\nIf-None-Match: \"1dex\"\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 412 "), "{out}");
    // Last-Modified is Thu, 01 Jan 2026 00:00:00 GMT.
    let out = get(
        "/index.html",
        "If-Unmodified-Since: Thu, 01 Jan 2026 00:00:00 GMT\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    let out = get(
        "/index.html",
        "If-Unmodified-Since: Wed, 31 Dec 2025 23:59:59 GMT\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 412 "), "{out}");
    // An unparsable date is ignored; If-Match present makes If-Unmodified-Since ignored.
    assert!(get("/index.html", "If-Unmodified-Since: yesterday\r\n").starts_with("HTTP/1.1 200 "));
    let out = get(
        "/index.html",
        "If-Match: \"1dex\"\r\nIf-Unmodified-Since: Wed, 31 Dec 2025 23:59:59 GMT\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
}

#[test]
fn unknown_escaping_and_other_methods_are_refused() {
    assert!(get("/nope.html", "").starts_with("HTTP/1.1 404 "));
    assert!(get("/docs/../index.html", "").starts_with("HTTP/1.1 400 "));
    assert!(get("/%2e%2e/index.html", "").starts_with("HTTP/1.1 400 "));
    let out = exchange("DELETE /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 405 "), "{out}");
    assert!(out.contains("Allow: GET, HEAD\r\n"), "{out}");
    let out = exchange("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        out.starts_with("HTTP/1.1 200 ") && out.ends_with("\r\n\r\n"),
        "{out}"
    );
    assert!(out.contains("Content-Length: 14\r\n"), "{out}");
}

#[test]
fn baked_bytes_count_the_table_the_bodies_the_variants_and_the_strings() {
    let strings = 16 + 24 + 6 + 11 + 24 + 6 + 15 + 25 + 6;
    let bodies = 12 + 14 + 8 + 10;
    assert_eq!(
        SITE.baked_bytes(),
        3 * core::mem::size_of::<SiteFile>() + strings + bodies
    );
}
