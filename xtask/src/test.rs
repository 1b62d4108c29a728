//! `cargo xtask test`: the checks CI runs, in order, stopping at the first failure.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::build::{self, Arch, BuildArgs};
use crate::qemu;
use crate::util::{self, Cmd, Error};

/// Bare-metal targets from rust-toolchain.toml; the no_std crates must build for each.
const BARE_METAL_TARGETS: &[&str] = &["x86_64-unknown-none", "aarch64-unknown-none"];

/// Crates that must pass clippy on every bare-metal target.
const BARE_METAL_PACKAGES: &[&str] = &[
    "morgana-executor",
    "morgana-hypervisor",
    "morgana-drivers",
    "morgana-netstack",
    "morgana-http",
];

/// Crates that must also pass clippy on some bare-metal targets: the boot shim, per architecture
/// as its shims land.
const BARE_METAL_EXTRA_PACKAGES: &[(&str, &[&str])] = &[
    ("x86_64-unknown-none", &["morgana-boot"]),
    ("aarch64-unknown-none", &["morgana-boot"]),
];

/// Features whose code only a bare-metal target compiles: clippy checks that target's packages
/// once more with each turned on (`xen`: the Xen platform and netfront in the x86_64 image).
const BARE_METAL_FEATURES: &[(&str, &str)] = &[("x86_64-unknown-none", "morgana-boot/xen")];

/// Appliances built as bare-metal images (release, stripped), each a step `build NAME ARCH`.
const BARE_METAL_IMAGES: &[(&str, Arch)] = &[("hello", Arch::X86_64), ("hello", Arch::Aarch64)];

/// The packages clippy checks for bare-metal `target`.
fn bare_metal_packages(target: &str) -> Vec<&'static str> {
    let extra = BARE_METAL_EXTRA_PACKAGES
        .iter()
        .filter(|(extra_target, _)| *extra_target == target)
        .flat_map(|(_, packages)| packages.iter());
    BARE_METAL_PACKAGES.iter().chain(extra).copied().collect()
}

/// Environment variable telling tests to run their long variants.
const FULL_ENV: &str = "MORGANA_TEST_FULL";

/// One named check.
struct Step {
    name: String,
    run: Box<dyn FnOnce() -> Result<(), Error>>,
}

impl Step {
    fn new(name: impl Into<String>, run: impl FnOnce() -> Result<(), Error> + 'static) -> Self {
        Self {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// How a step that ran went.
struct Outcome {
    name: String,
    elapsed: Duration,
    passed: bool,
}

fn steps(full: bool) -> Vec<Step> {
    let mut steps = vec![
        Step::new("rustup targets", ensure_targets),
        Step::new("fmt", || {
            Cmd::cargo().args(["fmt", "--all", "--check"]).run()
        }),
        Step::new("clippy", || {
            Cmd::cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .run()
        }),
    ];
    for &target in BARE_METAL_TARGETS {
        steps.push(Step::new(format!("clippy {target}"), move || {
            let packages = bare_metal_packages(target)
                .into_iter()
                .flat_map(|package| ["-p", package]);
            Cmd::cargo()
                .args(["clippy", "--target", target])
                .args(packages)
                .args(["--", "-D", "warnings"])
                .run()
        }));
    }
    for &(target, features) in BARE_METAL_FEATURES {
        steps.push(Step::new(
            format!("clippy {target} --features {features}"),
            move || {
                let packages = bare_metal_packages(target)
                    .into_iter()
                    .flat_map(|package| ["-p", package]);
                Cmd::cargo()
                    .args(["clippy", "--target", target, "--features", features])
                    .args(packages)
                    .args(["--", "-D", "warnings"])
                    .run()
            },
        ));
    }
    for &(appliance, arch) in BARE_METAL_IMAGES {
        steps.push(Step::new(
            format!("build {appliance} {}", arch.name()),
            move || {
                build::build_image(&BuildArgs {
                    appliance: appliance.to_owned(),
                    release: true,
                    arch: Some(arch),
                })
                .map(drop)
            },
        ));
    }
    // The end-to-end tests boot images in QEMU: on a fresh (root) machine this installs it.
    steps.push(Step::new("qemu installed", || {
        let version = qemu::ensure_installed()?;
        println!("qemu-system-x86_64 {version}");
        crate::packages::ensure_peer_tools()
    }));
    steps.push(Step::new("fuzz smoke", || {
        crate::fuzz::fuzz(true, None, None).map(|_| ())
    }));
    // Issue 8's smoke run: both VMs boot and answer, and the report is written and parses.
    steps.push(Step::new("bench vs-linux --quick", || {
        crate::bench::bench(Some("vs-linux"), &["--quick".to_owned()])?;
        check_vs_linux_report(&util::target_dir().join("bench").join("vs-linux.json"))
    }));
    let name = if full { "test (full)" } else { "test" };
    steps.push(Step::new(name, move || {
        let cargo = Cmd::cargo().args(["test", "--workspace"]);
        let cargo = if full {
            cargo.env(FULL_ENV, "1")
        } else {
            cargo.env_remove(FULL_ENV)
        };
        cargo.run()
    }));
    steps
}

/// The smoke run's report: rows for both systems, boot to first response and peak req/s
/// measured on each.
fn check_vs_linux_report(path: &std::path::Path) -> Result<(), Error> {
    use crate::bench::json;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new(format!("{}: {e}", util::display_path(path))))?;
    let bad = |why: &str| Error::new(format!("{}: {why}", util::display_path(path)));
    let rows = json::field(&text, "rows")
        .and_then(json::items)
        .ok_or_else(|| bad("no rows"))?;
    for wanted in ["boot to first response", "peak req/s (wrk -c100)"] {
        let row = rows
            .iter()
            .find(|r| json::field(r, "measure").and_then(json::string) == Some(wanted))
            .ok_or_else(|| bad(&format!("no row `{wanted}`")))?;
        for side in ["ours", "theirs"] {
            let median = json::field(row, side)
                .and_then(|s| json::field(s, "median"))
                .and_then(json::number);
            if !median.is_some_and(|m| m > 0.0) {
                return Err(bad(&format!("`{wanted}` has no {side} measurement")));
            }
        }
    }
    Ok(())
}

/// Runs every step until one fails, then prints a summary; fails if any step did.
pub fn test(full: bool) -> Result<ExitCode, Error> {
    let steps = steps(full);
    let names: Vec<String> = steps.iter().map(|step| step.name.clone()).collect();
    let mut outcomes = Vec::new();
    for step in steps {
        println!("==> {}", step.name);
        let start = Instant::now();
        let result = (step.run)();
        let elapsed = start.elapsed();
        let took = util::format_duration(elapsed);
        let passed = match result {
            Ok(()) => {
                println!("<== {}: ok in {took}", step.name);
                true
            }
            Err(err) => {
                eprintln!("error: {err}");
                println!("<== {}: FAILED after {took}", step.name);
                false
            }
        };
        outcomes.push(Outcome {
            name: step.name,
            elapsed,
            passed,
        });
        if !passed {
            break;
        }
    }
    print_summary(&names, &outcomes);
    let all_passed = outcomes.iter().all(|outcome| outcome.passed);
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(names: &[String], outcomes: &[Outcome]) {
    println!();
    println!("summary:");
    for outcome in outcomes {
        let status = if outcome.passed { "ok" } else { "FAILED" };
        let took = util::format_duration(outcome.elapsed);
        println!("  {status:<8} {took:>8}  {}", outcome.name);
    }
    for name in &names[outcomes.len()..] {
        println!("  {:<8} {:>8}  {name}", "skipped", "");
    }
    let passed = outcomes.iter().filter(|outcome| outcome.passed).count();
    let failed = outcomes.len() - passed;
    println!("steps: {passed} passed, {failed} failed");
}

/// Installs whichever bare-metal targets rustup does not have yet.
fn ensure_targets() -> Result<(), Error> {
    let add_all = format!("rustup target add {}", BARE_METAL_TARGETS.join(" "));
    let hint = format!(
        "install rustup (https://rustup.rs), or add the targets to your toolchain yourself: {add_all}"
    );
    let installed = Cmd::new("rustup")
        .args(["target", "list", "--installed"])
        .install_hint(hint)
        .stdout()?;
    let installed: Vec<&str> = installed.lines().map(str::trim).collect();
    let missing = BARE_METAL_TARGETS
        .iter()
        .filter(|target| !installed.contains(target));
    for target in missing {
        Cmd::new("rustup").args(["target", "add", target]).run()?;
    }
    println!("installed: {}", BARE_METAL_TARGETS.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vs_linux_report_check_wants_both_sides_measured() {
        let dir = std::env::temp_dir().join(format!("mg-vsl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vs-linux.json");
        let row = |m: &str, ours: u64, theirs: u64| {
            format!(
                "{{\"measure\": \"{m}\", \"unit\": \"ns\", \"ours\": {{\"median\": {ours}}}, \
                 \"theirs\": {{\"median\": {theirs}}}}}"
            )
        };
        let report = |theirs: u64| {
            format!(
                "{{\n  \"group\": \"vs-linux\",\n  \"rows\": [{}, {}]\n}}\n",
                row("boot to first response", 116, theirs),
                row("peak req/s (wrk -c100)", 6054, 570)
            )
        };
        std::fs::write(&path, report(4353)).unwrap();
        assert!(super::check_vs_linux_report(&path).is_ok());
        std::fs::write(&path, report(0)).unwrap();
        assert!(super::check_vs_linux_report(&path).is_err());
        std::fs::write(&path, "{}").unwrap();
        assert!(super::check_vs_linux_report(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    use super::*;

    #[test]
    fn boot_is_checked_on_both_architectures() {
        for target in BARE_METAL_TARGETS {
            let packages = bare_metal_packages(target);
            assert_eq!(packages.last(), Some(&"morgana-boot"), "{target}");
            assert_eq!(packages.len(), BARE_METAL_PACKAGES.len() + 1, "{target}");
        }
    }

    #[test]
    fn qemu_is_installed_before_the_tests_run() {
        let names: Vec<String> = steps(false).into_iter().map(|step| step.name).collect();
        let position = |name: &str| names.iter().position(|step| step == name);
        assert!(position("build hello x86_64").is_some(), "{names:?}");
        assert!(position("qemu installed") < position("test"), "{names:?}");
        assert_eq!(names.last().map(String::as_str), Some("test"));
    }
}
