//! End-to-end: the echo appliance in QEMU on a TAP device (`cargo xtask run-qemu --net tap`),
//! with the Linux kernel in the run's network namespace as its peer, on microvm (virtio-mmio)
//! and q35 (virtio-pci), under TCG: ping gets answers, 10 MB (100 MB with
//! `MORGANA_TEST_FULL=1`, which `cargo xtask test --full` sets) through the kernel's TCP come
//! back with the same SHA-256 (full mode boots the release image), also with 2% of the IPv4
//! packets dropped by nftables in each direction, and UDP datagrams come back. run-qemu's `--pcap` capture opens in tcpdump, and
//! run-qemu leaves no namespace behind.
//!
//! Needs root, `/dev/net/tun`, `ip`, `nft` and QEMU; each test says why it skips otherwise.
//! Every run is bounded: run-qemu kills QEMU at its `--timeout`, and the test kills the whole
//! xtask process group if it outlives its own limit (then deletes the namespace itself).

use std::net::SocketAddrV4;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use morgana_tests::netns::{self, GUEST, Netns};
use morgana_tests::runner::{Xtask, qemu_unavailable, xtask_command};
use morgana_tests::traffic;

/// From starting run-qemu to the guest answering ping (cargo checks freshness, QEMU boots).
const BOOT_LIMIT: Duration = Duration::from_secs(120);

fn full() -> bool {
    std::env::var_os("MORGANA_TEST_FULL").is_some_and(|v| v == "1")
}

/// Bytes echoed through TCP: 10 MB, or 100 MB in full mode.
fn echo_bytes() -> u64 {
    if full() { 100_000_000 } else { 10_000_000 }
}

/// run-qemu's `--timeout`: the transfer at TCG speed (a few Mbit/s) with a wide margin.
fn qemu_timeout() -> Duration {
    Duration::from_secs(if full() { 900 } else { 150 })
}

/// Why these tests cannot run here, if they cannot.
fn unavailable(loss: bool) -> Option<String> {
    if let Err(why) = netns::available() {
        return Some(why);
    }
    if loss && let Err(why) = netns::nft_available() {
        return Some(why);
    }
    qemu_unavailable("qemu-system-x86_64")
}

/// Full mode boots the release image: the debug image's TCP moves a few Mbit/s under TCG,
/// which would make 100 MB take minutes per test.
fn profile() -> &'static [&'static str] {
    if full() { &["--release"] } else { &[] }
}

fn build_echo() {
    let mut args = vec!["build", "--appliance", "echo", "--arch", "x86_64"];
    args.extend(profile());
    let out = xtask_command(&args).output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building echo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How a run goes.
struct Case {
    machine: &'static str,
    /// Percent of IPv4 packets dropped each way on the TAP.
    loss: u32,
    /// Capture the run with `--pcap` and read it back with tcpdump.
    pcap: bool,
}

/// The echo appliance in QEMU on a TAP: see the module docs.
fn echo_on_a_tap(case: Case) {
    if let Some(why) = unavailable(case.loss > 0) {
        eprintln!("skipped: {why}");
        return;
    }
    build_echo();
    let name = netns::unique_name("mgq");
    // Deletes the namespace should run-qemu be killed before it can.
    let ns = Netns::adopt(&name);
    let pcap = std::env::temp_dir().join(format!("{name}.pcap"));
    let timeout = qemu_timeout().as_secs().to_string();
    let pcap_arg = pcap.display().to_string();
    let mut args = vec![
        "run-qemu",
        "--appliance",
        "echo",
        "--machine",
        case.machine,
        "--accel",
        "tcg",
        "--net",
        "tap",
        "--netns",
        &name,
        "--timeout",
        &timeout,
        "--append",
        "stop=stop-now",
    ];
    args.extend(profile());
    if case.pcap {
        args.extend(["--pcap", &pcap_arg]);
    }
    let start = Instant::now();
    let xtask = Xtask::spawn(&args);
    let guest = SocketAddrV4::new(GUEST, 7);
    let traffic = (|| -> Result<Option<(u64, u64)>, String> {
        while !netns::exists(&name) {
            if start.elapsed() > BOOT_LIMIT {
                return Err(format!("no namespace {name} after {BOOT_LIMIT:?}"));
            }
            thread::sleep(Duration::from_millis(100));
        }
        ns.wait_for_interface(netns::TAP, BOOT_LIMIT)?;
        ns.wait_for_guest(BOOT_LIMIT.saturating_sub(start.elapsed()))?;
        if case.loss > 0 {
            ns.add_loss(netns::TAP, case.loss)?;
        } else {
            let ping = ns
                .command("ping")
                .args(["-c", "3", "-i", "0.2", "-W", "2", &GUEST.to_string()])
                .output()
                .map_err(|err| format!("ping: {err}"))?;
            if !ping.status.success() {
                return Err(format!(
                    "ping failed: {}",
                    String::from_utf8_lossy(&ping.stdout)
                ));
            }
        }
        let bytes = echo_bytes();
        let transfer = ns.run(move || traffic::tcp_echo(guest, bytes))??;
        eprintln!(
            "{}: {} MB echoed in {:.1?} ({:.1} Mbit/s each way)",
            case.machine,
            bytes / 1_000_000,
            transfer.elapsed,
            transfer.mbit_per_s()
        );
        let dropped = if case.loss > 0 {
            let counts = ns.loss_counts()?;
            ns.remove_loss()?;
            Some(counts)
        } else {
            None
        };
        ns.run(move || traffic::udp_echo(guest, &[b"tap echo 0", b"tap echo 1", b"stop-now"]))??;
        Ok(dropped)
    })();
    let dropped = match traffic {
        Ok(dropped) => dropped,
        Err(why) => panic!("{why}\n{}", xtask.abort()),
    };
    let run = xtask.wait(qemu_timeout() + BOOT_LIMIT);
    assert!(run.status.success(), "{}", run.describe());
    assert!(
        run.console.contains(" datagrams echoed"),
        "{}",
        run.describe()
    );
    assert!(
        !netns::exists(&name),
        "run-qemu left namespace {name} behind: {}",
        run.describe()
    );
    if let Some((from_guest, to_guest)) = dropped {
        eprintln!("nftables dropped {from_guest} packets from the guest, {to_guest} to it");
        assert!(
            from_guest > 0 && to_guest > 0,
            "the loss rules dropped nothing one way: {from_guest} from, {to_guest} to the guest"
        );
    }
    if case.pcap {
        let out = Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&pcap)
            .output();
        let _ = std::fs::remove_file(&pcap);
        match out {
            Err(err) => eprintln!("tcpdump not run ({err}): the capture is not checked"),
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "tcpdump -r failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    text.contains("10.7.0.2 > 10.7.0.1: ICMP echo reply"),
                    "no echo reply in the capture: {}",
                    &text[..text.len().min(4000)]
                );
                assert!(
                    text.contains("10.7.0.2.7 > 10.7.0.1."),
                    "no TCP from port 7"
                );
            }
        }
    }
}

#[test]
fn echo_on_a_tap_on_microvm_answers_ping_tcp_and_udp_from_linux() {
    echo_on_a_tap(Case {
        machine: "microvm",
        loss: 0,
        pcap: true,
    });
}

#[test]
fn echo_on_a_tap_on_q35_answers_ping_tcp_and_udp_from_linux() {
    echo_on_a_tap(Case {
        machine: "q35",
        loss: 0,
        pcap: false,
    });
}

#[test]
fn echo_on_a_tap_on_microvm_with_2_percent_loss_each_way() {
    echo_on_a_tap(Case {
        machine: "microvm",
        loss: 2,
        pcap: false,
    });
}

#[test]
fn echo_on_a_tap_on_q35_with_2_percent_loss_each_way() {
    echo_on_a_tap(Case {
        machine: "q35",
        loss: 2,
        pcap: false,
    });
}
