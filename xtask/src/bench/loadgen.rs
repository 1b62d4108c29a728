//! Load generators for the HTTP benches: wrk for closed-loop peak throughput, and our own
//! open-loop generator for latency at a fixed offered rate.
//!
//! The open-loop generator is wrk2's idea without wrk2: each of `connections` keep-alive
//! connections owns every `connections`-th slot of a fixed schedule (`rate` requests per second
//! in all), and a request's latency runs from its *scheduled* time, not from when it could be
//! sent. A server that stalls therefore shows the queueing delay its stall caused to every
//! request scheduled behind it (no coordinated omission). Latencies go into an HdrHistogram
//! (nanoseconds, 3 significant digits).
//!
//! Everything here runs from a thread inside the bench's network namespace (see
//! [`super::lab`]): threads and processes started from it live there too.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The request every generator sends: the site's front page, keep-alive.
pub const PATH: &str = "/";

/// What one open-loop run measured.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    /// The offered rate, requests per second.
    pub rate: f64,
    pub duration: Duration,
    /// Requests answered `200` with a whole body.
    pub completed: u64,
    /// Requests that failed (connect, write, read, or a status other than 200).
    pub errors: u64,
    /// Latency from each request's scheduled time to the end of its response, in ns.
    pub latency: Histogram<u64>,
}

impl OpenLoop {
    /// The latency at `quantile` (0..=1) in ns; `None` when nothing completed.
    pub fn at(&self, quantile: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(quantile) as f64)
    }

    pub fn max(&self) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.max() as f64)
    }

    /// Completed requests per second.
    pub fn achieved(&self) -> f64 {
        self.completed as f64 / self.duration.as_secs_f64()
    }
}

/// Offers `rate` requests per second to `addr` for `duration` over `connections` keep-alive
/// connections. Call it from inside the namespace.
pub fn open_loop(
    addr: SocketAddrV4,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> Result<OpenLoop, String> {
    if rate <= 0.0 || connections == 0 {
        return Err(format!(
            "open loop: bad rate {rate} or {connections} connections"
        ));
    }
    // A connection that cannot be opened now is retried at its first request (an error there
    // if it fails again), so a server that stalls shows in the numbers rather than ending them.
    let streams: Vec<Option<TcpStream>> = (0..connections).map(|_| connect(addr).ok()).collect();
    // Every connection starts on the same clock, a little ahead so that all threads are ready.
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + duration;
    let period = Duration::from_secs_f64(connections as f64 / rate);
    let threads: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(index, stream)| {
            let first = start + Duration::from_secs_f64(index as f64 / rate);
            std::thread::spawn(move || connection(addr, stream, first, period, end))
        })
        .collect();
    let mut total = OpenLoop {
        rate,
        duration,
        completed: 0,
        errors: 0,
        latency: histogram(),
    };
    for thread in threads {
        let part = thread
            .join()
            .map_err(|_| "an open-loop thread panicked".to_owned())?;
        total.completed += part.completed;
        total.errors += part.errors;
        total
            .latency
            .add(&part.latency)
            .map_err(|err| format!("histogram: {err}"))?;
    }
    Ok(total)
}

/// 1 µs to 100 s, 3 significant digits, in ns.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 100_000_000_000, 3).expect("valid bounds")
}

/// One connection's share of the schedule: a request at `first`, `first + period`, ... until
/// `end`; a broken connection is reopened for the next request.
fn connection(
    addr: SocketAddrV4,
    mut stream: Option<TcpStream>,
    first: Instant,
    period: Duration,
    end: Instant,
) -> OpenLoop {
    let mut part = OpenLoop {
        rate: 0.0,
        duration: Duration::ZERO,
        completed: 0,
        errors: 0,
        latency: histogram(),
    };
    let request = request();
    let mut buf = Vec::with_capacity(16 << 10);
    let mut scheduled = first;
    while scheduled < end {
        let now = Instant::now();
        if scheduled > now {
            std::thread::sleep(scheduled - now);
        }
        let result = match stream.as_mut() {
            Some(stream) => exchange(stream, request.as_bytes(), &mut buf),
            None => connect(addr)
                .and_then(|fresh| exchange(stream.insert(fresh), request.as_bytes(), &mut buf)),
        };
        match result {
            Ok(()) => {
                part.completed += 1;
                let latency = scheduled.elapsed().as_nanos();
                part.latency
                    .saturating_record(latency.min(u128::from(u64::MAX)) as u64);
            }
            Err(_) => {
                part.errors += 1;
                stream = None;
            }
        }
        scheduled += period;
    }
    part
}

fn request() -> String {
    format!(
        "GET {PATH} HTTP/1.1\r\nHost: {}\r\nUser-Agent: morgana-bench\r\n\r\n",
        morgana_tests::netns::GUEST
    )
}

fn connect(addr: SocketAddrV4) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(2))
        .map_err(|err| format!("connect {addr}: {err}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(5))))
        .map_err(|err| format!("timeouts: {err}"))?;
    Ok(stream)
}

/// Sends one request and reads one whole `200` response (head and `Content-Length` body).
pub fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Result<(), String> {
    stream
        .write_all(request)
        .map_err(|err| format!("write: {err}"))?;
    buf.clear();
    let mut chunk = [0u8; 16 << 10];
    let mut wanted = None;
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|err| format!("read: {err}"))?;
        if n == 0 {
            return Err("connection closed mid-response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if wanted.is_none() {
            wanted = response_length(buf)?;
        }
        if let Some(wanted) = wanted
            && buf.len() >= wanted
        {
            return Ok(());
        }
    }
}

/// The whole response's length once its head has arrived (`None`: not yet); an error for a
/// status other than 200 or a response without `Content-Length`.
fn response_length(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(format!("status line `{status}`"));
    }
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .ok_or("no Content-Length")?;
    Ok(Some(head_end + 4 + length))
}

/// One wrk run: closed loop, keep-alive.
#[derive(Debug, Clone, PartialEq)]
pub struct Wrk {
    pub requests_per_s: f64,
    /// wrk's latency distribution: p50 and p99, in ns.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Socket errors and non-2xx answers, added up.
    pub errors: u64,
}

/// `wrk -t1 -cN -dS --latency http://GUEST/`, from inside the namespace.
pub fn wrk(connections: usize, duration: Duration) -> Result<Wrk, String> {
    let url = format!("http://{}{PATH}", morgana_tests::netns::GUEST);
    let out = Command::new("wrk")
        .args([
            "-t1".to_owned(),
            format!("-c{connections}"),
            format!("-d{}s", duration.as_secs().max(1)),
            "--latency".to_owned(),
            url,
        ])
        .output()
        .map_err(|err| format!("wrk: {err} (apt-get install wrk)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's output:\n{text}"))
}

/// Reads `Requests/sec:`, the `50%`/`99%` lines of `--latency`, and the error lines.
fn parse_wrk(text: &str) -> Option<Wrk> {
    let mut wrk = Wrk {
        requests_per_s: 0.0,
        p50: None,
        p99: None,
        errors: 0,
    };
    let mut rate = None;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Requests/sec:") => rate = words.next()?.parse::<f64>().ok(),
            Some("50%") => wrk.p50 = words.next().and_then(wrk_time),
            Some("99%") => wrk.p99 = words.next().and_then(wrk_time),
            Some("Socket") => {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                wrk.errors += line
                    .split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum::<u64>();
            }
            Some("Non-2xx") => {
                wrk.errors += line.split_whitespace().last()?.parse::<u64>().ok()?;
            }
            _ => {}
        }
    }
    wrk.requests_per_s = rate?;
    Some(wrk)
}

/// wrk's `13.36ms`, `812.00us`, `1.20s` in ns.
fn wrk_time(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e9)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 5s test @ http://10.7.0.2/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    16.43ms    8.18ms  88.65ms   81.01%
    Req/Sec     6.15k     2.24k   10.21k    66.00%
  Latency Distribution
     50%   13.36ms
     75%   20.25ms
     90%   26.09ms
     99%  947.53us
  30725 requests in 5.04s, 61.68MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   6097.56
Transfer/sec:     12.24MB
";

    #[test]
    fn reads_wrk() {
        let wrk = parse_wrk(WRK).unwrap();
        assert_eq!(wrk.requests_per_s, 6097.56);
        assert_eq!(wrk.p50, Some(13.36e6));
        assert!((wrk.p99.unwrap() - 947.53e3).abs() < 1e-3);
        assert_eq!(wrk.errors, 9);
        assert_eq!(parse_wrk("nothing"), None);
        assert_eq!(wrk_time("1.5s"), Some(1.5e9));
    }

    #[test]
    fn response_heads() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhel";
        assert_eq!(response_length(ok), Ok(Some(ok.len() - 3 + 5)));
        assert_eq!(response_length(b"HTTP/1.1 200 OK\r\nConte"), Ok(None));
        assert!(response_length(b"HTTP/1.1 503 Busy\r\n\r\n").is_err());
        assert!(response_length(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    /// A tiny server on loopback: the generator sends what was scheduled and measures it.
    #[test]
    fn open_loop_against_a_local_server() {
        use std::net::{Ipv4Addr, TcpListener};
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    while let Ok(1..) = stream.read(&mut buf) {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
                    }
                });
            }
        });
        let run = open_loop(addr, 200.0, Duration::from_millis(500), 4).unwrap();
        assert_eq!(run.errors, 0);
        assert!((95..=105).contains(&run.completed), "{}", run.completed);
        assert!(run.at(0.5).unwrap() > 0.0);
        assert!(run.max().unwrap() >= run.at(0.99).unwrap());
    }
}
