//! A small HTTP/1.1 client for tests, independent of `morgana-http`: raw requests in, responses
//! parsed by Content-Length, chunked coding or the end of the connection; and a keep-alive load
//! of many connections at once. Every read and write has a timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpStream};
use std::time::Duration;

/// How long any one read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status line, without CRLF: `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// The header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn connect(addr: SocketAddrV4) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr.into(), IO_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("timeouts: {e}"))?;
    Ok(stream)
}

fn read_line(r: &mut impl BufRead) -> Result<String, String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)
        .map_err(|e| format!("read: {e}"))?;
    if line.is_empty() {
        return Err("connection closed".into());
    }
    let line = String::from_utf8_lossy(&line);
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one response from `r`; `head` for the answer to a HEAD request (no body).
pub fn read_response(r: &mut impl BufRead, head: bool) -> Result<Response, String> {
    let status_line = read_line(r)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status_line,
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size = read_line(r)?;
            let size = size.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size {size:?}"))?;
            if size == 0 {
                while !read_line(r)?.is_empty() {}
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)
                .map_err(|e| format!("chunk: {e}"))?;
            response.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| format!("bad length {len:?}"))?;
        response.body = vec![0; len];
        r.read_exact(&mut response.body)
            .map_err(|e| format!("body: {e}"))?;
    } else {
        r.read_to_end(&mut response.body)
            .map_err(|e| format!("body: {e}"))?;
    }
    Ok(response)
}

/// `GET path` on a connection of its own, with `extra` header lines (each ending in CRLF).
pub fn get(addr: SocketAddrV4, path: &str, extra: &str) -> Result<Response, String> {
    let mut stream = connect(addr)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    read_response(&mut BufReader::new(stream), false)
}

/// Sends `bytes` on a new connection, closes the sending side, and returns everything the
/// server sent until it closed.
pub fn exchange(addr: SocketAddrV4, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = connect(addr)?;
    // A server may answer and close before reading everything (a 431 for a huge head):
    // a failed write is not the test's failure, what comes back is.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A reset after the answer (data we sent was left unread) still leaves the answer.
        Err(_) if !out.is_empty() => Ok(out),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// `connections` keep-alive connections at once, each sending `requests` GETs for `path` one
/// after another; returns how many answers were `200` with a body of `body_len` bytes.
pub fn keep_alive_load(
    addr: SocketAddrV4,
    connections: usize,
    requests: usize,
    path: &str,
    body_len: usize,
) -> Result<usize, String> {
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || -> Result<usize, String> {
                let stream = connect(addr)?;
                let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
                let mut reader = BufReader::new(stream);
                let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                let mut ok = 0;
                for _ in 0..requests {
                    writer
                        .write_all(request.as_bytes())
                        .map_err(|e| format!("write: {e}"))?;
                    let r = read_response(&mut reader, false)?;
                    if r.status == 200 && r.body.len() == body_len {
                        ok += 1;
                    }
                }
                Ok(ok)
            })
        })
        .collect();
    let mut ok = 0;
    for t in threads {
        ok += t.join().map_err(|_| "a client thread panicked")??;
    }
    Ok(ok)
}
