//! End-to-end: appliances built and run as Linux processes on the hosted platform.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Builds appliance `name` in a target directory of its own (the outer `cargo test` holds the
/// main one) and returns the binary's path.
fn build(name: &str) -> PathBuf {
    let target = workspace().join("target").join("e2e");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--quiet", "-p", name, "--target-dir"])
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {name} failed");
    target.join("debug").join(name)
}

#[test]
fn hello_greets_sleeps_100ms_and_exits_0() {
    let bin = build("hello");
    let t0 = Instant::now();
    let out = Command::new(&bin).output().expect("hello runs");
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}, output:\n{stdout}",
        out.status
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("Hello from Morgana"));
    let report = lines.next().expect("a second line");
    // "slept 100.166 ms on hosted (asked for 100 ms)"
    let ms: f64 = report
        .strip_prefix("slept ")
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unexpected report: {report}"));
    assert!((100.0..5000.0).contains(&ms), "{report}");
    assert!(report.ends_with("on hosted (asked for 100 ms)"), "{report}");
    assert!(
        took >= Duration::from_millis(100),
        "the process took {took:?}"
    );
}

/// Runs `ip ARGS`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace, deleted when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.0]);
    }
}

/// The echo appliance as a Linux process on a TAP device, with the Linux kernel in a namespace
/// as its peer: `ping` gets answers, 1 MiB through the kernel's TCP comes back identical, and
/// so do UDP datagrams.
#[test]
fn echo_on_a_tap_answers_ping_tcp_and_udp_from_linux() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    if !root || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipped: a TAP device and a namespace need root and /dev/net/tun");
        return;
    }
    let bin = build("echo");
    let id = std::process::id() % 100_000;
    let (tap, ns) = (format!("mge{id}"), Netns(format!("mgecho{id}")));
    assert!(ip(&["netns", "add", &ns.0]));
    let child = Command::new(&bin)
        .args([
            format!("tap={tap}"),
            "ip=10.214.0.2/24".into(),
            "echo_count=3".into(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("echo runs");
    let mut child = KillOnDrop(Some(child));
    // Wait for the appliance to create its TAP interface, then give it to the namespace.
    let t0 = Instant::now();
    while !ip(&["link", "show", &tap]) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no TAP interface {tap}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ip(&["link", "set", &tap, "netns", &ns.0]));
    assert!(ip(&[
        "-n",
        &ns.0,
        "addr",
        "add",
        "10.214.0.1/24",
        "dev",
        &tap
    ]));
    assert!(ip(&["-n", &ns.0, "link", "set", &tap, "up"]));
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "10.214.0.2",
        ])
        .output()
        .expect("ping runs");
    assert!(
        ping.status.success(),
        "ping failed:\n{}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let udp = Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c"])
        .arg(
            "import socket, threading\n\
             data = bytes(range(256)) * 4096\n\
             t = socket.create_connection(('10.214.0.2', 7), timeout=10)\n\
             got = bytearray()\n\
             def rd():\n\
             \x20   while len(got) < len(data):\n\
             \x20       b = t.recv(65536)\n\
             \x20       if not b: break\n\
             \x20       got.extend(b)\n\
             r = threading.Thread(target=rd); r.start(); t.sendall(data); r.join(20)\n\
             if bytes(got) != data: raise SystemExit('TCP echo: %d of %d bytes' % (len(got), len(data)))\n\
             t.close()\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)\n\
             for i in range(3):\n\
             \x20   m = b'tap echo %d' % i\n\
             \x20   for _ in range(5):\n\
             \x20       s.sendto(m, ('10.214.0.2', 7))\n\
             \x20       try:\n\
             \x20           d, _ = s.recvfrom(100)\n\
             \x20           if d == m: break\n\
             \x20       except socket.timeout: pass\n\
             \x20   else: raise SystemExit('no echo of %r' % m)\n",
        )
        .output()
        .expect("python3 runs");
    assert!(
        udp.status.success(),
        "TCP/UDP echo failed: {}",
        String::from_utf8_lossy(&udp.stderr)
    );
    let out = child
        .0
        .take()
        .unwrap()
        .wait_with_output()
        .expect("echo exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "echo failed: {stdout}");
    assert!(stdout.contains("echo: 3 datagrams echoed"), "{stdout}");
}

/// Kills the appliance if the test fails before it exits.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `geteuid(2)`, without a libc dependency in the test crate.
unsafe fn libc_geteuid() -> u32 {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { geteuid() }
}
