//! Morgana's task runner, invoked as `cargo xtask <command>` (see `usage`).

mod bench;
mod build;
mod cli;
mod fuzz;
mod packages;
mod qemu;
mod test;
mod util;
mod xen;

use std::fmt::Write as _;
use std::process::ExitCode;

use cli::Command;
use util::Error;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_code()
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let args = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string().map_err(|arg| {
                Error::usage(format!(
                    "argument {} is not valid UTF-8",
                    arg.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (args, site) = cli::take_site(args)?;
    if let Some(dir) = site {
        build::bake_site(dir);
    }
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("{}", usage());
            return Err(err);
        }
    };
    match command {
        Command::Build(args) => build::build(&args),
        Command::RunHosted { build, args } => build::run_hosted(&build, &args),
        Command::RunQemu(args) => qemu::run_qemu(&args),
        Command::InstallQemu => qemu::install_qemu(),
        Command::Test { full } => test::test(full),
        Command::Bench { group, options } => bench::bench(group.as_deref(), &options),
        Command::Fuzz {
            smoke,
            seconds,
            target,
        } => fuzz::fuzz(smoke, seconds, target.as_deref()),
        Command::RunXen(args) => xen::run_xen(&args),
        Command::XenLab(args) => xen::lab::xen_lab(&args),
        Command::Help => {
            println!("{}", usage());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Each command's synopsis and one-line description, in the order `help` lists them.
const COMMANDS: &[(&str, &str)] = &[
    (
        "build --appliance NAME [--release] [--arch x86_64|aarch64] [--site DIR]",
        "build an appliance; print its image path and size (--site DIR: the directory \
         static-site bakes in, also for run-hosted and run-qemu)",
    ),
    (
        "run-hosted --appliance NAME [--release] [--pcap FILE] [-- ARGS...]",
        "build the hosted flavour and run it as a Linux process (--pcap: record its TAP)",
    ),
    (
        "run-qemu [--appliance NAME] [--release] [--arch x86_64|aarch64] [--gic 2|3] \
         [--machine microvm|q35] [--accel kvm|tcg] [--mem 32M] [--gdb] [--append CMDLINE] \
         [--net user [--forward PROTO:HOST:GUEST]...] [--net tap [--netns NAME]] [--pcap FILE] \
         [--timeout SECS] [-- QEMU ARGS...]",
        "build an image (default: static-site, x86_64), boot it in QEMU, exit with its exit \
         code; --net tap (root): a TAP in a fresh network namespace, guest 10.7.0.2, Linux 10.7.0.1",
    ),
    (
        "run-xen --appliance NAME [--release] [--dry-run] [--memory MB] [--bridge BR] [--append CMDLINE]",
        "build the x86_64 image, write its xl config next to it, `xl create -c` it (root on a dom0) or print how",
    ),
    (
        "xen-lab [--appliance NAME]... [--timeout SECS] [--shell]",
        "boot Xen 4.17 + dom0 in QEMU (TCG) and check appliances on it (default: hello, static-site)",
    ),
    (
        "install-qemu",
        "make sure QEMU >= 10 is installed (as root: from bookworm-backports)",
    ),
    (
        "test [--full]",
        "fmt, clippy and tests as CI runs them (--full: long test variants)",
    ),
    (
        "fuzz [--smoke] [--seconds N] [TARGET]",
        "run the fuzz targets (cargo-fuzz, nightly; installed if missing)",
    ),
    (
        "bench [GROUP] [--accel kvm|tcg] [--quick] [--arch x86_64|aarch64]",
        "run benches; write target/bench/GROUP.{json,md} (net, http, vs-linux: as root)",
    ),
    ("help", "show this message"),
];

fn usage() -> String {
    /// Longer synopses get their description on the next line.
    const WIDE: usize = 60;
    let width = COMMANDS
        .iter()
        .map(|(synopsis, _)| synopsis.len())
        .filter(|&len| len <= WIDE)
        .max()
        .unwrap_or(0);
    let mut text = String::from("Usage: cargo xtask <command> [options]\n\nCommands:\n");
    for (synopsis, description) in COMMANDS {
        if synopsis.len() <= WIDE {
            let _ = writeln!(text, "  {synopsis:<width$}  {description}");
        } else {
            let _ = writeln!(text, "  {synopsis}\n  {:<width$}  {description}", "");
        }
    }
    let _ = write!(text, "\nBench groups: {}", bench::group_names());
    text
}
