//! End-to-end: AArch64 images (arm64 Image, DTB in `x0`) booted on QEMU `virt` under TCG by
//! `cargo xtask run-qemu --arch aarch64`, with a GICv3 and, for hello and the timers, a GICv2.
//!
//! As in `qemu_x86_64.rs`: each test runs xtask as a subprocess with
//! `CARGO_TARGET_DIR=target/e2e`, every run is bounded (run-qemu's `--timeout`, and a limit on
//! each subprocess, which is killed with everything it started), and when
//! `qemu-system-aarch64` is missing every test is skipped, saying why. The exit code comes from
//! the image's `morgana: exit code N` console line (see xtask's `qemu/aarch64.rs`).

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use morgana_tests::runner::{Run, free_port, xtask, xtask_answering};

/// How long QEMU may run in one test (run-qemu's `--timeout`).
const QEMU_TIMEOUT: Duration = Duration::from_secs(60);
/// On top of that for a run-qemu subprocess: cargo checking that xtask and the image are fresh.
const RUN_MARGIN: Duration = Duration::from_secs(120);
/// A build subprocess: compiling xtask or an image from scratch.
const BUILD_LIMIT: Duration = Duration::from_secs(15 * 60);
/// run-qemu's exit code when it killed QEMU at `--timeout`.
const EXIT_TIMED_OUT: i32 = 124;

/// `true` (after printing why) when the test cannot run here.
fn skip() -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("qemu-system-aarch64").is_file())
    });
    if !found {
        eprintln!(
            "skipped: qemu-system-aarch64 is not installed (`cargo xtask install-qemu` installs \
             it as root; Debian: qemu-system-arm)"
        );
    }
    !found
}

/// Builds `appliance` for AArch64, then boots it with run-qemu and `options`; fails on
/// timeouts.
fn boot(appliance: &str, options: &[&str]) -> Run {
    let run = boot_for(appliance, options, QEMU_TIMEOUT);
    assert_ne!(
        run.code(),
        Some(EXIT_TIMED_OUT),
        "QEMU did not finish within {QEMU_TIMEOUT:?}: {}",
        run.describe()
    );
    run
}

/// [`boot`] with QEMU stopped after `timeout`, which may happen.
fn boot_for(appliance: &str, options: &[&str], timeout: Duration) -> Run {
    let built = xtask(
        &["build", "--appliance", appliance, "--arch", "aarch64"],
        BUILD_LIMIT,
    );
    assert!(
        built.status.success() && built.killed.is_none(),
        "building {appliance} failed: {}",
        built.describe()
    );
    let seconds = timeout.as_secs().to_string();
    let mut args = vec![
        "run-qemu",
        "--arch",
        "aarch64",
        "--appliance",
        appliance,
        "--timeout",
        &seconds,
    ];
    args.extend(options);
    let run = xtask_answering(&args, timeout + RUN_MARGIN, None);
    if let Some(after) = run.killed {
        panic!("killed after {after:?}: {}", run.describe());
    }
    run
}

fn hello(gic: &str) {
    if skip() {
        return;
    }
    let run = boot("hello", &["--gic", gic]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let console = run.console();
    assert!(console.contains("Hello from Morgana"), "{}", run.describe());
    assert!(
        console.contains(&format!("interrupts: GICv{gic}")),
        "{}",
        run.describe()
    );
    assert!(
        console.contains("boot: entry to main in "),
        "{}",
        run.describe()
    );
    assert!(console.contains("on qemu-virt"), "{}", run.describe());
}

#[test]
fn hello_on_virt_with_gicv3() {
    hello("3");
}

#[test]
fn hello_on_virt_with_gicv2() {
    hello("2");
}

#[test]
fn a_panic_exits_101_showing_its_message_and_location() {
    if skip() {
        return;
    }
    let run = boot("crash", &["--append", "panic"]);
    assert_eq!(run.code(), Some(101), "{}", run.describe());
    let console = run.console();
    assert!(console.contains("deliberate panic"), "{}", run.describe());
    assert!(
        console.contains("appliances/crash/src/main.rs:"),
        "{}",
        run.describe()
    );
}

#[test]
fn an_unmapped_read_prints_a_crash_report_and_exits_103() {
    if skip() {
        return;
    }
    let run = boot("crash", &["--append", "fault"]);
    assert_eq!(run.code(), Some(103), "{}", run.describe());
    let console = run.console();
    for text in [
        "data abort",
        "read of address 0x400000000000 (FAR_EL1): translation fault",
        "ELR 0x",
        "backtrace",
        "#1 0x",
    ] {
        assert!(console.contains(text), "{text}: {}", run.describe());
    }
}

#[test]
fn running_out_of_memory_exits_102() {
    if skip() {
        return;
    }
    let run = boot("crash", &["--append", "oom"]);
    assert_eq!(run.code(), Some(102), "{}", run.describe());
    assert!(
        run.console().contains("out of memory"),
        "{}",
        run.describe()
    );
}

/// The tasks appliance: a 200 ms sleep the host times, then 1,000 tasks on timers, with
/// entropy from RNDR (`need-entropy` makes its absence an error).
fn timers(gic: &str) {
    if skip() {
        return;
    }
    let run = boot(
        "tasks",
        &["--gic", gic, "--append", "sleep200 need-entropy"],
    );
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.console().contains("1000 tasks done in"),
        "{}",
        run.describe()
    );
    assert!(
        run.console().contains("entropy: RNDR"),
        "{}",
        run.describe()
    );
    let slept = run
        .lines
        .iter()
        .find_map(|(_, line)| {
            let us = line.strip_prefix("slept 200 ms (measured ")?;
            us.strip_suffix(" us)")?.parse::<u64>().ok()
        })
        .unwrap_or_else(|| panic!("no measured sleep: {}", run.describe()));
    assert!(
        (200_000..5_000_000).contains(&slept),
        "slept {slept} us: {}",
        run.describe()
    );
}

#[test]
fn a_200ms_sleep_and_a_thousand_timers_with_gicv3() {
    timers("3");
}

#[test]
fn a_200ms_sleep_and_a_thousand_timers_with_gicv2() {
    timers("2");
}

/// A device tree QEMU accepts (it adds its memory and `/chosen` nodes) but nodes nested 20
/// deep: root with `#address-cells` and `#size-cells`, then `n { n { ... } }`.
fn deep_device_tree(depth: usize) -> Vec<u8> {
    let strings = b"#address-cells\0#size-cells\0";
    let word = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_be_bytes());
    let mut structure = Vec::new();
    word(&mut structure, 1); // FDT_BEGIN_NODE, the root (empty name, padded)
    word(&mut structure, 0);
    for name_offset in [0, 15] {
        for w in [3, 4, name_offset, 2] {
            word(&mut structure, w); // FDT_PROP, 4 bytes, name, value 2
        }
    }
    for _ in 0..depth {
        word(&mut structure, 1);
        structure.extend_from_slice(b"n\0\0\0");
    }
    for _ in 0..=depth {
        word(&mut structure, 2); // FDT_END_NODE
    }
    word(&mut structure, 9); // FDT_END
    let (header, reservations) = (40u32, 16u32);
    let off_struct = header + reservations;
    let off_strings = off_struct + structure.len() as u32;
    let total = off_strings + strings.len() as u32;
    let mut blob = Vec::new();
    for w in [
        0xd00d_feed,
        total,
        off_struct,
        off_strings,
        header,
        17,
        16,
        0,
        strings.len() as u32,
        structure.len() as u32,
    ] {
        word(&mut blob, w);
    }
    blob.extend_from_slice(&[0; 16]); // the empty reservation map
    blob.extend_from_slice(&structure);
    blob.extend_from_slice(strings);
    blob
}

#[test]
fn a_hostile_device_tree_is_a_boot_failure() {
    if skip() {
        return;
    }
    let path = std::env::temp_dir().join(format!("morgana-deep-{}.dtb", std::process::id()));
    std::fs::write(&path, deep_device_tree(20)).unwrap();
    let dtb = path.to_string_lossy().into_owned();
    // Without a readable DTB there is no PSCI conduit, so the image halts after its status
    // line: run-qemu stops it at the timeout and reports the code from the line.
    let run = boot_for("hello", &["--", "-dtb", &dtb], Duration::from_secs(10));
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code(), Some(104), "{}", run.describe());
    assert!(
        run.console().contains("nest deeper than 16"),
        "{}",
        run.describe()
    );
}

fn udp_echo_client(port: u16, limit: Duration) -> bool {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a local UDP socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let start = Instant::now();
    for i in 0..4 {
        let message = if i < 3 {
            format!("morgana echo test {i}")
        } else {
            "stop-now".to_owned()
        };
        loop {
            if start.elapsed() > limit {
                return false;
            }
            let _ = socket.send_to(message.as_bytes(), ("127.0.0.1", port));
            let mut buf = [0u8; 128];
            if let Ok((n, _)) = socket.recv_from(&mut buf)
                && &buf[..n] == message.as_bytes()
            {
                break;
            }
        }
    }
    true
}

/// Echoes `len` pseudo-random bytes through the echo appliance's TCP port (forwarded from the
/// host's `port`), retrying the connection while the guest boots; true when every byte came
/// back in order.
fn tcp_echo_client(port: u16, len: usize, limit: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let start = Instant::now();
    let data: Vec<u8> = (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    loop {
        if start.elapsed() > limit {
            return Err("no TCP echo before the time limit".into());
        }
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = stream.try_clone().unwrap();
        let expected = data.len();
        let read = thread::spawn(move || {
            let mut got = Vec::with_capacity(expected);
            let mut buf = vec![0u8; 65536];
            while got.len() < expected {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            got
        });
        // slirp accepts the connection before the guest does: a reset or an early close means
        // the appliance was not listening yet.
        if stream.write_all(&data).is_err() {
            let _ = read.join();
            thread::sleep(Duration::from_millis(200));
            continue;
        }
        let got = read.join().unwrap();
        if got.is_empty() {
            thread::sleep(Duration::from_millis(200));
            continue;
        }
        return if got == data {
            Ok(())
        } else {
            Err(format!(
                "{} of {} bytes came back, or out of order",
                got.len(),
                data.len()
            ))
        };
    }
}

/// The echo appliance over QEMU user networking with a virtio-mmio NIC found in the device
/// tree: 1 MB through TCP port 7 (compared byte for byte), then UDP datagrams and the stop word.
#[test]
fn tcp_and_udp_echo_over_qemu_user_networking() {
    if skip() {
        return;
    }
    let (port, tcp_port) = (free_port(), free_port());
    let client = thread::spawn(move || {
        let tcp = tcp_echo_client(tcp_port, 1 << 20, QEMU_TIMEOUT);
        (tcp, udp_echo_client(port, QEMU_TIMEOUT + RUN_MARGIN))
    });
    let forward = format!("udp:{port}:7");
    let forward_tcp = format!("tcp:{tcp_port}:7");
    let run = boot(
        "echo",
        &[
            "--net",
            "user",
            "--forward",
            &forward,
            "--forward",
            &forward_tcp,
            "--append",
            "stop=stop-now",
        ],
    );
    let (tcp, udp) = client.join().unwrap();
    if let Err(why) = tcp {
        panic!("TCP echo: {why}: {}", run.describe());
    }
    assert!(
        udp,
        "the UDP echoes did not all come back: {}",
        run.describe()
    );
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.console().contains(" datagrams echoed"),
        "{}",
        run.describe()
    );
}

/// The static site on AArch64, reached with curl through QEMU user networking: every file of
/// the site comes back byte for byte, then the appliance exits 0 (`exit_after=N`).
#[test]
fn the_static_site_serves_every_file_to_curl() {
    if skip() {
        return;
    }
    let site = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../appliances/static-site/site");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&site)
        .expect("the site directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (format!("/{name}"), std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    let port = free_port();
    let count = files.len();
    let client = thread::spawn(move || -> Result<(), String> {
        for (path, bytes) in &files {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "--max-time",
                    "60",
                    "--retry",
                    "60",
                    "--retry-delay",
                    "1",
                ])
                .args(["--retry-all-errors", "--retry-connrefused"])
                .arg(format!("http://127.0.0.1:{port}{path}"))
                .output()
                .map_err(|e| format!("curl: {e}"))?;
            if !out.status.success() || &out.stdout != bytes {
                return Err(format!(
                    "{path}: curl {}, {} bytes of {}",
                    out.status,
                    out.stdout.len(),
                    bytes.len()
                ));
            }
        }
        Ok(())
    });
    let forward = format!("tcp:{port}:80");
    let append = format!("exit_after={count} access_log=off");
    let run = boot(
        "static-site",
        &["--net", "user", "--forward", &forward, "--append", &append],
    );
    if let Err(why) = client.join().unwrap() {
        panic!("{why}: {}", run.describe());
    }
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.console().contains(&format!("{count} responses served")),
        "{}",
        run.describe()
    );
}
