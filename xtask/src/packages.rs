//! The Debian tools the tests use as peers (besides QEMU, which `qemu::ensure_installed`
//! handles): installed with apt-get when missing and we are root; otherwise the exact command
//! is printed.

use crate::util::{self, Cmd, Error};

/// (program, Debian package) pairs the end-to-end tests run.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    // Loss injection on the TAP tests' namespaces, and reading their captures back.
    ("nft", "nftables"),
    ("tcpdump", "tcpdump"),
    // The web site's clients: fetches, pipelining, slowloris (tests), load (benches).
    ("curl", "curl"),
    ("nc", "netcat-openbsd"),
    ("slowhttptest", "slowhttptest"),
    ("wrk", "wrk"),
];

/// (program, Debian package) pairs the HTTP benches run: wrk for closed-loop load, xz to
/// unpack Debian's kernel for `bench vs-linux`.
const BENCH_TOOLS: &[(&str, &str)] = &[("ip", "iproute2"), ("wrk", "wrk"), ("xz", "xz-utils")];

/// Installs the packages of the missing tools.
pub fn ensure_peer_tools() -> Result<(), Error> {
    ensure(TOOLS)
}

/// Installs the packages of the missing bench tools.
pub fn ensure_bench_tools() -> Result<(), Error> {
    ensure(BENCH_TOOLS)
}

fn ensure(tools: &[(&str, &'static str)]) -> Result<(), Error> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(program, _)| util::which(program).is_none())
        .map(|&(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let command = format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !util::is_root()? {
        return Err(Error::new(format!(
            "{} missing; run as root: {command}",
            missing.join(", ")
        )));
    }
    let apt = || Cmd::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive");
    apt().arg("update").run()?;
    apt()
        .args(["install", "-y", "--no-install-recommends"])
        .args(missing.iter().copied())
        .run()
}
