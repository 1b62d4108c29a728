//! Hand-written command-line parsing: turns `std::env::args` into a [`Command`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::build::{Arch, BuildArgs};
use crate::qemu::{self, Accel, Machine, Net, RunQemuArgs};
use crate::util::Error;

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Build(BuildArgs),
    RunHosted {
        build: BuildArgs,
        args: Vec<String>,
    },
    RunQemu(RunQemuArgs),
    RunXen(crate::xen::RunXenArgs),
    XenLab(crate::xen::lab::LabArgs),
    InstallQemu,
    Test {
        full: bool,
    },
    Bench {
        group: Option<String>,
        /// The rest (`--accel tcg`, `--quick`, ...), parsed by the bench groups themselves.
        options: Vec<String>,
    },
    Fuzz {
        smoke: bool,
        seconds: Option<u64>,
        target: Option<String>,
    },
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, Error> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Err(Error::usage("no command given"));
    };
    let rest: Vec<String> = args.collect();
    if rest
        .iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg == "-h" || arg == "--help")
    {
        return Ok(Command::Help);
    }
    match command.as_str() {
        "build" => parse_build(&rest, true).map(Command::Build),
        "run-hosted" => {
            let (ours, theirs) = split_at_dashes(&rest);
            let (pcap, ours) = take_pcap(ours)?;
            let build = parse_build(&ours, false)?;
            // The hosted platform records its TAP device's frames when told `pcap=FILE`.
            let mut args = theirs.to_vec();
            args.extend(pcap.map(|file| format!("pcap={}", file.display())));
            Ok(Command::RunHosted { build, args })
        }
        "run-qemu" => {
            let (ours, theirs) = split_at_dashes(&rest);
            parse_run_qemu(ours, theirs).map(Command::RunQemu)
        }
        "run-xen" => crate::xen::parse_run_xen(&rest).map(Command::RunXen),
        "xen-lab" => crate::xen::lab::parse(&rest).map(Command::XenLab),
        "install-qemu" => match rest.first() {
            None => Ok(Command::InstallQemu),
            Some(arg) => Err(unknown_flag(arg)),
        },
        "test" => parse_test(&rest),
        "bench" => parse_bench(&rest),
        "fuzz" => parse_fuzz(&rest),
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(Error::usage(format!("unknown command `{other}`"))),
    }
}

/// Splits at the first `--`: xtask's own flags before, the program's arguments after.
fn split_at_dashes(args: &[String]) -> (&[String], &[String]) {
    match args.iter().position(|arg| arg == "--") {
        Some(at) => (&args[..at], &args[at + 1..]),
        None => (args, &[]),
    }
}

/// Takes `--pcap FILE` (or `--pcap=FILE`) out of `args`: the file, made absolute (the program
/// runs in the workspace root), and the other arguments.
fn take_pcap(args: &[String]) -> Result<(Option<PathBuf>, Vec<String>), Error> {
    take_path(args, "--pcap")
}

/// Takes `FLAG PATH` (or `FLAG=PATH`) out of `args`: the path, made absolute, and the other
/// arguments.
fn take_path(args: &[String], flag: &str) -> Result<(Option<PathBuf>, Vec<String>), Error> {
    let mut path = None;
    let mut rest = Vec::new();
    let mut args = args.iter();
    let with_eq = format!("{flag}=");
    while let Some(arg) = args.next() {
        let value = if arg == flag {
            args.next()
                .filter(|value| !value.starts_with("--"))
                .cloned()
        } else if let Some(value) = arg.strip_prefix(&with_eq) {
            Some(value.to_owned())
        } else {
            rest.push(arg.clone());
            continue;
        };
        let value = value
            .filter(|value| !value.is_empty())
            .ok_or_else(|| Error::usage(format!("`{flag}` needs a value")))?;
        set_once(&mut path, flag, absolute(&value))?;
    }
    Ok((path, rest))
}

/// Takes `--site DIR` out of the arguments of `build`, `run-hosted` and `run-qemu` (before any
/// `--`): the directory the static-site appliance bakes instead of its own `site/`, made
/// absolute. Other commands keep their arguments as they are.
pub fn take_site(args: Vec<String>) -> Result<(Vec<String>, Option<PathBuf>), Error> {
    if !matches!(
        args.first().map(String::as_str),
        Some("build" | "run-hosted" | "run-qemu")
    ) {
        return Ok((args, None));
    }
    let (ours, theirs) = split_at_dashes(&args[1..]);
    let (site, mut rest) = take_path(ours, "--site")?;
    if let Some(dir) = site.as_ref().filter(|dir| !dir.is_dir()) {
        return Err(Error::usage(format!(
            "--site {}: not a directory",
            dir.display()
        )));
    }
    rest.insert(0, args[0].clone());
    if !theirs.is_empty() {
        rest.push("--".to_owned());
        rest.extend(theirs.iter().cloned());
    }
    Ok((rest, site))
}

/// `path` relative to the directory xtask was started in, made absolute.
fn absolute(path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|dir| dir.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

fn parse_build(args: &[String], allow_arch: bool) -> Result<BuildArgs, Error> {
    let mut appliance = None;
    let mut release = false;
    let mut arch = None;
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag()? {
        match flag.name {
            "--appliance" => set_once(&mut appliance, "--appliance", flags.value(&flag)?)?,
            "--release" => release = flags.switch(&flag)?,
            "--arch" if allow_arch => {
                let value = flags.value(&flag)?;
                set_once(&mut arch, "--arch", Arch::parse(&value)?)?;
            }
            other => return Err(unknown_flag(other)),
        }
    }
    let appliance = appliance.ok_or_else(|| Error::usage("missing `--appliance NAME`"))?;
    Ok(BuildArgs {
        appliance,
        release,
        arch,
    })
}

fn parse_run_qemu(args: &[String], extra: &[String]) -> Result<RunQemuArgs, Error> {
    let (pcap, args) = take_pcap(args)?;
    let mut appliance = None;
    let mut release = false;
    let mut machine = None;
    let mut accel = None;
    let mut mem = None;
    let mut gdb = false;
    let mut append = None;
    let mut timeout = None;
    let mut net = None;
    let mut netns = None;
    let mut forwards = Vec::new();
    let mut arch = None;
    let mut gic = None;
    let mut flags = Flags::new(&args);
    while let Some(flag) = flags.next_flag()? {
        match flag.name {
            "--net" => {
                let value = Net::parse(&flags.value(&flag)?)?;
                set_once(&mut net, "--net", value)?;
            }
            "--netns" => set_once(&mut netns, "--netns", flags.value(&flag)?)?,
            "--forward" => forwards.push(parse_forward(&flags.value(&flag)?)?),
            "--arch" => set_once(&mut arch, "--arch", Arch::parse(&flags.value(&flag)?)?)?,
            "--gic" => set_once(&mut gic, "--gic", qemu::Gic::parse(&flags.value(&flag)?)?)?,
            "--appliance" => set_once(&mut appliance, "--appliance", flags.value(&flag)?)?,
            "--release" => release = flags.switch(&flag)?,
            "--machine" => {
                let value = Machine::parse(&flags.value(&flag)?)?;
                set_once(&mut machine, "--machine", value)?;
            }
            "--accel" => {
                let value = Accel::parse(&flags.value(&flag)?)?;
                set_once(&mut accel, "--accel", value)?;
            }
            "--mem" => {
                let value = flags.value(&flag)?;
                qemu::check_mem(&value)?;
                set_once(&mut mem, "--mem", value)?;
            }
            "--gdb" => gdb = flags.switch(&flag)?,
            "--append" => set_once(&mut append, "--append", flags.value(&flag)?)?,
            "--timeout" => {
                let value = parse_seconds("--timeout", &flags.value(&flag)?)?;
                set_once(&mut timeout, "--timeout", value)?;
            }
            other => return Err(unknown_flag(other)),
        }
    }
    let machine = machine.unwrap_or(Machine::Microvm);
    let mut append = append.unwrap_or_default();
    let appliance = appliance.unwrap_or_else(|| qemu::DEFAULT_APPLIANCE.to_owned());
    // The web site is for browsing: on QEMU's user network unless told otherwise, with its
    // port 80 at http://127.0.0.1:8080/ on the host.
    if appliance == qemu::DEFAULT_APPLIANCE {
        if net.is_none() {
            net = Some(Net::User);
        }
        if net == Some(Net::User) && forwards.is_empty() {
            forwards.push(("tcp".to_owned(), qemu::SITE_PORT, 80));
        }
    }
    if !forwards.is_empty() && net != Some(Net::User) {
        return Err(Error::usage("--forward needs --net user"));
    }
    if netns.is_some() && net != Some(Net::Tap) {
        return Err(Error::usage("--netns needs --net tap"));
    }
    if pcap.is_some() && net.is_none() {
        return Err(Error::usage("--pcap needs --net user or --net tap"));
    }
    let mut qemu_args = Vec::new();
    if let Some(net) = net {
        qemu_args = qemu::nic_args(machine, net, &forwards, pcap.as_deref());
        if !append
            .split_ascii_whitespace()
            .any(|w| w.starts_with("ip="))
        {
            append = format!("{append} {}", net.default_cmdline())
                .trim()
                .to_owned();
        }
    }
    qemu_args.extend(extra.iter().cloned());
    Ok(RunQemuArgs {
        appliance,
        release,
        machine,
        accel,
        mem: mem.unwrap_or_else(|| qemu::DEFAULT_MEM.to_owned()),
        gdb,
        append,
        timeout,
        net,
        netns,
        extra: qemu_args,
        arch: arch.unwrap_or(Arch::X86_64),
        gic,
    })
}

/// `--forward PROTO:HOST:GUEST`, e.g. `udp:7007:7` or `tcp:8080:80`.
fn parse_forward(value: &str) -> Result<(String, u16, u16), Error> {
    let bad = || {
        Error::usage(format!(
            "--forward takes PROTO:HOSTPORT:GUESTPORT (PROTO tcp or udp), not `{value}`"
        ))
    };
    let mut parts = value.split(':');
    let (Some(proto), Some(host), Some(guest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if proto != "tcp" && proto != "udp" {
        return Err(bad());
    }
    let host: u16 = host.parse().map_err(|_| bad())?;
    let guest: u16 = guest.parse().map_err(|_| bad())?;
    Ok((proto.to_owned(), host, guest))
}

/// A positive number of seconds, e.g. `60` or `2.5`.
fn parse_seconds(name: &str, value: &str) -> Result<Duration, Error> {
    value
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| Error::usage(format!("`{name}` takes seconds, e.g. 60; got `{value}`")))
}

fn parse_test(args: &[String]) -> Result<Command, Error> {
    let mut full = false;
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag()? {
        match flag.name {
            "--full" => full = flags.switch(&flag)?,
            other => return Err(unknown_flag(other)),
        }
    }
    Ok(Command::Test { full })
}

fn parse_fuzz(args: &[String]) -> Result<Command, Error> {
    let (mut smoke, mut seconds, mut target) = (false, None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--seconds" => {
                let value = rest
                    .next()
                    .ok_or_else(|| Error::usage("--seconds needs a value"))?;
                seconds = Some(value.parse().map_err(|_| {
                    Error::usage(format!("--seconds takes a whole number, not `{value}`"))
                })?);
            }
            flag if flag.starts_with('-') => return Err(unknown_flag(flag)),
            name if target.is_none() => target = Some(name.to_owned()),
            extra => {
                return Err(Error::usage(format!(
                    "unexpected argument `{extra}` (fuzz takes at most one TARGET)"
                )));
            }
        }
    }
    Ok(Command::Fuzz {
        smoke,
        seconds,
        target,
    })
}

/// `bench [GROUP] [OPTIONS]`: the options go to the bench module, which checks them.
fn parse_bench(args: &[String]) -> Result<Command, Error> {
    let (group, options) = match args {
        [group, rest @ ..] if !group.starts_with('-') => (Some(group.clone()), rest),
        rest => (None, rest),
    };
    Ok(Command::Bench {
        group,
        options: options.to_vec(),
    })
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), Error> {
    if slot.replace(value).is_some() {
        return Err(Error::usage(format!("`{name}` given more than once")));
    }
    Ok(())
}

fn unknown_flag(flag: &str) -> Error {
    if flag.starts_with('-') {
        Error::usage(format!("unknown flag `{flag}`"))
    } else {
        Error::usage(format!("unexpected argument `{flag}`"))
    }
}

/// One `--name` or `--name=value` argument.
struct Flag<'a> {
    name: &'a str,
    inline_value: Option<&'a str>,
}

/// Walks `--name`, `--name value` and `--name=value` arguments.
struct Flags<'a> {
    args: std::slice::Iter<'a, String>,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Self { args: args.iter() }
    }

    fn next_flag(&mut self) -> Result<Option<Flag<'a>>, Error> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        if !arg.starts_with("--") {
            return Err(unknown_flag(arg));
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        };
        Ok(Some(Flag { name, inline_value }))
    }

    /// The value of a flag that takes one (`--name value` or `--name=value`).
    fn value(&mut self, flag: &Flag<'a>) -> Result<String, Error> {
        let value = match flag.inline_value {
            Some(value) => Some(value),
            None => self
                .args
                .next()
                .map(String::as_str)
                .filter(|value| !value.starts_with("--")),
        };
        match value {
            Some(value) if !value.is_empty() => Ok(value.to_owned()),
            _ => Err(Error::usage(format!("`{}` needs a value", flag.name))),
        }
    }

    /// A flag that takes no value; always `true`.
    fn switch(&self, flag: &Flag<'a>) -> Result<bool, Error> {
        match flag.inline_value {
            None => Ok(true),
            Some(_) => Err(Error::usage(format!("`{}` takes no value", flag.name))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, Error> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    fn build(appliance: &str, release: bool, arch: Option<Arch>) -> BuildArgs {
        BuildArgs {
            appliance: appliance.to_owned(),
            release,
            arch,
        }
    }

    #[test]
    fn build_flags() {
        assert_eq!(
            parse_str("build --appliance hello"),
            Ok(Command::Build(build("hello", false, None)))
        );
        assert_eq!(
            parse_str("build --release --appliance=hello"),
            Ok(Command::Build(build("hello", true, None)))
        );
        assert_eq!(
            parse_str("build --appliance hello --arch aarch64"),
            Ok(Command::Build(build("hello", false, Some(Arch::Aarch64))))
        );
        assert_eq!(
            parse_str("build --arch=x86_64 --appliance hello"),
            Ok(Command::Build(build("hello", false, Some(Arch::X86_64))))
        );
    }

    #[test]
    fn build_errors_are_usage_errors() {
        for line in [
            "build",
            "build --appliance",
            "build --appliance --release",
            "build --appliance=",
            "build --appliance a --appliance b",
            "build --appliance a --arch riscv64",
            "build --appliance a --release=yes",
            "build --appliance a --frobnicate",
            "build --appliance a stray",
            "build --appliance a -- extra",
        ] {
            let err = parse_str(line).expect_err(line);
            assert_eq!(err.code(), 2, "{line}: {err}");
        }
    }

    #[test]
    fn run_hosted_passes_arguments_after_dashes() {
        assert_eq!(
            parse_str("run-hosted --appliance hello --release -- --port 80 --help"),
            Ok(Command::RunHosted {
                build: build("hello", true, None),
                args: vec!["--port".into(), "80".into(), "--help".into()],
            })
        );
        assert_eq!(
            parse_str("run-hosted --appliance hello"),
            Ok(Command::RunHosted {
                build: build("hello", false, None),
                args: vec![]
            })
        );
        assert!(parse_str("run-hosted --appliance hello --arch x86_64").is_err());
    }

    fn run_qemu(line: &str) -> RunQemuArgs {
        match parse_str(line) {
            Ok(Command::RunQemu(args)) => args,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn site_is_taken_from_build_and_run_commands_only() {
        let args = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let (rest, site) = take_site(args("build --appliance static-site --site /tmp")).unwrap();
        assert_eq!(rest, args("build --appliance static-site"));
        assert_eq!(site.as_deref(), Some(Path::new("/tmp")));
        let (rest, site) = take_site(args("run-qemu --site=/tmp -- --site x")).unwrap();
        assert_eq!(rest, args("run-qemu -- --site x"));
        assert!(site.is_some());
        let (rest, site) = take_site(args("test --site /tmp")).unwrap();
        assert_eq!((rest, site), (args("test --site /tmp"), None));
        assert!(take_site(args("build --site /nonexistent/dir")).is_err());
        assert!(take_site(args("build --site")).is_err());
    }

    #[test]
    fn run_qemu_defaults() {
        assert_eq!(
            run_qemu("run-qemu"),
            RunQemuArgs {
                appliance: "static-site".into(),
                release: false,
                machine: Machine::Microvm,
                accel: None,
                mem: "32M".into(),
                gdb: false,
                append: "ip=10.0.2.15/24 gw=10.0.2.2".into(),
                timeout: None,
                net: Some(Net::User),
                netns: None,
                extra: [
                    "-netdev",
                    "user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80",
                    "-device",
                    "virtio-net-device,netdev=n0",
                ]
                .map(String::from)
                .to_vec(),
                arch: Arch::X86_64,
                gic: None,
            }
        );
    }

    #[test]
    fn run_qemu_flags_and_extra_arguments() {
        let args = run_qemu(
            "run-qemu --appliance crash --release --machine q35 --accel=tcg --mem 64M --gdb \
             --append panic --timeout 2.5 -- -d int,cpu_reset --help",
        );
        assert_eq!(
            args,
            RunQemuArgs {
                appliance: "crash".into(),
                release: true,
                machine: Machine::Q35,
                accel: Some(Accel::Tcg),
                mem: "64M".into(),
                gdb: true,
                append: "panic".into(),
                timeout: Some(Duration::from_millis(2500)),
                net: None,
                netns: None,
                extra: vec!["-d".into(), "int,cpu_reset".into(), "--help".into()],
                arch: Arch::X86_64,
                gic: None,
            }
        );
        assert_eq!(run_qemu("run-qemu --accel kvm").accel, Some(Accel::Kvm));
        let arm = run_qemu("run-qemu --arch aarch64 --gic 2");
        assert_eq!((arm.arch, arm.gic), (Arch::Aarch64, Some(qemu::Gic::V2)));
        // The command line may hold spaces and `=`: it is one argument.
        let spaced =
            parse(["run-qemu", "--appliance=hello", "--append=a=1 b"].map(str::to_owned)).unwrap();
        let Command::RunQemu(spaced) = spaced else {
            panic!("{spaced:?}")
        };
        assert_eq!(spaced.append, "a=1 b");
    }

    #[test]
    fn run_qemu_errors_are_usage_errors() {
        for line in [
            "run-qemu --machine pc",
            "run-qemu --accel hvf",
            "run-qemu --mem 32MB",
            "run-qemu --mem",
            "run-qemu --timeout 0",
            "run-qemu --timeout soon",
            "run-qemu --gdb=yes",
            "run-qemu --gic 4",
            "run-qemu --arch sparc",
            "run-qemu --machine q35 --machine q35",
            "run-qemu stray",
            "install-qemu --now",
        ] {
            let err = parse_str(line).expect_err(line);
            assert_eq!(err.code(), 2, "{line}: {err}");
        }
        assert_eq!(parse_str("install-qemu"), Ok(Command::InstallQemu));
    }

    #[test]
    fn test_and_bench() {
        assert_eq!(parse_str("test"), Ok(Command::Test { full: false }));
        assert_eq!(parse_str("test --full"), Ok(Command::Test { full: true }));
        assert!(parse_str("test --quick").is_err());
        assert_eq!(
            parse_str("fuzz --smoke"),
            Ok(Command::Fuzz {
                smoke: true,
                seconds: None,
                target: None
            })
        );
        assert_eq!(
            parse_str("fuzz --seconds 30 tcp"),
            Ok(Command::Fuzz {
                smoke: false,
                seconds: Some(30),
                target: Some("tcp".into())
            })
        );
        assert!(parse_str("fuzz --seconds soon").is_err());
        let Ok(Command::RunQemu(run)) =
            parse_str("run-qemu --appliance echo --net user --forward udp:7007:7 -- -s")
        else {
            panic!("run-qemu with --net parses");
        };
        assert_eq!(run.append, "ip=10.0.2.15/24 gw=10.0.2.2");
        assert_eq!(
            run.extra,
            [
                "-netdev",
                "user,id=n0,hostfwd=udp:127.0.0.1:7007-:7",
                "-device",
                "virtio-net-device,netdev=n0",
                "-s"
            ]
        );
        assert!(parse_str("run-qemu --appliance echo --forward udp:1:2").is_err());
        assert!(parse_str("run-qemu --net user --forward sctp:1:2").is_err());
        assert!(parse_str("run-qemu --net bridge").is_err());
        assert!(parse_str("run-qemu --netns x").is_err());
        assert!(parse_str("run-qemu --appliance echo --pcap x.pcap").is_err());
        assert!(parse_str("run-qemu --net tap --forward tcp:1:2").is_err());
        assert!(parse_str("fuzz tcp udp").is_err());
        assert_eq!(
            parse_str("bench"),
            Ok(Command::Bench {
                group: None,
                options: vec![]
            })
        );
        assert_eq!(
            parse_str("bench vs-linux --quick"),
            Ok(Command::Bench {
                group: Some("vs-linux".into()),
                options: vec!["--quick".into()]
            })
        );
    }

    #[test]
    fn tap_network_and_captures() {
        let Ok(Command::RunQemu(run)) = parse_str(
            "run-qemu --appliance echo --machine q35 --net tap --netns mg-1 --pcap /tmp/a.pcap",
        ) else {
            panic!("run-qemu with --net tap parses");
        };
        assert_eq!(run.net, Some(Net::Tap));
        assert_eq!(run.netns.as_deref(), Some("mg-1"));
        assert_eq!(run.append, "ip=10.7.0.2/24 gw=10.7.0.1");
        assert_eq!(
            run.extra,
            [
                "-netdev",
                "tap,id=n0,ifname=mgtap0,script=no,downscript=no",
                "-device",
                "virtio-net-pci,netdev=n0",
                "-object",
                "filter-dump,id=pcap0,netdev=n0,file=/tmp/a.pcap",
            ]
        );
        // Our own ip= wins; a relative capture file is made absolute.
        let Ok(Command::RunQemu(run)) =
            parse_str("run-qemu --net=user --append ip=10.0.2.9/24 --pcap=out.pcap")
        else {
            panic!("run-qemu with --pcap parses");
        };
        assert_eq!(run.append, "ip=10.0.2.9/24");
        let dump = run.extra.last().unwrap();
        assert!(
            dump.starts_with("filter-dump,id=pcap0,netdev=n0,file=/"),
            "{dump}"
        );
        assert!(dump.ends_with("/out.pcap"), "{dump}");
        assert!(parse_str("run-qemu --net tap --pcap").is_err());
        assert!(parse_str("run-qemu --net tap --pcap a --pcap b").is_err());
        let Ok(Command::RunHosted { args, .. }) =
            parse_str("run-hosted --appliance echo --pcap /tmp/h.pcap -- tap=t0")
        else {
            panic!("run-hosted with --pcap parses");
        };
        assert_eq!(args, ["tap=t0", "pcap=/tmp/h.pcap"]);
    }

    #[test]
    fn help_and_unknown() {
        assert_eq!(parse_str("help"), Ok(Command::Help));
        assert_eq!(parse_str("--help"), Ok(Command::Help));
        assert_eq!(parse_str("build --help"), Ok(Command::Help));
        assert_eq!(parse_str("frobnicate").map_err(|err| err.code()), Err(2));
        assert_eq!(parse_str("").map_err(|err| err.code()), Err(2));
    }
}
