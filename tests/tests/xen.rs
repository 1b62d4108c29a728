//! End-to-end on a real Xen: `cargo xtask xen-lab` boots Debian's Xen 4.17 and a PV dom0 inside
//! QEMU under TCG, starts `hello`, `static-site` and `echo` as PVH domUs with the xl
//! configuration `run-xen` writes, and checks them: hello greets and shuts itself down with
//! exit code 0 (`SCHEDOP_shutdown`); static-site answers HTTP and echo echoes TCP from dom0,
//! over the bridge, netback and our netfront.
//!
//! Part of `cargo xtask test`: hello and static-site; `--full` (`MORGANA_TEST_FULL`) adds echo.
//! The lab takes one to two minutes on two busy cores once built, plus release builds of the
//! images and, the first time, an ~80 MB download of Debian packages (cached in
//! `target/xen-lab`). It needs apt-get with Debian bookworm sources and QEMU; without them the
//! test says why and passes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use morgana_tests::runner::workspace;

/// The whole run, builds included.
const LIMIT: Duration = Duration::from_secs(20 * 60);

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[test]
fn hello_http_and_echo_on_xen() {
    let full = std::env::var_os("MORGANA_TEST_FULL").is_some();
    for program in ["apt-get", "dpkg-deb", "qemu-system-x86_64"] {
        if !on_path(program) {
            eprintln!("skipped: the Xen lab needs `{program}`");
            return;
        }
    }
    let root = workspace();
    let start = Instant::now();
    // A target directory of its own (the outer `cargo test` holds the lock on `target/`); the
    // lab's package cache stays in `target/xen-lab`.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["run", "-q", "-p", "xtask", "--", "xen-lab"])
        .args(["--appliance", "hello", "--appliance", "static-site"])
        .args(if full {
            &["--appliance", "echo"][..]
        } else {
            &[]
        })
        .args(["--timeout", "600"])
        .env("CARGO_TARGET_DIR", root.join("target/e2e"))
        .env("MORGANA_XEN_LAB", root.join("target/xen-lab"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo runs");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let tail: String = out
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    let describe =
        format!("xen-lab: {status}\n--- console (tail) ---\n{tail}\n--- stderr ---\n{err}");
    assert!(status.success(), "{describe}");
    let checked: &[&str] = if full {
        &["ok   hello:", "ok   static-site:", "ok   echo:"]
    } else {
        &["ok   hello:", "ok   static-site:"]
    };
    for line in checked {
        assert!(err.contains(line), "missing `{line}`\n{describe}");
    }
    assert!(out.contains("Hello from Morgana"), "{describe}");
    assert!(out.contains("morgana: exit code 0"), "{describe}");
    eprintln!(
        "{}",
        err.lines()
            .filter(|l| l.starts_with("  ok"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
