//! End-to-end: appliances built and run as Linux processes on the hosted platform.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use morgana_tests::runner::{self, KillOnDrop};

fn build(name: &str) -> PathBuf {
    runner::build_hosted(name, false)
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

/// `geteuid(2)`, without a libc dependency in the test crate.
unsafe fn libc_geteuid() -> u32 {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { geteuid() }
}

fn full() -> bool {
    std::env::var_os("MORGANA_TEST_FULL").is_some_and(|v| v == "1")
}

/// The echo appliance as a Linux process on a TAP device moved into a namespace of ours:
/// 10 MB (100 MB with `MORGANA_TEST_FULL=1`) through the kernel's TCP come back with the same
/// SHA-256, with `loss` % of the IPv4 packets dropped by nftables each way; without loss, the
/// discard and chargen ports move 1 MB each, and the `pcap=FILE` capture reads in tcpdump.
fn hosted_echo_on_a_tap(loss: u32) {
    use morgana_tests::netns::{self, GUEST, Netns, PEER, PREFIX};
    use morgana_tests::traffic;
    use std::net::SocketAddrV4;

    let checks = netns::available().and_then(|()| {
        if loss > 0 {
            netns::nft_available()
        } else {
            Ok(())
        }
    });
    if let Err(why) = checks {
        eprintln!("skipped: {why}");
        return;
    }
    let bin = build("echo");
    let ns = Netns::create(&netns::unique_name("mgh")).expect("a namespace");
    let tap = netns::unique_ifname("mgh");
    let pcap = std::env::temp_dir().join(format!("{}.pcap", ns.name()));
    let mut args = vec![
        format!("tap={tap}"),
        format!("ip={GUEST}/{PREFIX}"),
        format!("gw={PEER}"),
        "stop=stop-now".into(),
    ];
    if loss == 0 {
        args.push(format!("pcap={}", pcap.display()));
    }
    let child = Command::new(&bin)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("echo runs");
    let mut child = KillOnDrop(Some(child));
    let t0 = Instant::now();
    while !ip(&["link", "show", &tap]) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no TAP interface {tap}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ns.adopt_interface(&tap).unwrap();
    ns.wait_for_guest(Duration::from_secs(10)).unwrap();
    if loss > 0 {
        ns.add_loss(&tap, loss).unwrap();
    }
    let bytes = if full() { 100_000_000 } else { 10_000_000 };
    let echo = SocketAddrV4::new(GUEST, 7);
    let transfer = ns
        .run(move || traffic::tcp_echo(echo, bytes))
        .unwrap()
        .unwrap_or_else(|why| panic!("TCP echo with {loss}% loss: {why}"));
    eprintln!(
        "hosted, {loss}% loss: {} MB echoed in {:.1?} ({:.1} Mbit/s each way)",
        bytes / 1_000_000,
        transfer.elapsed,
        transfer.mbit_per_s()
    );
    if loss > 0 {
        let (from, to) = ns.loss_counts().unwrap();
        eprintln!("nftables dropped {from} packets from the appliance, {to} to it");
        assert!(from > 0 && to > 0, "no loss one way: {from} from, {to} to");
        ns.remove_loss().unwrap();
    } else {
        let sink = SocketAddrV4::new(GUEST, 9);
        let source = SocketAddrV4::new(GUEST, 19);
        ns.run(move || traffic::tcp_sink(sink, 1 << 20))
            .unwrap()
            .expect("discard takes 1 MiB");
        ns.run(move || traffic::tcp_source(source, 1 << 20))
            .unwrap()
            .expect("chargen gives 1 MiB");
    }
    ns.run(move || traffic::udp_echo(echo, &[b"hosted 0", b"hosted 1", b"stop-now"]))
        .unwrap()
        .expect("UDP echo");
    let out = child
        .0
        .take()
        .unwrap()
        .wait_with_output()
        .expect("echo exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "echo failed: {stdout}");
    if loss == 0 {
        let dump = Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&pcap)
            .output();
        let _ = std::fs::remove_file(&pcap);
        match dump {
            Err(err) => eprintln!("tcpdump not run ({err}): the capture is not checked"),
            Ok(dump) => {
                let text = String::from_utf8_lossy(&dump.stdout);
                assert!(
                    dump.status.success(),
                    "tcpdump -r failed: {}",
                    String::from_utf8_lossy(&dump.stderr)
                );
                for expected in [
                    "10.7.0.2 > 10.7.0.1: ICMP echo reply",
                    "10.7.0.2.7 > 10.7.0.1.",
                ] {
                    assert!(
                        text.contains(expected),
                        "no `{expected}` in the capture: {}",
                        &text[..text.len().min(4000)]
                    );
                }
            }
        }
    }
}

#[test]
fn echo_on_a_tap_moves_10_mb_through_linux_tcp_intact() {
    hosted_echo_on_a_tap(0);
}

#[test]
fn echo_on_a_tap_moves_10_mb_through_linux_tcp_intact_with_2_percent_loss_each_way() {
    hosted_echo_on_a_tap(2);
}
