//! `cargo xtask fuzz [--smoke] [--seconds N] [TARGET]`: runs the cargo-fuzz targets of the
//! parsers and protocol machines (`netstack/fuzz/`, `boot/fuzz/`), each for a while; `--smoke`
//! gives each a few seconds, which `cargo xtask test` does.
//!
//! cargo-fuzz needs a nightly toolchain (for the sanitizers); this installs it and cargo-fuzz
//! when they are missing, through rustup and `cargo install`, which reach only the registries.
//! The targets' bodies also run as ordinary stable tests (`wire::fuzz`, `tcp::fuzz`), so the
//! stable test suite covers them on every run; this adds coverage-guided search.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::util::{self, Cmd, Error};

/// The cargo-fuzz projects, relative to the workspace root.
const FUZZ_DIRS: &[&str] = &[
    "netstack/fuzz",
    "boot/fuzz",
    "services/http/fuzz",
    "hypervisor/fuzz",
];
/// Seconds per target with `--smoke`.
const SMOKE_SECONDS: u64 = 4;
/// Seconds per target otherwise.
const DEFAULT_SECONDS: u64 = 60;

/// The fuzz targets, as (project folder, target name), in order.
fn targets() -> Result<Vec<(&'static str, String)>, Error> {
    let mut all = Vec::new();
    for &project in FUZZ_DIRS {
        let dir: PathBuf = util::workspace_root().join(project).join("fuzz_targets");
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::new(format!("reading {}: {e}", dir.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".rs").map(str::to_owned)
            })
            .collect();
        names.sort();
        all.extend(names.into_iter().map(|name| (project, name)));
    }
    Ok(all)
}

/// A command with the rustup proxy, not the `cargo` that runs xtask (which is pinned to stable
/// by rust-toolchain.toml and the environment cargo gives its children).
fn nightly_cargo() -> Cmd {
    Cmd::new("cargo")
        .arg("+nightly")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("CARGO")
        .install_hint("install rustup (https://rustup.rs)")
}

/// Installs the nightly toolchain and cargo-fuzz when missing.
fn ensure_tools() -> Result<(), Error> {
    let toolchains = Cmd::new("rustup")
        .args(["toolchain", "list"])
        .install_hint("install rustup (https://rustup.rs)")
        .stdout()?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        Cmd::new("rustup")
            .args(["toolchain", "install", "nightly", "--profile", "minimal"])
            .run()?;
    }
    if util::which("cargo-fuzz").is_none() {
        Cmd::new("cargo")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["install", "cargo-fuzz", "--locked"])
            .run()?;
    }
    Ok(())
}

/// Runs the fuzz targets (all, or `only`) for `seconds` each, or [`SMOKE_SECONDS`].
pub fn fuzz(smoke: bool, seconds: Option<u64>, only: Option<&str>) -> Result<ExitCode, Error> {
    let all = targets()?;
    let chosen: Vec<&(&str, String)> = match only {
        Some(name) => {
            let found: Vec<_> = all.iter().filter(|(_, t)| t == name).collect();
            if found.is_empty() {
                let names: Vec<&str> = all.iter().map(|(_, t)| t.as_str()).collect();
                return Err(Error::usage(format!(
                    "no fuzz target `{name}` (there are: {})",
                    names.join(", ")
                )));
            }
            found
        }
        None => all.iter().collect(),
    };
    ensure_tools()?;
    let seconds = seconds.unwrap_or(if smoke {
        SMOKE_SECONDS
    } else {
        DEFAULT_SECONDS
    });
    for (project, target) in &chosen {
        println!("==> fuzz {target} ({project}) for {seconds} s");
        nightly_cargo()
            .args(["fuzz", "run", "--fuzz-dir", project, target.as_str(), "--"])
            .arg(format!("-max_total_time={seconds}"))
            .run()
            .map_err(|e| {
                Error::new(format!(
                    "fuzz target {target} failed: {e}; the crashing input is in \
                     {project}/artifacts/{target}/"
                ))
            })?;
    }
    println!(
        "fuzz: {} targets ran {seconds} s each without a crash",
        chosen.len()
    );
    Ok(ExitCode::SUCCESS)
}
