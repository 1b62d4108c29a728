//! End-to-end: the static-site appliance serving real clients through the Linux kernel's TCP,
//! hosted (a Linux process on a TAP) and in QEMU (the release image on microvm under TCG, on a
//! TAP, through `cargo xtask run-qemu --net tap`), each in a network namespace of its own:
//!
//! - curl fetches every file of the site byte for byte, plain and gzip-compressed;
//! - pipelined requests sent through `nc` come back in order;
//! - an edge-case corpus (request smuggling, obs-fold, NUL, a 64 KiB header, bad chunk sizes, a
//!   truncated body, HTTP/2.0 on this port) gets its error statuses, the cases the RFCs require
//!   to succeed (HTTP/1.2 as 1.1, absolute-form targets) succeed, and a normal request after
//!   each is still served;
//! - 10,000 requests over 100 keep-alive connections all succeed;
//! - in QEMU, slowhttptest's slowloris (200 connections, 30 s) leaves room for a normal curl
//!   (the time it took is printed; the 1 s goal is a figure, not an assertion).
//!
//! Needs root, `/dev/net/tun`, `ip`, curl, nc, slowhttptest and QEMU (`cargo xtask test`
//! installs them as root); each test says why it skips otherwise.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use morgana_tests::http;
use morgana_tests::netns::{self, GUEST, Netns, PEER, PREFIX};
use morgana_tests::runner::{self, KillOnDrop, Xtask};

/// From starting the server to it answering (cargo checks freshness, QEMU boots).
const BOOT_LIMIT: Duration = Duration::from_secs(180);
/// run-qemu's `--timeout`: every check below, under TCG, with a wide margin.
const QEMU_TIMEOUT: Duration = Duration::from_secs(600);

fn site_dir() -> PathBuf {
    runner::workspace().join("appliances/static-site/site")
}

/// Every file of the site: (URL path, bytes).
fn site_files() -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("the site directory") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let url = format!("/{}", path.strip_prefix(root).unwrap().display());
                out.push((url, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(&site_dir(), &site_dir(), &mut files);
    files.sort();
    files
}

/// Why these tests cannot run here, if they cannot.
fn unavailable(tools: &[&str]) -> Option<String> {
    if let Err(why) = netns::available() {
        return Some(why);
    }
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!(
                "`{tool}` is not installed (`cargo xtask test` installs it)"
            ));
        }
    }
    None
}

/// The site, answering on `GUEST:80` inside `ns`.
struct Site {
    ns: Netns,
    addr: SocketAddrV4,
    /// The hosted process, or the xtask running QEMU.
    server: Server,
}

enum Server {
    Hosted(#[allow(dead_code)] KillOnDrop),
    Qemu(Option<Xtask>),
}

impl Site {
    fn hosted() -> Site {
        let bin = runner::build_hosted("static-site", false);
        let ns = Netns::create(&netns::unique_name("mgw")).expect("a namespace");
        let tap = netns::unique_ifname("mgw");
        let child = Command::new(&bin)
            .args([
                format!("tap={tap}"),
                format!("ip={GUEST}/{PREFIX}"),
                format!("gw={PEER}"),
                "access_log=off".into(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("static-site runs");
        let child = KillOnDrop(Some(child));
        let t0 = Instant::now();
        while !Path::new("/sys/class/net").join(&tap).exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "no TAP {tap}");
            thread::sleep(Duration::from_millis(50));
        }
        ns.adopt_interface(&tap).unwrap();
        ns.wait_for_guest(Duration::from_secs(10)).unwrap();
        Site {
            ns,
            addr: SocketAddrV4::new(GUEST, 80),
            server: Server::Hosted(child),
        }
    }

    fn qemu() -> Site {
        let name = netns::unique_name("mgw");
        let ns = Netns::adopt(&name);
        let timeout = QEMU_TIMEOUT.as_secs().to_string();
        let start = Instant::now();
        let xtask = Xtask::spawn(&[
            "run-qemu",
            "--appliance",
            "static-site",
            "--accel",
            "tcg",
            "--net",
            "tap",
            "--netns",
            &name,
            "--timeout",
            &timeout,
            "--append",
            "access_log=off",
            // A debug image under TCG serves some 50 requests a second; the release image,
            // what a user deploys, thousands.
            "--release",
        ]);
        let up = (|| -> Result<(), String> {
            while !netns::exists(&name) {
                if start.elapsed() > BOOT_LIMIT {
                    return Err(format!("no namespace {name} after {BOOT_LIMIT:?}"));
                }
                thread::sleep(Duration::from_millis(100));
            }
            ns.wait_for_interface(netns::TAP, BOOT_LIMIT)?;
            ns.wait_for_guest(BOOT_LIMIT.saturating_sub(start.elapsed()))
        })();
        if let Err(why) = up {
            panic!("{why}\n{}", xtask.abort());
        }
        Site {
            ns,
            addr: SocketAddrV4::new(GUEST, 80),
            server: Server::Qemu(Some(xtask)),
        }
    }

    /// Runs `f` with the site's address in the namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce(SocketAddrV4) -> T + Send + 'static) -> T {
        let addr = self.addr;
        self.ns
            .run(move || f(addr))
            .expect("a thread in the namespace")
    }

    /// Fails the test with the console if the server is QEMU.
    fn fail(&mut self, why: &str) -> ! {
        if let Server::Qemu(xtask) = &mut self.server
            && let Some(xtask) = xtask.take()
        {
            panic!("{why}\n{}", xtask.abort());
        }
        panic!("{why}");
    }

    fn curl(&self, args: &[&str]) -> std::process::Output {
        self.ns
            .command("curl")
            .args(["-s", "--max-time", "20"])
            .args(args)
            .output()
            .expect("curl runs")
    }
}

fn every_file_comes_back_identical(site: &mut Site) {
    let base = format!("http://{}", site.addr);
    for (path, bytes) in site_files() {
        for compressed in [false, true] {
            let url = format!("{base}{path}");
            let mut args = vec![url.as_str()];
            if compressed {
                args.insert(0, "--compressed");
            }
            let out = site.curl(&args);
            if !out.status.success() || out.stdout != bytes {
                site.fail(&format!(
                    "{path} (compressed: {compressed}): curl {}, {} bytes of {}",
                    out.status,
                    out.stdout.len(),
                    bytes.len()
                ));
            }
        }
    }
    // The gzip variant is what goes over the wire when asked for.
    let index = site.run(|a| http::get(a, "/index.html", "Accept-Encoding: gzip\r\n"));
    let index = index.unwrap_or_else(|e| site.fail(&e));
    assert_eq!(index.header("content-encoding"), Some("gzip"), "{index:?}");
}

fn pipelined_requests_come_back_in_order(site: &mut Site) {
    let requests = "GET /robots.txt HTTP/1.1\r\nHost: t\r\n\r\n\
                    GET /favicon.svg HTTP/1.1\r\nHost: t\r\n\r\n\
                    HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut nc = site
        .ns
        .command("nc")
        .args(["-w", "20", &GUEST.to_string(), "80"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nc runs");
    use std::io::Write;
    nc.stdin
        .take()
        .unwrap()
        .write_all(requests.as_bytes())
        .unwrap();
    let out = nc.wait_with_output().expect("nc exits");
    let mut reader = std::io::BufReader::new(&out.stdout[..]);
    let files = site_files();
    let body = |p: &str| files.iter().find(|(u, _)| u == p).unwrap().1.clone();
    for (path, head) in [
        ("/robots.txt", false),
        ("/favicon.svg", false),
        ("/index.html", true),
        ("/style.css", false),
    ] {
        let r = http::read_response(&mut reader, head)
            .unwrap_or_else(|e| site.fail(&format!("{path}: {e}")));
        assert_eq!(r.status, 200, "{path}: {r:?}");
        if head {
            assert_eq!(
                r.header("content-length"),
                Some(body(path).len().to_string().as_str())
            );
        } else {
            assert!(r.body == body(path), "{path} out of order or wrong");
        }
    }
}

/// A request that must fail with `status`, or succeed with it (HTTP/1.2, absolute form).
struct Case {
    name: &'static str,
    request: Vec<u8>,
    status: &'static str,
}

fn corpus() -> Vec<Case> {
    let case = |name, request: &str, status| Case {
        name,
        request: request.as_bytes().to_vec(),
        status,
    };
    let mut big = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    vec![
        case(
            "Content-Length with Transfer-Encoding",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 400",
        ),
        case(
            "differing Content-Lengths",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "HTTP/1.1 400",
        ),
        case(
            "obs-fold",
            "GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n  b\r\n\r\n",
            "HTTP/1.1 400",
        ),
        case(
            "NUL in a header",
            "GET / HTTP/1.1\r\nHost: t\r\nX-Nul: a\0b\r\n\r\n",
            "HTTP/1.1 400",
        ),
        Case {
            name: "a 64 KiB header",
            request: big,
            status: "HTTP/1.1 431",
        },
        case(
            "a bad chunk size",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            "HTTP/1.1 4",
        ),
        case(
            "an overflowing chunk size",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
            "HTTP/1.1 4",
        ),
        case(
            "a truncated body",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly this",
            "HTTP/1.1 4",
        ),
        case(
            "HTTP/2.0 on this port",
            "GET / HTTP/2.0\r\nHost: t\r\n\r\n",
            "HTTP/1.1 505",
        ),
        case(
            "the HTTP/2 preface",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "HTTP/1.1 505",
        ),
        case(
            "HTTP/1.2 is answered as 1.1",
            "GET /robots.txt HTTP/1.2\r\nHost: t\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
        case(
            "an absolute-form target",
            "GET http://10.7.0.2/robots.txt HTTP/1.1\r\nHost: 10.7.0.2\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
        case(
            "a dot-dot path",
            "GET /../../etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 400",
        ),
        case(
            "a method we do not serve",
            "DELETE /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405",
        ),
        case(
            "no such file",
            "GET /nope.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 404",
        ),
    ]
}

fn the_edge_case_corpus_gets_its_statuses(site: &mut Site) {
    let robots = site_files()
        .into_iter()
        .find(|(u, _)| u == "/robots.txt")
        .unwrap()
        .1;
    for case in corpus() {
        let request = case.request.clone();
        let out = site
            .run(move |a| http::exchange(a, &request))
            .unwrap_or_else(|e| site.fail(&format!("{}: {e}", case.name)));
        let text = String::from_utf8_lossy(&out);
        if !text.starts_with(case.status) {
            site.fail(&format!(
                "{}: expected `{}`, got {:?}",
                case.name,
                case.status,
                &text[..text.len().min(200)]
            ));
        }
        // And the server goes on serving the next client.
        let next = site.run(|a| http::get(a, "/robots.txt", ""));
        match next {
            Ok(r) if r.status == 200 && r.body == robots => {}
            other => site.fail(&format!("after {}: {other:?}", case.name)),
        }
    }
}

fn ten_thousand_keep_alive_requests_succeed(site: &mut Site) {
    let len = site_files()
        .into_iter()
        .find(|(u, _)| u == "/index.html")
        .unwrap()
        .1
        .len();
    let t0 = Instant::now();
    let ok = site
        .run(move |a| http::keep_alive_load(a, 100, 100, "/index.html", len))
        .unwrap_or_else(|e| site.fail(&format!("keep-alive load: {e}")));
    let took = t0.elapsed();
    eprintln!(
        "10,000 requests over 100 keep-alive connections in {took:.1?} ({:.0} req/s)",
        10_000.0 / took.as_secs_f64()
    );
    assert_eq!(ok, 10_000);
}

fn slowloris_leaves_room_for_a_normal_client(site: &mut Site) {
    let url = format!("http://{}/", site.addr);
    let slow = site
        .ns
        .command("slowhttptest")
        .args([
            "-H", "-c", "200", "-i", "10", "-r", "200", "-x", "24", "-p", "3",
        ])
        .args(["-l", "30", "-t", "GET", "-u", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("slowhttptest runs");
    let mut slow = KillOnDrop(Some(slow));
    // Let it open its connections and start trickling headers.
    thread::sleep(Duration::from_secs(8));
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        let t0 = Instant::now();
        let out = site.curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]);
        let took = t0.elapsed();
        worst = worst.max(took);
        if !out.status.success() || out.stdout != b"200" {
            site.fail(&format!(
                "under slowloris, curl: {} {}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        thread::sleep(Duration::from_secs(4));
    }
    eprintln!("under slowloris (200 connections), a normal curl took at most {worst:.2?}");
    let status = slow.0.take().unwrap().wait().expect("slowhttptest exits");
    assert!(status.success(), "slowhttptest failed: {status}");
}

#[test]
fn the_hosted_site_serves_real_clients() {
    if let Some(why) = unavailable(&["curl", "nc"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let mut site = Site::hosted();
    every_file_comes_back_identical(&mut site);
    pipelined_requests_come_back_in_order(&mut site);
    the_edge_case_corpus_gets_its_statuses(&mut site);
    ten_thousand_keep_alive_requests_succeed(&mut site);
}

#[test]
fn the_site_in_qemu_serves_real_clients() {
    if let Some(why) = unavailable(&["curl", "nc", "slowhttptest", "qemu-system-x86_64"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let mut site = Site::qemu();
    every_file_comes_back_identical(&mut site);
    pipelined_requests_come_back_in_order(&mut site);
    the_edge_case_corpus_gets_its_statuses(&mut site);
    ten_thousand_keep_alive_requests_succeed(&mut site);
    slowloris_leaves_room_for_a_normal_client(&mut site);
}
