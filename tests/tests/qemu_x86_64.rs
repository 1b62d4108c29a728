//! End-to-end: x86_64 PVH images booted in QEMU by `cargo xtask run-qemu`.
//!
//! Each test runs xtask as a subprocess, `cargo run -p xtask -- ...`, with
//! `CARGO_TARGET_DIR=target/e2e`: the outer `cargo test` holds the lock on `target/`, and xtask
//! builds images into whatever target directory cargo uses. Before the first boot the tests run
//! `cargo xtask install-qemu`, which installs QEMU when we are root (as in CI); when QEMU 10 or
//! newer is missing and we are not root, every test here is skipped, saying why.
//!
//! Every run is bounded: run-qemu kills QEMU after [`QEMU_TIMEOUT`], and each xtask subprocess,
//! with everything it started, is killed if it outlives its own limit.

use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use morgana_tests::runner::{Run, free_port, xtask, xtask_answering};

/// How long QEMU may run in one test (run-qemu's `--timeout`).
const QEMU_TIMEOUT: Duration = Duration::from_secs(60);
/// On top of that for a run-qemu subprocess: cargo checking that xtask and the image are fresh.
const RUN_MARGIN: Duration = Duration::from_secs(120);
/// A build subprocess: compiling xtask or an image from scratch, or installing QEMU.
const BUILD_LIMIT: Duration = Duration::from_secs(15 * 60);
/// run-qemu's exit codes for QEMU failing, the guest stopping without an exit code, and
/// QEMU timing out (see xtask's qemu.rs).
const EXIT_QEMU_FAILED: i32 = 70;
const EXIT_NO_EXIT_CODE: i32 = 71;
const EXIT_TIMED_OUT: i32 = 124;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Whether QEMU can be used.
#[derive(Clone)]
enum Qemu {
    Ready,
    /// Not installed, and we cannot install it: skip, saying why.
    Missing(String),
    /// Installing it failed: every test fails, saying why.
    Broken(String),
}

/// Runs `cargo xtask install-qemu` once for all tests (concurrent apt runs would collide).
fn qemu() -> Qemu {
    static QEMU: OnceLock<Qemu> = OnceLock::new();
    QEMU.get_or_init(|| {
        let run = xtask(&["install-qemu"], BUILD_LIMIT);
        match (run.status.success(), is_root()) {
            (true, _) => Qemu::Ready,
            (false, false) if run.killed.is_none() => Qemu::Missing(run.stderr),
            (false, _) => Qemu::Broken(run.describe()),
        }
    })
    .clone()
}

/// `true` (after printing why) when the test cannot run here.
fn skip() -> bool {
    match qemu() {
        Qemu::Ready => false,
        Qemu::Missing(why) => {
            eprintln!("skipped: QEMU 10 or newer is not installed and we are not root:\n{why}");
            true
        }
        Qemu::Broken(why) => panic!("installing QEMU failed: {why}"),
    }
}

/// Whether `/dev/kvm` opens read-write, as run-qemu requires for KVM.
fn kvm() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|err| format!("/dev/kvm: {err}"))
}

/// Builds `appliance` for x86_64, then boots it with run-qemu and `options`; fails on timeouts.
fn boot(appliance: &str, options: &[&str]) -> Run {
    boot_answering(appliance, options, None)
}

/// [`boot`], answering a console prompt on the guest's serial input.
fn boot_answering(
    appliance: &str,
    options: &[&str],
    prompt: Option<(&'static str, &'static [u8])>,
) -> Run {
    let built = xtask(
        &["build", "--appliance", appliance, "--arch", "x86_64"],
        BUILD_LIMIT,
    );
    assert!(
        built.status.success() && built.killed.is_none(),
        "building {appliance} failed: {}",
        built.describe()
    );
    let timeout = QEMU_TIMEOUT.as_secs().to_string();
    let mut args = vec!["run-qemu", "--appliance", appliance, "--timeout", &timeout];
    args.extend(options);
    let run = xtask_answering(&args, QEMU_TIMEOUT + RUN_MARGIN, prompt);
    if let Some(after) = run.killed {
        panic!("killed after {after:?}: {}", run.describe());
    }
    assert_ne!(
        run.code(),
        Some(EXIT_TIMED_OUT),
        "QEMU did not finish within {QEMU_TIMEOUT:?}: {}",
        run.describe()
    );
    run
}

/// The run ended with the appliance's own exit code, not with QEMU failing or the guest
/// stopping some other way.
fn assert_guest_exited(run: &Run) {
    for (code, what) in [
        (EXIT_QEMU_FAILED, "QEMU failed"),
        (EXIT_NO_EXIT_CODE, "the guest stopped without an exit code"),
    ] {
        assert!(
            !(run.code() == Some(code) && run.stderr.contains(what)),
            "{what}: {}",
            run.describe()
        );
    }
}

fn hello(machine: &str, accel: &str) {
    let run = boot("hello", &["--machine", machine, "--accel", accel]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.console().contains("Hello from Morgana"),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains(&format!("accel: {accel} ")),
        "{}",
        run.describe()
    );
}

#[test]
fn hello_on_microvm_under_tcg() {
    if skip() {
        return;
    }
    hello("microvm", "tcg");
}

#[test]
fn hello_on_q35_under_tcg() {
    if skip() {
        return;
    }
    hello("q35", "tcg");
}

#[test]
fn hello_on_microvm_under_kvm() {
    if skip() {
        return;
    }
    if let Err(why) = kvm() {
        eprintln!("skipped: no KVM: {why}");
        return;
    }
    hello("microvm", "kvm");
}

#[test]
fn hello_on_q35_under_kvm() {
    if skip() {
        return;
    }
    if let Err(why) = kvm() {
        eprintln!("skipped: no KVM: {why}");
        return;
    }
    hello("q35", "kvm");
}

/// Whether `text` holds `file:LINE`, e.g. `appliances/crash/src/main.rs:12:23`.
fn has_location(text: &str, file: &str) -> bool {
    let pattern = format!("{file}:");
    text.match_indices(&pattern).any(|(at, _)| {
        text[at + pattern.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn a_panic_exits_non_zero_showing_its_message_and_location() {
    if skip() {
        return;
    }
    let run = boot("crash", &["--accel", "tcg", "--append", "panic"]);
    assert_ne!(run.code(), Some(0), "{}", run.describe());
    assert_guest_exited(&run);
    let console = run.console();
    assert!(console.contains("deliberate panic"), "{}", run.describe());
    assert!(
        has_location(&console, "crash/src/main.rs"),
        "no file:line: {}",
        run.describe()
    );
}

#[test]
fn an_unmapped_read_prints_a_crash_report() {
    if skip() {
        return;
    }
    let run = boot("crash", &["--accel", "tcg", "--append", "fault"]);
    assert_ne!(run.code(), Some(0), "{}", run.describe());
    assert_guest_exited(&run);
    let console = run.console();
    assert!(
        console.to_lowercase().contains("page fault"),
        "{}",
        run.describe()
    );
    assert!(console.contains("RIP"), "{}", run.describe());
}

#[test]
fn running_out_of_memory_exits_non_zero_and_says_so() {
    if skip() {
        return;
    }
    let run = boot("crash", &["--accel", "tcg", "--append", "oom"]);
    assert_ne!(run.code(), Some(0), "{}", run.describe());
    assert_guest_exited(&run);
    assert!(
        run.console().to_lowercase().contains("out of memory"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_200ms_guest_sleep_lasts_200ms_to_5s_on_the_host() {
    if skip() {
        return;
    }
    let run = boot("tasks", &["--accel", "tcg", "--append", "sleep200"]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    // The sleep starts after the shim's last boot line (or the first line at all) and ends
    // before "slept 200 ms".
    let start = run
        .arrival("boot: entry to main")
        .or_else(|| run.lines.first().map(|(at, _)| *at))
        .unwrap_or_else(|| panic!("no console output: {}", run.describe()));
    let end = run
        .arrival("slept 200 ms")
        .unwrap_or_else(|| panic!("no `slept 200 ms`: {}", run.describe()));
    let host = end.duration_since(start);
    assert!(
        (Duration::from_millis(200)..Duration::from_secs(5)).contains(&host),
        "the host saw {host:?}: {}",
        run.describe()
    );
}

#[test]
fn a_thousand_tasks_with_timers_complete() {
    if skip() {
        return;
    }
    let run = boot("tasks", &["--accel", "tcg"]);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(
        run.console().contains("1000 tasks done"),
        "{}",
        run.describe()
    );
}

#[test]
fn locations_are_recognised() {
    assert!(has_location(
        "morgana: panicked at appliances/crash/src/main.rs:12:23:",
        "crash/src/main.rs"
    ));
    assert!(!has_location(
        "panicked at crash/src/main.rs: somewhere",
        "crash/src/main.rs"
    ));
}

/// The interrupt plumbing end to end: COM1's receive interrupt (ISA IRQ 4) routed through the
/// IOAPIC to a vector that marks an event a task awaits. The byte is sent only once the guest
/// says it waits, so only the interrupt can wake it.
fn serial_interrupt(machine: &str) {
    if skip() {
        return;
    }
    let run = boot_answering(
        "serial-irq",
        &["--machine", machine, "--accel", "tcg"],
        Some(("waiting for a byte on COM1", b"x")),
    );
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    // Exit code 0 also means at least one wake came from the interrupt (see the appliance).
    assert!(
        run.console().contains("got 'x' after"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_device_interrupt_through_the_ioapic_wakes_its_task_on_microvm() {
    serial_interrupt("microvm");
}

#[test]
fn a_device_interrupt_through_the_ioapic_wakes_its_task_on_q35() {
    serial_interrupt("q35");
}

/// Without RDSEED/RDRAND (QEMU takes the last `-cpu`), entropy comes from the virtio-rng device
/// run-qemu adds: over virtio-mmio on microvm, over virtio-pci on q35.
fn entropy_from_virtio_rng(machine: &str, bus: &str) {
    if skip() {
        return;
    }
    let run = boot(
        "tasks",
        &[
            "--machine",
            machine,
            "--accel",
            "tcg",
            "--append",
            "need-entropy",
            "--",
            "-cpu",
            "max,-rdrand,-rdseed",
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let console = run.console();
    assert!(
        console.contains(&format!("entropy: virtio-rng ({bus}")),
        "{}",
        run.describe()
    );
    assert!(console.contains("1000 tasks done"), "{}", run.describe());
}

#[test]
fn entropy_comes_from_virtio_rng_over_mmio_on_microvm() {
    entropy_from_virtio_rng("microvm", "mmio");
}

#[test]
fn entropy_comes_from_virtio_rng_over_pci_on_q35() {
    entropy_from_virtio_rng("q35", "pci");
}

/// virtio-net end to end, below the network stack: an ARP request for QEMU's user-mode
/// gateway and its reply, the second time announced only by the device's interrupt (IOAPIC
/// line on microvm's virtio-mmio, MSI-X on q35's virtio-pci).
fn virtio_net_answers(machine: &str, device: &str) {
    if skip() {
        return;
    }
    let netdev = format!("{device},netdev=n0");
    let run = boot(
        "net-probe",
        &[
            "--machine",
            machine,
            "--accel",
            "tcg",
            "--",
            "-netdev",
            "user,id=n0",
            "-device",
            &netdev,
        ],
    );
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    let console = run.console();
    assert!(
        console.contains("ARP reply: 10.0.2.2 is at"),
        "{}",
        run.describe()
    );
    assert!(
        console.contains("after the interrupt: a "),
        "{}",
        run.describe()
    );
}

#[test]
fn virtio_net_over_mmio_with_an_ioapic_line_on_microvm() {
    virtio_net_answers("microvm", "virtio-net-device");
}

#[test]
fn virtio_net_over_pci_with_msix_on_q35() {
    virtio_net_answers("q35", "virtio-net-pci");
}

/// Sends three datagrams to the echo appliance through QEMU's user network (a host port
/// forwarded to its port 7), retrying each until it comes back, then the stop word; true when
/// all came back. (Datagrams sent while the guest boots may arrive late and twice: the
/// appliance counts nothing, it stops at the word.)
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

/// The echo appliance over QEMU user networking: 10 MB through TCP port 7 (host TCP → slirp →
/// virtio-net → the stack's TCP and back, compared byte for byte), then UDP datagrams and the
/// stop word; the appliance exits 0.
/// With `dhcp`, the appliance gets its address from QEMU's DHCP server (`ip=dhcp`) instead of
/// the static `ip=` run-qemu passes.
fn udp_echo_over_user_networking(machine: &str, dhcp: bool) {
    if skip() {
        return;
    }
    let (port, tcp_port) = (free_port(), free_port());
    let client = thread::spawn(move || {
        let tcp = tcp_echo_client(tcp_port, 10 << 20, QEMU_TIMEOUT);
        (tcp, udp_echo_client(port, QEMU_TIMEOUT + RUN_MARGIN))
    });
    let forward = format!("udp:{port}:7");
    let forward_tcp = format!("tcp:{tcp_port}:7");
    let run = boot(
        "echo",
        &[
            "--machine",
            machine,
            "--accel",
            "tcg",
            "--net",
            "user",
            "--forward",
            &forward,
            "--forward",
            &forward_tcp,
            "--append",
            if dhcp {
                "stop=stop-now ip=dhcp"
            } else {
                "stop=stop-now"
            },
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
    if dhcp {
        assert!(
            run.console()
                .contains("DHCP lease 10.0.2.15/24 gateway Some(10.0.2.2)"),
            "{}",
            run.describe()
        );
    }
}

#[test]
fn tcp_and_udp_echo_over_qemu_user_networking_on_microvm() {
    udp_echo_over_user_networking("microvm", false);
}

#[test]
fn tcp_and_udp_echo_over_qemu_user_networking_on_q35_with_a_dhcp_lease() {
    udp_echo_over_user_networking("q35", true);
}
