//! `run-qemu` and `install-qemu`, and QEMU for x86_64 PVH images in general: installing it
//! ([`install`]), the command line for each machine and accelerator (here), and a run with the
//! console streamed and kept, a deadline, and the exit status mapped back to the appliance's
//! exit code ([`run`]).

pub mod aarch64;
mod install;
mod run;
pub mod tap;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::build::{self, Arch, BuildArgs};
use crate::util::{self, Cmd, Error};

pub use aarch64::Gic;
pub use install::ensure as ensure_installed;
#[cfg(test)]
pub use install::installed;
pub use run::{Outcome, Run, RunOptions, run};

/// The appliance `run-qemu` boots when `--appliance` is not given: the web site.
pub const DEFAULT_APPLIANCE: &str = "static-site";

/// The host port that `run-qemu` forwards to the web site's port 80 on QEMU's user network.
pub const SITE_PORT: u16 = 8080;

/// Guest RAM when `--mem` is not given.
pub const DEFAULT_MEM: &str = "32M";

/// Exit code of `run-qemu` when QEMU itself failed (could not start, crashed, was killed).
pub const EXIT_QEMU_FAILED: u8 = 70;
/// Exit code of `run-qemu` when the guest stopped without writing an exit code.
pub const EXIT_NO_EXIT_CODE: u8 = 71;
/// Exit code of `run-qemu` when a signal (Ctrl-C) stopped QEMU, as a shell reports SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code of `run-qemu` when it killed QEMU at `--timeout`, as timeout(1) does.
pub const EXIT_TIMED_OUT: u8 = 124;

/// The isa-debug-exit port: the guest writes its exit code c there as 32 bits, and QEMU exits
/// with status `(c << 1) | 1`.
const DEBUG_EXIT: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// The gdb stub's port with `-s`.
const GDB_PORT: u16 = 1234;

/// A QEMU machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// `-M microvm` with qboot: no PCI, no ACPI, the fastest boot.
    Microvm,
    /// `-M q35` with SeaBIOS: a PC with PCIe.
    Q35,
}

impl Machine {
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "microvm" => Ok(Self::Microvm),
            "q35" => Ok(Self::Q35),
            other => Err(Error::usage(format!(
                "unknown machine `{other}` (expected microvm or q35)"
            ))),
        }
    }

    /// `-M`'s value. microvm keeps its PIT (TSC calibration under TCG) and RTC (wall time) on,
    /// and ACPI off, which makes QEMU name its virtio-mmio devices on the kernel command line
    /// (`virtio_mmio.device=`), where the image finds them.
    fn option(self) -> &'static str {
        match self {
            Self::Microvm => {
                "microvm,x-option-roms=off,pit=on,pic=off,rtc=on,isa-serial=on,acpi=off"
            }
            Self::Q35 => "q35",
        }
    }

    /// The devices every run gets besides the console and isa-debug-exit: a virtio entropy
    /// source, which the image uses when the CPU has no RDSEED/RDRAND. virtio-mmio devices are
    /// made modern (version 2): Morgana drives no legacy virtio.
    fn devices(self) -> &'static [&'static str] {
        match self {
            Self::Microvm => &[
                "-global",
                "virtio-mmio.force-legacy=false",
                "-device",
                "virtio-rng-device",
            ],
            Self::Q35 => &["-device", "virtio-rng-pci"],
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Microvm => "microvm",
            Self::Q35 => "q35",
        })
    }
}

/// A QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "kvm" => Ok(Self::Kvm),
            "tcg" => Ok(Self::Tcg),
            other => Err(Error::usage(format!(
                "unknown accelerator `{other}` (expected kvm or tcg)"
            ))),
        }
    }

    /// `-cpu`'s value: everything TCG emulates; the host's CPU under KVM, without
    /// `arch-capabilities` (plain `host` aborts on nested KVM such as PVM: "failed to set MSR
    /// 0x10a").
    fn cpu(self) -> &'static str {
        match self {
            Self::Kvm => "host,-arch-capabilities",
            Self::Tcg => "max",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        })
    }
}

/// The guest's network (`--net`): QEMU's user-mode network, or a TAP device in a network
/// namespace with the Linux kernel as the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    User,
    Tap,
}

impl Net {
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "user" => Ok(Self::User),
            "tap" => Ok(Self::Tap),
            other => Err(Error::usage(format!(
                "--net takes `user` (QEMU's user-mode network) or `tap` (a TAP device in a \
                 network namespace, as root), not `{other}`"
            ))),
        }
    }

    /// The guest's `ip=`/`gw=` when the command line has none: slirp's defaults, or the
    /// addresses of the namespace's network.
    pub fn default_cmdline(self) -> String {
        use morgana_tests::netns::{GUEST, PEER, PREFIX};
        match self {
            Self::User => "ip=10.0.2.15/24 gw=10.0.2.2".to_owned(),
            Self::Tap => format!("ip={GUEST}/{PREFIX} gw={PEER}"),
        }
    }
}

/// QEMU's arguments for the guest's NIC on `net`, netdev `n0`: host ports forwarded to the
/// guest (`--net user`), and every frame recorded in `pcap` (QEMU's filter-dump).
///
/// On a TAP, QEMU's tap netdev has a vnet header, so the NIC offers checksum offload both ways
/// (CSUM, GUEST_CSUM) and the driver and the netstack use it: Linux's TCP and UDP arrive with
/// partial checksums the device vouches for, and ours leave with partial ones for Linux to
/// complete.
pub fn nic_args(
    machine: Machine,
    net: Net,
    forwards: &[(String, u16, u16)],
    pcap: Option<&Path>,
) -> Vec<String> {
    let netdev = match net {
        Net::User => {
            let mut netdev = String::from("user,id=n0");
            for (proto, host, guest) in forwards {
                netdev.push_str(&format!(",hostfwd={proto}:127.0.0.1:{host}-:{guest}"));
            }
            netdev
        }
        Net::Tap => format!(
            "tap,id=n0,ifname={},script=no,downscript=no",
            morgana_tests::netns::TAP
        ),
    };
    let nic = match machine {
        Machine::Microvm => "virtio-net-device",
        Machine::Q35 => "virtio-net-pci",
    };
    let mut args = vec![
        "-netdev".to_owned(),
        netdev,
        "-device".to_owned(),
        format!("{nic},netdev=n0"),
    ];
    if let Some(file) = pcap {
        args.extend([
            "-object".to_owned(),
            format!("filter-dump,id=pcap0,netdev=n0,file={}", file.display()),
        ]);
    }
    args
}

/// `/dev/kvm`, which must open read-write for KVM.
const KVM_DEVICE: &str = "/dev/kvm";

/// Whether `/dev/kvm` opens read-write; the error says why not.
pub fn kvm_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(KVM_DEVICE)
        .map(drop)
        .map_err(|err| format!("{KVM_DEVICE}: {err}"))
}

/// The accelerator to use and why, as printed: `accel: kvm (/dev/kvm)`, `accel: tcg (reason)`.
pub fn choose_accel(requested: Option<Accel>) -> Result<(Accel, String), Error> {
    if requested.is_none() && Path::new(PVM_MODULE).exists() {
        return Ok((
            Accel::Tcg,
            "this host's KVM is PVM, software nested virtualisation, where every port or MMIO \
             exit costs tens of microseconds: TCG is faster here; --accel kvm forces KVM"
                .to_owned(),
        ));
    }
    match (requested, kvm_usable()) {
        (Some(Accel::Tcg), _) => Ok((Accel::Tcg, "--accel tcg".to_owned())),
        (_, Ok(())) => Ok((Accel::Kvm, KVM_DEVICE.to_owned())),
        (None, Err(why)) => Ok((Accel::Tcg, why)),
        (Some(Accel::Kvm), Err(why)) => Err(Error::new(format!(
            "--accel kvm: {why}; leave out --accel to fall back to TCG"
        ))),
    }
}

/// Present when the host's KVM is PVM (software nested virtualisation inside a VM without
/// hardware virtualisation): guests run, but each exit to the host costs tens of
/// microseconds, so a virtio guest boots and serves far slower than under TCG.
const PVM_MODULE: &str = "/sys/module/kvm_pvm";

/// `cargo xtask run-qemu`'s options.
#[derive(Debug, PartialEq, Eq)]
pub struct RunQemuArgs {
    pub appliance: String,
    pub release: bool,
    pub machine: Machine,
    /// `None`: KVM when `/dev/kvm` opens read-write, else TCG.
    pub accel: Option<Accel>,
    /// Guest RAM as QEMU's `-m` takes it, e.g. `32M`.
    pub mem: String,
    /// Start QEMU's gdb stub (`-s -S`): the guest waits for a debugger.
    pub gdb: bool,
    /// The kernel command line.
    pub append: String,
    /// Kill QEMU after this long.
    pub timeout: Option<Duration>,
    /// The guest's network, if any; its NIC is already in `extra`.
    pub net: Option<Net>,
    /// With `--net tap`: the namespace to create (default `morgana-PID-0`).
    pub netns: Option<String>,
    /// Raw QEMU arguments: the NIC's, then those after `--`.
    pub extra: Vec<String>,
    /// The image's architecture (`--arch`, x86_64 by default).
    pub arch: Arch,
    /// AArch64's interrupt controller (`--gic 2|3`; 3 when not given).
    pub gic: Option<Gic>,
}

/// Checks a `-m` size: a positive number with an optional K, M, G or T suffix.
pub fn check_mem(mem: &str) -> Result<(), Error> {
    let digits = mem.trim_end_matches(['K', 'k', 'M', 'm', 'G', 'g', 'T', 't']);
    let suffix_len = mem.len() - digits.len();
    let valid = suffix_len <= 1
        && !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && digits.bytes().any(|byte| byte != b'0');
    if valid {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "bad --mem `{mem}` (expected a size such as 32M or 1G)"
        )))
    }
}

/// Everything on QEMU's command line.
#[derive(Debug)]
pub struct Vm<'a> {
    pub image: &'a Path,
    pub machine: Machine,
    /// `-bios`, for microvm's qboot; `None` keeps the machine's default firmware.
    pub firmware: Option<&'a Path>,
    pub accel: Accel,
    pub mem: &'a str,
    pub append: &'a str,
    pub gdb: bool,
    pub extra: &'a [String],
}

impl Vm<'_> {
    /// QEMU's arguments, without the program name. No `-nographic`: `-display none` already
    /// has no display, and `-nographic` would also turn on SeaBIOS's serial console on q35,
    /// which clears the terminal (`ESC c`) and prints its banner into the appliance's console.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["-M".into(), self.machine.option().into()];
        if let Some(firmware) = self.firmware {
            args.extend(["-bios".into(), firmware.to_string_lossy().into_owned()]);
        }
        let common = [
            "-accel",
            &self.accel.to_string(),
            "-cpu",
            self.accel.cpu(),
            "-m",
            self.mem,
            "-nodefaults",
            "-no-user-config",
            "-serial",
            "stdio",
            "-display",
            "none",
            "-kernel",
            // QEMU runs in the workspace root, like every command: keep the path short.
            &util::display_path(self.image),
            "-append",
            self.append,
            "-device",
            DEBUG_EXIT,
            "-no-reboot",
        ]
        .map(str::to_owned);
        args.extend(common);
        args.extend(self.machine.devices().iter().map(|d| (*d).to_owned()));
        if self.gdb {
            args.extend(["-s".into(), "-S".into()]);
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// The command, ready to run.
    pub fn command(&self) -> Cmd {
        Cmd::new(install::BINARY)
            .install_hint("run `cargo xtask install-qemu`")
            .args(self.args())
    }
}

/// The firmware `-bios` needs for `machine`: qboot for microvm (it ships with QEMU, in
/// qemu-system-data), nothing for q35 (SeaBIOS is its default).
pub fn firmware(machine: Machine) -> Result<Option<PathBuf>, Error> {
    if machine != Machine::Microvm {
        return Ok(None);
    }
    let mut candidates = Vec::new();
    if let Some(binary) = util::which(install::BINARY) {
        let binary = binary.canonicalize().unwrap_or(binary);
        if let Some(prefix) = binary.parent().and_then(Path::parent) {
            candidates.push(prefix.join("share/qemu/qboot.rom"));
        }
    }
    candidates.push(PathBuf::from("/usr/share/qemu/qboot.rom"));
    match candidates.iter().find(|path| path.is_file()) {
        Some(path) => Ok(Some(path.clone())),
        None => Err(Error::new(format!(
            "qboot.rom, microvm's firmware, not found (looked at {}); it ships with QEMU \
             (Debian: qemu-system-data); or use --machine q35",
            candidates
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `cargo xtask install-qemu`: makes sure QEMU 10 or newer is installed.
pub fn install_qemu() -> Result<ExitCode, Error> {
    let version = ensure_installed()?;
    println!("{} {version}", install::BINARY);
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask run-qemu`: builds the appliance, boots it, streams the console, and exits with
/// the appliance's exit code.
pub fn run_qemu(args: &RunQemuArgs) -> Result<ExitCode, Error> {
    if args.arch == Arch::Aarch64 {
        return run_qemu_aarch64(args);
    }
    if args.gic.is_some() {
        return Err(Error::usage("--gic is for --arch aarch64"));
    }
    ensure_installed()?;
    let image = build::build_image(&BuildArgs {
        appliance: args.appliance.clone(),
        release: args.release,
        arch: Some(Arch::X86_64),
    })?;
    let (accel, why) = choose_accel(args.accel)?;
    eprintln!("accel: {accel} ({why})");
    let firmware = firmware(args.machine)?;
    let vm = Vm {
        image: &image.path,
        machine: args.machine,
        firmware: firmware.as_deref(),
        accel,
        mem: &args.mem,
        append: &args.append,
        gdb: args.gdb,
        extra: &args.extra,
    };
    if args.gdb {
        eprintln!(
            "gdb: QEMU waits for a debugger on port {GDB_PORT}; attach with\n  \
             gdb {} -ex 'target remote :{GDB_PORT}'",
            util::display_path(&image.elf)
        );
    }
    announce_urls(args);
    // With --net tap, QEMU runs inside a namespace of ours, which goes when `network` drops:
    // on every return from here, and on Ctrl-C (which stops QEMU, not us).
    let (command, network) = match args.net {
        Some(Net::Tap) => {
            let network = tap::Network::create(args.netns.as_deref(), &args.append)?;
            (network.wrap(&vm.args()), Some(network))
        }
        _ => (vm.command(), None),
    };
    let run = run(
        command,
        &RunOptions {
            echo_console: true,
            interactive: true,
            timeout: args.timeout,
            stop_on_signal: network.is_some(),
        },
    )?;
    drop(network);
    if run.interrupted {
        return Err(Error::with_code("interrupted", EXIT_INTERRUPTED));
    }
    let outcome = run.outcome();
    // A failure's error carries QEMU's stderr; otherwise show its warnings, if any.
    if outcome != Outcome::QemuFailed && !run.stderr.is_empty() {
        eprint!("{}", run.stderr);
    }
    match outcome.error(&run) {
        None => {
            eprintln!("{outcome}");
            Ok(ExitCode::from(outcome.exit_code()))
        }
        Some(err) => Err(err),
    }
}

/// The URLs at which the host reaches a guest's web server: every TCP port forward to guest
/// port 80 (`hostfwd=tcp:127.0.0.1:8080-:80`) in the QEMU arguments.
fn web_urls(qemu_args: &[String]) -> Vec<String> {
    qemu_args
        .iter()
        .flat_map(|a| a.split(','))
        .filter_map(|part| part.strip_prefix("hostfwd=tcp:"))
        .filter_map(|fwd| {
            let (host, guest) = fwd.split_once('-')?;
            (guest == ":80").then(|| format!("http://{host}/"))
        })
        .collect()
}

/// Says where the web server will be, before QEMU starts (the console follows).
fn announce_urls(args: &RunQemuArgs) {
    for url in web_urls(&args.extra) {
        eprintln!("web: {url} (QEMU user networking; Ctrl-C stops QEMU)");
    }
}

/// `run-qemu --arch aarch64`: as [`run_qemu`], on `-M virt` under TCG, the exit code read from
/// the console (see [`aarch64`]).
fn run_qemu_aarch64(args: &RunQemuArgs) -> Result<ExitCode, Error> {
    if args.machine != Machine::Microvm {
        return Err(Error::usage(
            "--machine is for x86_64; AArch64 images boot on QEMU virt",
        ));
    }
    ensure_installed()?;
    aarch64::check(args.accel)?;
    let image = build::build_image(&BuildArgs {
        appliance: args.appliance.clone(),
        release: args.release,
        arch: Some(Arch::Aarch64),
    })?;
    let gic = args.gic.unwrap_or(Gic::V3);
    eprintln!("accel: tcg (AArch64 guest)");
    if args.gdb {
        eprintln!(
            "gdb: QEMU waits for a debugger on port {GDB_PORT}; attach with\n  \
             gdb-multiarch {} -ex 'target remote :{GDB_PORT}'",
            util::display_path(&image.elf)
        );
    }
    announce_urls(args);
    let (command, network) = match args.net {
        Some(Net::Tap) => {
            let network = tap::Network::create(args.netns.as_deref(), &args.append)?;
            let qemu = aarch64::args(&image.path, args, gic);
            (network.wrap_binary(aarch64::BINARY, &qemu), Some(network))
        }
        _ => (aarch64::command(&image.path, args, gic), None),
    };
    let run = run(
        command,
        &RunOptions {
            echo_console: true,
            interactive: true,
            timeout: args.timeout,
            stop_on_signal: network.is_some(),
        },
    )?;
    drop(network);
    if run.interrupted {
        return Err(Error::with_code("interrupted", EXIT_INTERRUPTED));
    }
    let outcome = aarch64::outcome(&run);
    if outcome != Outcome::QemuFailed && !run.stderr.is_empty() {
        eprint!("{}", run.stderr);
    }
    match outcome.error(&run) {
        None => {
            eprintln!("{outcome}");
            Ok(ExitCode::from(outcome.exit_code()))
        }
        Some(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_to_port_80_are_announced_as_urls() {
        let args: Vec<String> = [
            "-netdev",
            "user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:7007-:7,\
             hostfwd=tcp:127.0.0.1:7008-:7",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(web_urls(&args), ["http://127.0.0.1:8080/"]);
    }

    #[test]
    fn mem_sizes() {
        for good in ["32M", "512m", "1G", "65536", "2k"] {
            assert_eq!(check_mem(good), Ok(()), "{good}");
        }
        for bad in ["", "M", "0M", "32MB", "-1M", "1.5G", "thirty"] {
            assert!(check_mem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_lines() {
        let extra = vec!["-d".to_owned(), "int".to_owned()];
        let vm = Vm {
            image: Path::new("/w/target/x86_64-unknown-none/debug/hello"),
            machine: Machine::Microvm,
            firmware: Some(Path::new("/usr/share/qemu/qboot.rom")),
            accel: Accel::Tcg,
            mem: "32M",
            append: "",
            gdb: true,
            extra: &extra,
        };
        assert_eq!(
            vm.command().command_line(),
            "qemu-system-x86_64 \
             -M microvm,x-option-roms=off,pit=on,pic=off,rtc=on,isa-serial=on,acpi=off \
             -bios /usr/share/qemu/qboot.rom -accel tcg -cpu max -m 32M -nodefaults \
             -no-user-config -serial stdio -display none \
             -kernel /w/target/x86_64-unknown-none/debug/hello -append '' \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot \
             -global virtio-mmio.force-legacy=false -device virtio-rng-device -s -S -d int"
        );
        let vm = Vm {
            machine: Machine::Q35,
            firmware: None,
            accel: Accel::Kvm,
            append: "fault now",
            gdb: false,
            extra: &[],
            ..vm
        };
        let line = vm.command().command_line();
        assert!(
            line.starts_with("qemu-system-x86_64 -M q35 -accel kvm -cpu host,-arch-capabilities "),
            "{line}"
        );
        assert!(line.contains(" -append 'fault now' "), "{line}");
        assert!(
            line.ends_with(" -no-reboot -device virtio-rng-pci"),
            "{line}"
        );
    }

    #[test]
    fn tcg_is_chosen_when_asked_for() {
        assert_eq!(
            choose_accel(Some(Accel::Tcg)),
            Ok((Accel::Tcg, "--accel tcg".to_owned()))
        );
        let (accel, why) = choose_accel(None).unwrap();
        match kvm_usable() {
            _ if Path::new(PVM_MODULE).exists() => {
                assert_eq!(accel, Accel::Tcg);
                assert!(why.contains("PVM"), "{why}");
            }
            Ok(()) => assert_eq!((accel, why.as_str()), (Accel::Kvm, "/dev/kvm")),
            Err(reason) => assert_eq!((accel, why), (Accel::Tcg, reason)),
        }
    }
}
