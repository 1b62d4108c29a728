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
