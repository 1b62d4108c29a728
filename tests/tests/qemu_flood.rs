//! End-to-end: frames that reach the NIC while the appliance boots must not cost it its network.
//!
//! The static-site appliance in QEMU on a TAP (`cargo xtask run-qemu --net tap`), x86_64
//! microvm and AArch64 `virt`, both virtio-mmio, under TCG. QEMU starts paused (`-S`) with the
//! TAP already open, so the datagrams sent to the guest wait in the TAP's queue; when the guest
//! runs, its driver's first receive buffers fill at once, before the interrupt line is routed.
//! That used to wedge AArch64 for good: QEMU's `virt` describes virtio-mmio lines as
//! edge-triggered, the line went high before the GIC was set up, and no edge ever came again
//! (frames piled up in the used ring; only the stack's timers ever looked at it). Then, once
//! the stack has gone quiet (no timer left to poll the rings), twelve probers connect to port
//! 80 at once, as `bench http`'s first-response probe does; one of them must get `200`.
//!
//! Needs root, `/dev/net/tun`, `ip` and QEMU; each test says why it skips otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use morgana_tests::netns::{self, GUEST, Netns, TAP};
use morgana_tests::runner::{Xtask, qemu_unavailable, xtask_command};

/// From starting run-qemu to QEMU holding the TAP (cargo checks freshness).
const START_LIMIT: Duration = Duration::from_secs(120);
/// QEMU's MAC address for the first NIC, which run-qemu leaves as it is.
const GUEST_MAC: &str = "52:54:00:12:34:56";
/// Datagrams queued for the guest before it runs: more than its 256 receive buffers.
const BURST: usize = 400;
/// After the guest runs, how long the test keeps quiet: its ARP exchange completes and the
/// stack's timers run out, so only an interrupt can make it look at its rings again.
const QUIET: Duration = Duration::from_secs(4);
/// How long the probers try.
const ANSWER_LIMIT: Duration = Duration::from_secs(20);
/// Probers, each retrying a connection every [`PROBE_TIMEOUT`].
const PROBERS: usize = 12;
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

fn unavailable(qemu: &str) -> Option<String> {
    if let Err(why) = netns::available() {
        return Some(why);
    }
    qemu_unavailable(qemu)
}

fn build(arch: &str) {
    let out = xtask_command(&["build", "--appliance", "static-site", "--arch", arch])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building static-site for {arch} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `command` to QEMU's human monitor on `socket`.
fn monitor(socket: &Path, command: &str) -> Result<(), String> {
    let mut stream =
        UnixStream::connect(socket).map_err(|err| format!("{}: {err}", socket.display()))?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|err| format!("monitor: {err}"))?;
    // Let QEMU read the line before the connection closes.
    thread::sleep(Duration::from_millis(200));
    Ok(())
}

/// `BURST` UDP datagrams to the guest's discard port, from inside the namespace.
fn burst() -> Result<(), String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|err| format!("udp: {err}"))?;
    let to = SocketAddrV4::new(GUEST, 9);
    for i in 0..BURST {
        let payload = format!("queued while the guest boots {i}");
        socket
            .send_to(payload.as_bytes(), to)
            .map_err(|err| format!("udp send: {err}"))?;
    }
    Ok(())
}

/// One connection and one `GET /`: whether `200` came back.
fn probe(site: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&site, PROBE_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: {GUEST}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && &head == b"HTTP/1.1 200"
}

/// [`PROBERS`] probers at once until one gets an answer: how long that took.
fn first_answer(limit: Duration) -> Result<Duration, String> {
    let site = SocketAddr::V4(SocketAddrV4::new(GUEST, 80));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let probers: Vec<_> = (0..PROBERS)
        .map(|_| {
            let (stop, tx) = (stop.clone(), tx.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if probe(site) {
                        let _ = tx.send(start.elapsed());
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let answer = rx.recv_timeout(limit);
    stop.store(true, Ordering::Relaxed);
    for prober in probers {
        let _ = prober.join();
    }
    answer.map_err(|_| format!("no HTTP answer from {site} within {limit:?}"))
}

fn flood_while_booting(arch: &str, qemu: &str) {
    if let Some(why) = unavailable(qemu) {
        eprintln!("skipped: {why}");
        return;
    }
    build(arch);
    let name = netns::unique_name("mgf");
    // Deletes the namespace should run-qemu be killed before it can.
    let ns = Netns::adopt(&name);
    let socket = std::env::temp_dir().join(format!("{name}.monitor"));
    let monitor_arg = format!("unix:{},server,nowait", socket.display());
    let start = Instant::now();
    let xtask = Xtask::spawn(&[
        "run-qemu",
        "--appliance",
        "static-site",
        "--arch",
        arch,
        "--accel",
        "tcg",
        "--net",
        "tap",
        "--netns",
        &name,
        "--timeout",
        "120",
        "--append",
        "access_log=off",
        "--",
        "-S",
        "-monitor",
        &monitor_arg,
    ]);
    let result = (|| -> Result<Duration, String> {
        while !netns::exists(&name) || !socket.exists() {
            if start.elapsed() > START_LIMIT {
                return Err(format!(
                    "no namespace {name} or QEMU monitor after {START_LIMIT:?}"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        ns.wait_for_carrier(TAP, START_LIMIT.saturating_sub(start.elapsed()))?;
        // No ARP from Linux: the datagrams go straight into the TAP's queue.
        ns.ip(&["link", "set", TAP, "txqueuelen", "1000"])?;
        ns.ip(&[
            "neigh",
            "replace",
            &GUEST.to_string(),
            "lladdr",
            GUEST_MAC,
            "dev",
            TAP,
            "nud",
            "permanent",
        ])?;
        ns.run(burst)??;
        monitor(&socket, "cont")?;
        thread::sleep(QUIET);
        ns.run(|| first_answer(ANSWER_LIMIT))?
    })();
    let _ = std::fs::remove_file(&socket);
    match result {
        Ok(after) => eprintln!("{arch}: first HTTP answer {after:?} after the probers started"),
        Err(why) => panic!("{arch}: {why}\n{}", xtask.abort()),
    }
    drop(xtask);
}

#[test]
fn x86_64_answers_after_frames_queued_while_it_booted() {
    flood_while_booting("x86_64", "qemu-system-x86_64");
}

#[test]
fn aarch64_answers_after_frames_queued_while_it_booted() {
    flood_while_booting("aarch64", "qemu-system-aarch64");
}
