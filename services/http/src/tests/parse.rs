//! The request-head parser, with literal request bytes.

use super::*;

fn limits() -> Limits {
    Limits::default()
}

fn parse(bytes: &[u8]) -> Result<RequestHead, ParseError> {
    match parse_request_bytes(bytes, &limits()) {
        Ok(Some((head, len))) => {
            assert_eq!(len, bytes.len(), "the whole input is the head");
            Ok(head)
        }
        Ok(None) => panic!("incomplete: {:?}", core::str::from_utf8(bytes)),
        Err(e) => Err(e),
    }
}

fn status(bytes: &[u8]) -> u16 {
    match parse(bytes) {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    }
}

#[test]
fn a_simple_get() {
    let h = parse(b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n").unwrap();
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.path, "/a/b");
    assert_eq!(h.query.as_deref(), Some("x=1&y"));
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.host.as_deref(), Some("example.com"));
    assert_eq!(h.headers.get("accept"), Some(&b"*/*"[..]));
    assert_eq!(h.framing, Framing::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
}

#[test]
fn absolute_form_is_accepted_and_its_authority_wins() {
    let h = parse(b"GET http://Example.com:8080/x?q HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(h.path, "/x");
    assert_eq!(h.query.as_deref(), Some("q"));
    assert_eq!(h.host.as_deref(), Some("Example.com:8080"));
    let h = parse(b"GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(h.path, "/");
    assert_eq!(
        status(b"GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n"),
        400
    );
    assert_eq!(status(b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status(b"GET http:/// HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn asterisk_form_only_for_options() {
    assert_eq!(
        parse(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .path,
        "*"
    );
    assert_eq!(status(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn versions() {
    assert_eq!(
        parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().version,
        Version::Http10
    );
    // RFC 9110 §2.5: a higher minor version is answered as the highest we have.
    assert_eq!(
        parse(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n").unwrap().version,
        Version::Http11
    );
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/3.0\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status(b"GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn malformed_request_lines() {
    for bad in [
        &b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        b"GET /\r\nHost: h\r\n\r\n",
        b"GET\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(status(bad), 400, "{:?}", core::str::from_utf8(bad));
    }
    assert_eq!(status(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n"), 501);
    assert_eq!(status(b"get / HTTP/1.1\r\nHost: h\r\n\r\n"), 501);
}

#[test]
fn leading_empty_lines_are_skipped() {
    assert_eq!(
        parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .path,
        "/"
    );
}

#[test]
fn bare_lf_and_bare_cr_are_refused() {
    assert_eq!(
        parse_request_bytes(b"GET / HTTP/1.1\nHost: h\n\n", &limits()),
        Err(ParseError::bad("bare LF"))
    );
    assert_eq!(
        parse_request_bytes(b"GET / HTTP/1.1\r\nHost: h\n\r\n", &limits()),
        Err(ParseError::bad("bare LF"))
    );
    assert_eq!(
        parse_request_bytes(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", &limits()),
        Err(ParseError::bad("bare CR"))
    );
    // A CR at the end of what has arrived waits for its LF.
    assert_eq!(
        parse_request_bytes(b"GET / HTTP/1.1\r", &limits()),
        Ok(None)
    );
}

#[test]
fn host_is_required_once_in_http_1_1() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().host, None);
}

#[test]
fn field_syntax_is_strict() {
    for (bad, why) in [
        (
            &b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n"[..],
            "NUL",
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", "control"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", "DEL"),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
            "obs-fold",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
            "obs-fold tab",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n",
            "space before colon",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX\t: a\r\n\r\n",
            "tab before colon",
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", "empty name"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-a\r\n\r\n", "no colon"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX(y): a\r\n\r\n", "bad name"),
        (
            b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
            "fold after request line",
        ),
    ] {
        assert_eq!(status(bad), 400, "{why}");
    }
    // OWS is trimmed; obs-text and tabs inside the value are kept.
    let h = parse(b"GET / HTTP/1.1\r\nHost: h\r\nX:  a\tb\xff \t\r\nY:\r\n\r\n").unwrap();
    assert_eq!(h.headers.get("x"), Some(&b"a\tb\xff"[..]));
    assert_eq!(h.headers.get("y"), Some(&b""[..]));
}

#[test]
fn content_length_rules() {
    let req = |cl: &str| {
        let mut s = alloc::string::String::from("POST / HTTP/1.1\r\nHost: h\r\n");
        s.push_str(cl);
        s.push_str("\r\n");
        s
    };
    let h = parse(req("Content-Length: 42\r\n").as_bytes()).unwrap();
    assert_eq!(h.framing, Framing::Length(42));
    assert_eq!(
        parse(req("Content-Length: 5\r\nContent-Length: 5\r\n").as_bytes())
            .unwrap()
            .framing,
        Framing::Length(5)
    );
    assert_eq!(
        parse(req("Content-Length: 5, 5\r\n").as_bytes())
            .unwrap()
            .framing,
        Framing::Length(5)
    );
    for bad in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: \r\n",
        "Content-Length: 1 2\r\n",
        "Content-Length: 99999999999999999999999\r\n",
    ] {
        assert_eq!(status(req(bad).as_bytes()), 400, "{bad:?}");
    }
    assert_eq!(
        status(req("Content-Length: 1048577\r\n").as_bytes()),
        413,
        "over max_body"
    );
}

#[test]
fn transfer_encoding_rules() {
    let req = |te: &str| {
        let mut s = alloc::string::String::from("POST / HTTP/1.1\r\nHost: h\r\n");
        s.push_str(te);
        s.push_str("\r\n");
        s
    };
    assert_eq!(
        parse(req("Transfer-Encoding: chunked\r\n").as_bytes())
            .unwrap()
            .framing,
        Framing::Chunked
    );
    assert_eq!(
        parse(req("Transfer-Encoding: CHUNKED\r\n").as_bytes())
            .unwrap()
            .framing,
        Framing::Chunked
    );
    for (te, code) in [
        ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400),
        ("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 400),
        ("Transfer-Encoding: chunked, gzip\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            501,
        ),
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        ("Transfer-Encoding: \r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
            400,
        ),
    ] {
        assert_eq!(status(req(te).as_bytes()), code, "{te:?}");
    }
    assert_eq!(
        status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
}

#[test]
fn connection_and_expect() {
    assert!(
        !parse(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    assert!(!parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    assert!(
        parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    let h =
        parse(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n")
            .unwrap();
    assert!(h.expect_continue);
    assert_eq!(
        status(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: tea\r\n\r\n"),
        417
    );
}

#[test]
fn limits_give_414_and_431() {
    let small = Limits {
        max_request_line: 32,
        max_header_bytes: 64,
        max_headers: 3,
        ..Limits::default()
    };
    let scan = |bytes: &[u8]| {
        let mut s = HeadScanner::new();
        s.scan(bytes, &small).map_err(|e| e.status.as_u16())
    };
    // The request line: 32 bytes with its CRLF pass, 33 do not, even before the CRLF arrives.
    assert_eq!(scan(b"GET /0123456789012345 HTTP/1.1\r\n"), Ok(None));
    assert_eq!(scan(b"GET /01234567890123456 HTTP/1.1\r\n"), Err(414));
    assert_eq!(scan(&[b'A'; 33]), Err(414));
    assert_eq!(scan(&[b'A'; 32]), Ok(None));
    // Header bytes in total.
    let mut req = alloc::vec::Vec::from(&b"GET / HTTP/1.1\r\n"[..]);
    req.extend_from_slice(b"A: 012345678901234567890123456789\r\n");
    req.extend_from_slice(b"B: 0123456789012345678901\r\n\r\n");
    assert_eq!(scan(&req), Ok(Some(req.len())));
    req.insert(20, b'x');
    assert_eq!(scan(&req), Err(431));
    // Before the end too: a field line that never ends.
    let mut endless = alloc::vec::Vec::from(&b"GET / HTTP/1.1\r\n"[..]);
    endless.extend_from_slice(&[b'a'; 64]);
    assert_eq!(scan(&endless), Ok(None));
    endless.push(b'a');
    assert_eq!(scan(&endless), Err(431));
    // Header count.
    assert_eq!(
        scan(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").map(|_| ()),
        Ok(())
    );
    assert_eq!(
        scan(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"),
        Err(431)
    );
}

#[test]
fn the_scanner_resumes_byte_by_byte() {
    let req = b"\r\nPOST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi";
    let mut s = HeadScanner::new();
    let mut done = None;
    for end in 0..=req.len() {
        if let Some(len) = s.scan(&req[..end], &limits()).unwrap() {
            done = Some((end, len));
            break;
        }
    }
    assert_eq!(done, Some((req.len() - 2, req.len() - 2)));
}

#[test]
fn response_heads() {
    let r = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.version, Version::Http11);
    assert_eq!(
        parse_response(b"HTTP/1.0 200\r\n\r\n").unwrap().status,
        StatusCode::OK
    );
    assert!(parse_response(b"HTTP/1.1 20 OK\r\n\r\n").is_err());
    assert!(parse_response(b"HTTP/1.1 099 OK\r\n\r\n").is_err());
    assert!(parse_response(b"HTTP/1.1 2000 OK\r\n\r\n").is_err());
}
