//! The server over in-memory connections on the simulator: literal requests in, literal
//! responses out. The simulator's wall clock reads 2026-01-01T00:00:00Z at virtual time zero.

use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;

use embedded_io_async::Write;
use futures::stream;
use morgana_executor::sim::SimPlatform;
use morgana_executor::{Duration, Executor, Instant, sleep, spawn};

use super::duplex::{PipeListener, duplex};
use crate::server::Connection;
use crate::{
    AccessLog, Body, Config, Request, Response, Router, StatusCode, serve_connection, serve_on,
};

const DATE: &str = "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n";

fn run<F: Future>(f: F) -> F::Output {
    Executor::new(Rc::new(SimPlatform::new(7))).block_on(f)
}

fn router() -> Router {
    Router::new()
        .get("/", |_: Request| async {
            Response::ok("hello\n").with_header("Content-Type", "text/plain")
        })
        .get("/a", |_: Request| async { Response::ok("a") })
        .get("/b", |_: Request| async { Response::ok("b") })
        .post("/echo", |mut req: Request| async move {
            match req.body_bytes().await {
                Ok(body) => Response::ok(body),
                Err(_) => Response::error(StatusCode::BAD_REQUEST),
            }
        })
        .post("/ignore", |_: Request| async { Response::ok("ignored") })
        .get("/stream", |_: Request| async {
            let pieces = ["one ", "", "two ", "three"].map(|s| s.as_bytes().to_vec());
            Response::ok(Body::stream(stream::iter(pieces)))
        })
        .get("/file", |_: Request| async {
            Response::ok("abcdefghijklmnopqrstuvwxyz")
                .with_header("ETag", "\"v1\"")
                .with_header("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")
                .with_header("Content-Type", "text/plain")
        })
}

/// Serves one connection: writes `input`, closes the client's sending side, and returns
/// everything the server sent until it closed.
fn exchange_with(config: Config, input: &[u8]) -> String {
    let input = input.to_vec();
    run(async move {
        let (mut client, mut server) = duplex(1 << 20);
        let router = router();
        let task = spawn(async move { serve_connection(&mut server, &router, &config).await });
        client.write_all(&input).await.unwrap();
        client.close_write();
        let out = client.read_to_end().await;
        task.await;
        String::from_utf8(out).unwrap()
    })
}

fn exchange(input: &[u8]) -> String {
    exchange_with(Config::default(), input)
}

/// The status lines of the responses in `out`, in order.
fn status_lines(out: &str) -> Vec<&str> {
    out.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| out[i..].split("\r\n").next())
        .collect()
}

#[test]
fn a_get_is_answered_byte_for_byte() {
    let out = exchange(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        out,
        [
            "HTTP/1.1 200 OK\r\n",
            "Content-Type: text/plain\r\n",
            "Accept-Ranges: bytes\r\n",
            DATE,
            "Content-Length: 6\r\n",
        ]
        .concat()
            + "\r\nhello\n"
    );
}

#[test]
fn bad_requests_get_their_status_and_a_close() {
    let long_target = "GET /".to_string() + &"a".repeat(9000) + " HTTP/1.1\r\nHost: h\r\n\r\n";
    let big_header =
        "GET / HTTP/1.1\r\nHost: h\r\nX: ".to_string() + &"a".repeat(17000) + "\r\n\r\n";
    let many_headers =
        "GET / HTTP/1.1\r\nHost: h\r\n".to_string() + &"X: y\r\n".repeat(70) + "\r\n";
    let cases: &[(&[u8], &str)] = &[
        (b"GET / HTTP/1.1\nHost: h\n\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00\r\n\r\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400 Bad Request",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "400 Bad Request",
        ),
        (b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\n", "400 Bad Request"),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "501 Not Implemented",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            "400 Bad Request",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n",
            "413 Content Too Large",
        ),
        (long_target.as_bytes(), "414 URI Too Long"),
        (big_header.as_bytes(), "431 Request Header Fields Too Large"),
        (many_headers.as_bytes(), "431 Request Header Fields Too Large"),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", "505 HTTP Version Not Supported"),
        (b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", "501 Not Implemented"),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "400 Bad Request",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
            "400 Bad Request",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n",
            "413 Content Too Large",
        ),
    ];
    for (input, status) in cases {
        // A good request follows each bad one: it must not be answered.
        let mut input = input.to_vec();
        input.extend_from_slice(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let out = exchange(&input);
        let expected = "HTTP/1.1 ".to_string() + status + "\r\n";
        assert!(out.starts_with(&expected), "{status}: {out:?}");
        assert!(
            out.contains("\r\nConnection: close\r\n"),
            "{status}: {out:?}"
        );
        assert_eq!(status_lines(&out).len(), 1, "{status}: {out:?}");
    }
}

#[test]
fn not_found_and_method_not_allowed_keep_the_connection() {
    let out = exchange(
        b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\nDELETE /a HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(
        status_lines(&out),
        [
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 405 Method Not Allowed",
            "HTTP/1.1 200 OK"
        ]
    );
    assert!(out.contains("\r\nAllow: GET, HEAD\r\n"), "{out}");
    assert!(!out.contains("Connection: close"));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let out = exchange(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let bodies: Vec<&str> = out
        .split("HTTP/1.1 200 OK\r\n")
        .skip(1)
        .map(|r| r.split("\r\n\r\n").nth(1).unwrap())
        .collect();
    assert_eq!(bodies, ["a", "b", "xyz", "a"]);
}

#[test]
fn keep_alive_by_version_and_connection_close() {
    // HTTP/1.0 closes unless asked; asked, it says so.
    let out = exchange(b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    assert_eq!(status_lines(&out).len(), 1);
    assert!(out.contains("Connection: close\r\n"));
    let out = exchange(
        b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /a HTTP/1.0\r\n\r\n",
    );
    assert_eq!(status_lines(&out).len(), 2);
    assert!(out.contains("Connection: keep-alive\r\n"));
    // HTTP/1.1 stays open unless told.
    let out = exchange(
        b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(status_lines(&out).len(), 1);
    assert!(out.contains("Connection: close\r\n"));
}

#[test]
fn keep_alive_across_separate_writes() {
    run(async {
        let (mut client, mut server) = duplex(1 << 16);
        let router = router();
        let config = Config::default();
        let task = spawn(async move { serve_connection(&mut server, &router, &config).await });
        for path in ["/a", "/b", "/a"] {
            sleep(Duration::from_secs(5)).await;
            let req = "GET ".to_string() + path + " HTTP/1.1\r\nHost: h\r\n\r\n";
            client.write_all(req.as_bytes()).await.unwrap();
            let resp = client.read_until(b"\r\n\r\n").await;
            assert!(resp.starts_with(b"HTTP/1.1 200 OK\r\n"));
            let body = client.read_until(&path.as_bytes()[1..]).await;
            assert_eq!(body, path.as_bytes()[1..]);
        }
        client.close_write();
        assert!(client.read_to_end().await.is_empty());
        task.await;
    });
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let out =
        exchange(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        out,
        [
            "HTTP/1.1 200 OK\r\n",
            "Content-Type: text/plain\r\n",
            "Accept-Ranges: bytes\r\n",
            DATE,
            "Content-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\n",
            DATE,
            "Transfer-Encoding: chunked\r\n\r\n",
        ]
        .concat()
    );
}

#[test]
fn streams_are_chunked_in_1_1_and_close_delimited_in_1_0() {
    let out = exchange(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        out.ends_with(
            "Transfer-Encoding: chunked\r\n\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
        ),
        "{out}"
    );
    let out = exchange(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(
        out.ends_with("Connection: close\r\n\r\none two three"),
        "{out}"
    );
}

#[test]
fn request_bodies_by_length_and_chunked() {
    let out = exchange(
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok",
    );
    assert!(
        out.contains("Content-Length: 12\r\n\r\nhello, world"),
        "{out}"
    );
    assert!(out.ends_with("Content-Length: 2\r\n\r\nok"), "{out}");
}

#[test]
fn an_unread_body_is_skipped_for_the_next_request() {
    let out = exchange(
        b"POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nGET /aPOST /ignore HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(status_lines(&out).len(), 3, "{out}");
    assert!(out.ends_with("\r\n\r\nb"), "{out}");
}

#[test]
fn continue_is_sent_only_when_the_handler_reads() {
    run(async {
        let (mut client, mut server) = duplex(1 << 16);
        let router = router();
        let config = Config::default();
        let task = spawn(async move { serve_connection(&mut server, &router, &config).await });
        client
            .write_all(b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            client.read_until(b"\r\n\r\n").await,
            b"HTTP/1.1 100 Continue\r\n\r\n"
        );
        client.write_all(b"body").await.unwrap();
        let resp = client.read_until(b"body").await;
        assert!(resp.starts_with(b"HTTP/1.1 200 OK\r\n"));
        // A handler that does not read: no 100, and the connection closes after the answer.
        client
            .write_all(b"POST /ignore HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            .await
            .unwrap();
        let rest = String::from_utf8(client.read_to_end().await).unwrap();
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
        assert!(rest.contains("Connection: close\r\n"), "{rest}");
        assert!(!rest.contains("100 Continue"), "{rest}");
        task.await;
    });
}

#[test]
fn conditional_get() {
    let get = |extra: &str| {
        exchange(("GET /file HTTP/1.1\r\nHost: h\r\n".to_string() + extra + "\r\n").as_bytes())
    };
    let out = get("If-None-Match: \"v0\", W/\"v1\"\r\n");
    assert_eq!(
        out,
        [
            "HTTP/1.1 304 Not Modified\r\n",
            "ETag: \"v1\"\r\n",
            "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
            DATE,
            "\r\n"
        ]
        .concat()
    );
    assert!(get("If-None-Match: *\r\n").starts_with("HTTP/1.1 304 "));
    assert!(get("If-None-Match: \"v2\"\r\n").starts_with("HTTP/1.1 200 "));
    assert!(
        get("If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n").starts_with("HTTP/1.1 304 ")
    );
    assert!(get("If-Modified-Since: Sun Nov  6 08:49:38 1994\r\n").starts_with("HTTP/1.1 304 "));
    assert!(
        get("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n").starts_with("HTTP/1.1 200 ")
    );
    assert!(get("If-Modified-Since: yesterday\r\n").starts_with("HTTP/1.1 200 "));
    // If-None-Match wins over If-Modified-Since.
    assert!(
        get("If-None-Match: \"v2\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n")
            .starts_with("HTTP/1.1 200 ")
    );
}

#[test]
fn byte_ranges() {
    let get = |range: &str| {
        exchange(("GET /file HTTP/1.1\r\nHost: h\r\n".to_string() + range + "\r\n").as_bytes())
    };
    let out = get("Range: bytes=0-4\r\n");
    assert!(out.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{out}");
    assert!(out.contains("Content-Range: bytes 0-4/26\r\n"));
    assert!(out.ends_with("Content-Length: 5\r\n\r\nabcde"), "{out}");
    assert!(get("Range: bytes=-3\r\n").ends_with("\r\n\r\nxyz"));
    assert!(get("Range: bytes=24-\r\n").ends_with("\r\n\r\nyz"));
    let out = get("Range: bytes=26-\r\n");
    assert!(
        out.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"),
        "{out}"
    );
    assert!(out.contains("Content-Range: bytes */26\r\n"));
    // Several ranges: multipart/byteranges, a part per range in the order asked.
    let out = get("Range: bytes=3-4, 0-1\r\n");
    assert!(out.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{out}");
    assert!(!out.contains("Content-Range: bytes 3-4/26\r\nContent-Length"));
    let at = out.find("boundary=").expect("a boundary") + "boundary=".len();
    let boundary = &out[at..at + out[at..].find("\r\n").unwrap()];
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        body,
        alloc::format!(
            "--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 3-4/26\r\n\r\nde\r\n\
             --{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/26\r\n\r\nab\r\n\
             --{boundary}--\r\n"
        )
    );
    let length: usize = out
        .split("Content-Length: ")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .expect("a Content-Length");
    assert_eq!(length, body.len());
    // Overlapping ranges, or too many: the whole thing.
    assert!(get("Range: bytes=0-3,2-4\r\n").ends_with("\r\n\r\nabcdefghijklmnopqrstuvwxyz"));
    let many = alloc::format!("Range: bytes={}\r\n", ["0-0"; 17].join(","));
    assert!(get(&many).starts_with("HTTP/1.1 200 "));
    // If-Range: a strong match applies the range, anything else sends it all.
    assert!(get("Range: bytes=0-0\r\nIf-Range: \"v1\"\r\n").ends_with("\r\n\r\na"));
    assert!(get("Range: bytes=0-0\r\nIf-Range: \"v0\"\r\n").starts_with("HTTP/1.1 200 "));
    assert!(
        get("Range: bytes=0-0\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n")
            .ends_with("\r\n\r\na")
    );
}

#[test]
fn a_slow_head_gets_408_at_the_header_timeout() {
    run(async {
        let (mut client, mut server) = duplex(1 << 16);
        let router = router();
        let config = Config {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            linger: Duration::ZERO,
            ..Config::default()
        };
        let t0 = Instant::now();
        let task = spawn(async move { serve_connection(&mut server, &router, &config).await });
        // One byte every second: each arrives well within the idle timeout, but the head as
        // a whole does not arrive within the header timeout.
        let drip = spawn(async move {
            for b in b"GET / HTTP/1.1\r\nHost: hhhhhhhhhhhhhhhhhhhh" {
                sleep(Duration::from_secs(1)).await;
                if client.write_all(&[*b]).await.is_err() {
                    break;
                }
            }
            client
        });
        task.await;
        let elapsed = t0.elapsed();
        assert!(
            elapsed >= Duration::from_secs(11) && elapsed < Duration::from_secs(12),
            "{elapsed:?}"
        );
        let mut client = drip.await;
        let out = String::from_utf8(client.read_to_end().await).unwrap();
        assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"));
    });
}

#[test]
fn an_idle_connection_is_closed_quietly() {
    run(async {
        let (mut client, mut server) = duplex(1 << 16);
        let router = router();
        let config = Config {
            idle_timeout: Duration::from_secs(30),
            ..Config::default()
        };
        let t0 = Instant::now();
        spawn(async move { serve_connection(&mut server, &router, &config).await }).detach();
        client
            .write_all(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        let out = client.read_to_end().await;
        assert!(out.ends_with(b"\r\n\r\na"));
        assert_eq!(t0.elapsed(), Duration::from_secs(30));
    });
}

#[test]
fn the_connection_cap_refuses_with_503_and_the_server_survives_bad_requests() {
    run(async {
        let listener = PipeListener::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        let sink = log.clone();
        let config = Config {
            max_connections: 1,
            access_log: AccessLog::Callback(Rc::new(move |r| {
                sink.borrow_mut().push(r.to_string())
            })),
            ..Config::default()
        };
        spawn(serve_on(listener.clone(), router(), config)).detach();
        // The first holds the only slot.
        let mut first = listener.connect();
        first
            .write_all(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        assert!(first.read_until(b"\r\n\r\na").await.ends_with(b"\r\n\r\na"));
        // The second is refused.
        let mut second = listener.connect();
        second
            .write_all(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        let out = String::from_utf8(second.read_to_end().await).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{out}"
        );
        assert!(out.contains("Connection: close\r\n"));
        // The first sends garbage: 400 and close, which frees the slot.
        first
            .write_all(b"GET / HTTP/1.1\r\nX : y\r\n\r\n")
            .await
            .unwrap();
        let out = String::from_utf8(first.read_to_end().await).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        drop(first);
        sleep(Duration::from_millis(10)).await;
        // The next client is served.
        let mut third = listener.connect();
        third
            .write_all(b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let out = String::from_utf8(third.read_to_end().await).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nb"));
        let log = log.borrow();
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!(log[0], "GET /a 200 1 0us");
        assert_eq!(log[1], "- - 503 24 0us");
        assert_eq!(log[2], "- - 400 16 0us");
        assert_eq!(log[3], "GET /b 200 1 0us");
    });
}
