//! QEMU for AArch64 images: `qemu-system-aarch64 -M virt` with a GICv3 or GICv2, the arm64
//! Image booted with `-kernel` (QEMU passes the DTB in `x0`), and the appliance's exit code
//! read from its console.
//!
//! The image ends a run by printing `morgana: exit code N` and powering off through PSCI
//! (QEMU then exits 0): semihosting would hand QEMU the code directly, but Xen on Arm and real
//! boards have none, so the image does not use it, and the console line is the contract.

use std::path::Path;

use super::run::{Outcome, Run};
use super::{Accel, RunQemuArgs};
use crate::util::{self, Cmd, Error};

/// The emulator (Debian: qemu-system-arm).
pub const BINARY: &str = "qemu-system-aarch64";

/// What the image prints last; the exit code follows.
pub const EXIT_LINE: &str = "morgana: exit code ";

/// The GIC of `-M virt`: `--gic 3` (default) or `--gic 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gic {
    V2,
    V3,
}

impl Gic {
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "2" => Ok(Self::V2),
            "3" => Ok(Self::V3),
            other => Err(Error::usage(format!(
                "unknown --gic `{other}` (expected 2 or 3)"
            ))),
        }
    }

    fn version(self) -> u8 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

/// QEMU's arguments for an AArch64 run, without the program name.
pub fn args(image: &Path, args: &RunQemuArgs, gic: Gic) -> Vec<String> {
    let mut out = virt_args(image, &args.mem, &args.append, gic);
    if args.gdb {
        out.extend(["-s".into(), "-S".into()]);
    }
    out.extend(args.extra.iter().cloned());
    out
}

/// `-M virt` under TCG booting `image` with `mem` of RAM and command line `append`: no NIC,
/// gdb stub or extra arguments.
pub fn virt_args(image: &Path, mem: &str, append: &str, gic: Gic) -> Vec<String> {
    [
        "-M",
        &format!("virt,gic-version={}", gic.version()),
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        mem,
        "-nodefaults",
        "-no-user-config",
        "-serial",
        "stdio",
        "-display",
        "none",
        "-kernel",
        &util::display_path(image),
        "-append",
        append,
        "-no-reboot",
        // Modern virtio-mmio (Morgana drives no legacy virtio), and an entropy device for CPUs
        // without RNDR.
        "-global",
        "virtio-mmio.force-legacy=false",
        "-device",
        "virtio-rng-device",
    ]
    .map(str::to_owned)
    .into()
}

/// The exit code in the console's last `morgana: exit code N` line.
pub fn exit_code(console: &str) -> Option<u8> {
    let line = console.lines().rev().find_map(|line| {
        let at = line.find(EXIT_LINE)?;
        Some(&line[at + EXIT_LINE.len()..])
    })?;
    let code: i64 = line.trim().parse().ok()?;
    Some(u8::try_from(code).unwrap_or(127))
}

/// What an AArch64 run amounts to: the console's exit line decides; without one, a QEMU that
/// exited 0 after the guest printed means the guest stopped another way.
pub fn outcome(run: &Run) -> Outcome {
    if let Some(code) = exit_code(&run.console_text()) {
        return Outcome::Exited(code);
    }
    if run.timed_out {
        return Outcome::TimedOut;
    }
    match run.status.code() {
        Some(0) if !run.console.is_empty() => Outcome::NoExitCode,
        _ => Outcome::QemuFailed,
    }
}

/// Checks that the emulator is there and the accelerator is TCG (x86_64 hosts cannot run
/// AArch64 guests under KVM).
pub fn check(accel: Option<Accel>) -> Result<(), Error> {
    if accel == Some(Accel::Kvm) && std::env::consts::ARCH != "aarch64" {
        return Err(Error::usage(
            "--accel kvm needs an AArch64 host; AArch64 images run under TCG here",
        ));
    }
    if util::which(BINARY).is_none() {
        return Err(Error::new(format!(
            "{BINARY} is not installed: run `cargo xtask install-qemu` (Debian: qemu-system-arm)"
        )));
    }
    Ok(())
}

/// The command, ready to run.
pub fn command(image: &Path, run_args: &RunQemuArgs, gic: Gic) -> Cmd {
    Cmd::new(BINARY)
        .install_hint("run `cargo xtask install-qemu`")
        .args(args(image, run_args, gic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_exit_line_wins() {
        assert_eq!(exit_code("boot\nmorgana: exit code 0\n"), Some(0));
        assert_eq!(
            exit_code("morgana: exit code 3\r\nmore\n\nmorgana: exit code 101\r\n"),
            Some(101)
        );
        assert_eq!(exit_code("Hello\n"), None);
        assert_eq!(exit_code("morgana: exit code soon\n"), None);
        assert_eq!(exit_code("morgana: exit code -1\n"), Some(127));
    }

    #[test]
    fn command_line() {
        let run = RunQemuArgs {
            appliance: "hello".into(),
            release: false,
            machine: super::super::Machine::Microvm,
            accel: None,
            mem: "32M".into(),
            gdb: false,
            append: "log=debug".into(),
            timeout: None,
            net: None,
            netns: None,
            extra: vec!["-d".into(), "int".into()],
            arch: crate::build::Arch::Aarch64,
            gic: Some(Gic::V2),
        };
        let line = command(Path::new("/w/hello.Image"), &run, Gic::V2).command_line();
        assert_eq!(
            line,
            "qemu-system-aarch64 -M virt,gic-version=2 -accel tcg -cpu max -m 32M -nodefaults \
             -no-user-config -serial stdio -display none -kernel /w/hello.Image -append log=debug \
             -no-reboot -global virtio-mmio.force-legacy=false -device virtio-rng-device -d int"
        );
    }
}
