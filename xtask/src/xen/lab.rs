//! `cargo xtask xen-lab`: a real Xen to test on. Debian's Xen 4.17 with a PV dom0 (Debian's
//! Linux, a busybox initramfs with xl, xenstored, xenconsoled and netback) inside QEMU under TCG,
//! the appliances started in it with the configuration `run-xen` writes, and checked.
//!
//! The recipe is `/work/shared/xen-lab/` (README.md there has the findings): `apt-get download`
//! the packages (cached under `target/xen-lab/debs/`, never committed), `dpkg -x` them, build
//! dom0's initramfs ([`MKINITRD`]) with the appliances in `/guests`, and boot
//! `qemu-system-x86_64 -accel tcg -cpu EPYC,-monitor` (EPYC for SVM + NPT, which Debian's Xen
//! needs for PVH; `-monitor` because Xen's MWAIT idle #GPs under TCG). KVM here cannot run Xen.
//!
//! dom0's `/init` ([`DOM0_INIT`]) runs `/guests/plan`: `hello` with `xl create -c` (it must print
//! `Hello from Morgana` and `morgana: exit code 0`, and its domain must be gone: it shut itself
//! down); `static-site` is asked for `/` (HTTP/1.0 through `nc`) from dom0 over the bridge, through netback
//! and the appliance's netfront; `echo` gets a line through `nc`. Then dom0 powers off.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{self, Cmd, Error};

/// dom0's `/init`.
pub const DOM0_INIT: &str = include_str!("dom0-init.sh");
/// The vif hotplug script (Xen's `vif-bridge` needs bash; this one runs on busybox).
pub const VIF_BRIDGE: &str = include_str!("vif-bridge.sh");
/// Builds the initramfs from the unpacked packages.
pub const MKINITRD: &str = include_str!("mkinitrd.sh");

/// Debian bookworm packages the lab unpacks (the kernel image is added: the one
/// `linux-image-amd64` depends on).
const PACKAGES: &[&str] = &[
    "xen-hypervisor-4.17-amd64",
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    "libxenmisc4.17",
    "libxencall1",
    "libxenevtchn1",
    "libxenforeignmemory1",
    "libxengnttab1",
    "libxenstore4",
    "libxentoollog1",
    "libxendevicemodel1",
    "libxenhypfs1",
    "libxentoolcore1",
    "libyajl2",
    "libc6",
    "zlib1g",
    "liblzma5",
    "libuuid1",
    "libzstd1",
    "libgcc-s1",
    "busybox-static",
];

/// How an appliance is checked in the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Runs to its end on the console: greeting, status line 0, domain gone.
    Run,
    /// Answers HTTP on this port (from dom0, over the bridge).
    Http(u16),
    /// Echoes a TCP line on this port.
    Echo(u16),
}

impl Check {
    /// The check that suits an appliance.
    pub fn for_appliance(name: &str) -> Check {
        match name {
            "static-site" => Check::Http(80),
            "echo" => Check::Echo(7),
            _ => Check::Run,
        }
    }

    fn plan_line(&self, name: &str) -> String {
        match self {
            Check::Run => format!("{name} run"),
            Check::Http(port) => format!("{name} http {port}"),
            Check::Echo(port) => format!("{name} echo {port}"),
        }
    }
}

/// `xen-lab` arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct LabArgs {
    pub appliances: Vec<String>,
    pub timeout: Duration,
    /// Leave a dom0 shell on the console at the end (interactive).
    pub shell: bool,
}

/// The appliances checked by default.
pub const DEFAULT_APPLIANCES: &[&str] = &["hello", "static-site"];

/// Parses `xen-lab [--appliance NAME]... [--timeout SECS] [--shell]`.
pub fn parse(args: &[String]) -> Result<LabArgs, Error> {
    let mut parsed = LabArgs {
        appliances: Vec::new(),
        timeout: Duration::from_secs(400),
        shell: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Error::usage(format!("`{flag}` needs a value")))
        };
        match flag {
            "--appliance" => parsed.appliances.push(value()?),
            "--timeout" => {
                let v = value()?;
                parsed.timeout =
                    Duration::from_secs(v.parse().map_err(|_| {
                        Error::usage(format!("--timeout takes seconds, not `{v}`"))
                    })?);
            }
            "--shell" => parsed.shell = true,
            other => return Err(Error::usage(format!("unknown flag `{other}` for xen-lab"))),
        }
    }
    if parsed.appliances.is_empty() {
        parsed.appliances = DEFAULT_APPLIANCES.iter().map(|s| s.to_string()).collect();
    }
    Ok(parsed)
}

/// Where the lab lives: `$MORGANA_XEN_LAB`, else `target/xen-lab` (downloads cached there).
pub fn lab_dir() -> PathBuf {
    match std::env::var_os("MORGANA_XEN_LAB") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => util::target_dir().join("xen-lab"),
    }
}

/// Downloads (once) and unpacks (once) the packages.
fn ensure_packages(lab: &Path) -> Result<(), Error> {
    let debs = lab.join("debs");
    let root = lab.join("root");
    if !debs.join(".complete").exists() {
        std::fs::create_dir_all(&debs).map_err(io_error(&debs))?;
        if util::which("apt-get").is_none() {
            return Err(Error::new(
                "xen-lab needs apt-get (Debian bookworm package sources) to fetch Xen 4.17",
            ));
        }
        let kernel = kernel_package()?;
        let mut cmd = Cmd::new("apt-get").arg("download");
        for p in PACKAGES {
            cmd = cmd.arg(*p);
        }
        cmd = cmd.arg(kernel);
        // apt-get download writes to the current directory.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("cd '{}' && {}", debs.display(), cmd.command_line()))
            .status()
            .map_err(|e| Error::new(format!("apt-get: {e}")))?;
        if !status.success() {
            return Err(Error::new(format!(
                "`apt-get download` failed ({status}); xen-lab needs Debian bookworm's package \
                 sources (xen-hypervisor-4.17-amd64)"
            )));
        }
        touch(&debs.join(".complete"))?;
    }
    if !root.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(io_error(&root))?;
        let mut entries: Vec<_> = std::fs::read_dir(&debs)
            .map_err(io_error(&debs))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        entries.sort();
        eprintln!("xen-lab: unpacking {} packages", entries.len());
        for deb in entries {
            Cmd::new("dpkg-deb")
                .arg("-x")
                .arg(deb.to_string_lossy())
                .arg(root.to_string_lossy())
                .quiet()
                .run()?;
        }
        touch(&root.join(".complete"))?;
    }
    Ok(())
}

/// The kernel package `linux-image-amd64` depends on (`MORGANA_XEN_LAB_KERNEL` overrides).
fn kernel_package() -> Result<String, Error> {
    if let Ok(k) = std::env::var("MORGANA_XEN_LAB_KERNEL") {
        return Ok(k);
    }
    let out = Cmd::new("apt-cache")
        .args(["depends", "linux-image-amd64"])
        .quiet()
        .stdout()?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Depends: linux-image-"))
        .map(|v| format!("linux-image-{v}"))
        .ok_or_else(|| Error::new("apt-cache names no kernel behind linux-image-amd64"))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::new(format!("{}: {e}", path.display()))
}

fn touch(path: &Path) -> Result<(), Error> {
    std::fs::write(path, b"").map_err(io_error(path))
}

/// Builds the appliances and writes `guests/`: each image, its xl configuration (the text
/// `run-xen` writes, with the kernel at `/guests/NAME`), and the plan.
fn stage_guests(lab: &Path, appliances: &[String]) -> Result<Vec<(String, Check)>, Error> {
    let guests = lab.join("guests");
    let _ = std::fs::remove_dir_all(&guests);
    std::fs::create_dir_all(&guests).map_err(io_error(&guests))?;
    let mut plan = String::new();
    let mut checks = Vec::new();
    for name in appliances {
        let image = super::build_image(name, true)?;
        let dest = guests.join(name);
        std::fs::copy(&image.path, &dest).map_err(io_error(&dest))?;
        let config = super::xl_config(
            name,
            &format!("/guests/{name}"),
            super::DEFAULT_MEMORY_MB,
            super::DEFAULT_BRIDGE,
            &super::guest_cmdline(""),
        );
        let cfg = guests.join(format!("{name}.cfg"));
        std::fs::write(&cfg, config).map_err(io_error(&cfg))?;
        let check = Check::for_appliance(name);
        plan.push_str(&check.plan_line(name));
        plan.push('\n');
        checks.push((name.clone(), check));
    }
    std::fs::write(guests.join("plan"), plan).map_err(io_error(&guests))?;
    Ok(checks)
}

/// A console line and when it came (seconds since QEMU started).
type Line = (f64, String);

/// `cargo xtask xen-lab`.
pub fn xen_lab(args: &LabArgs) -> Result<ExitCode, Error> {
    let lab = lab_dir();
    std::fs::create_dir_all(&lab).map_err(io_error(&lab))?;
    ensure_packages(&lab)?;
    let checks = stage_guests(&lab, &args.appliances)?;
    for (name, text) in [
        ("dom0-init", DOM0_INIT),
        ("vif-bridge", VIF_BRIDGE),
        ("mkinitrd.sh", MKINITRD),
    ] {
        let p = lab.join(name);
        std::fs::write(&p, text).map_err(io_error(&p))?;
    }
    Cmd::new("bash")
        .arg(lab.join("mkinitrd.sh").to_string_lossy())
        .env("LAB", &lab.to_string_lossy())
        .run()?;
    let build = lab.join("build");
    let dom0_cmdline = format!(
        "console=hvc0 earlyprintk=xen quiet{}",
        if args.shell { " labshell=1" } else { "" }
    );
    let qemu = Cmd::new("qemu-system-x86_64")
        .install_hint("cargo xtask install-qemu")
        .args([
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "EPYC,-monitor",
            "-smp",
            "2",
            "-m",
            "2G",
            "-nographic",
            "-no-reboot",
            "-nic",
            "none",
            "-kernel",
        ])
        .arg(build.join("xen").to_string_lossy())
        .args([
            "-append",
            "console=com1 com1=115200,8n1 dom0_mem=512M,max:512M dom0_max_vcpus=1 guest_loglvl=all",
            "-initrd",
        ])
        .arg(format!(
            "{} {dom0_cmdline},{}",
            build.join("vmlinuz").display(),
            build.join("dom0.cpio.gz").display()
        ));
    let stdin = if args.shell {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let start = Instant::now();
    let mut child = qemu.spawn(stdin, Stdio::piped(), Stdio::piped())?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel::<Line>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_owned();
            if tx.send((start.elapsed().as_secs_f64(), text)).is_err() {
                break;
            }
        }
    });
    let log_path = lab.join("logs").join("xen-lab.log");
    let _ = std::fs::create_dir_all(log_path.parent().expect("has a parent"));
    let mut log = std::fs::File::create(&log_path).map_err(io_error(&log_path))?;
    let mut lines: Vec<Line> = Vec::new();
    let mut timed_out = false;
    loop {
        let left = args.timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok((t, text)) => {
                println!("[{t:7.2}] {text}");
                let _ = writeln!(log, "[{t:7.2}] {text}");
                lines.push((t, text));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if start.elapsed() >= args.timeout {
                    timed_out = true;
                    let _ = child.kill();
                    break;
                }
            }
        }
    }
    let _ = child.wait();
    eprintln!("xen-lab: log in {}", util::display_path(&log_path));
    let report = evaluate(&lines, &checks);
    eprintln!("{}", report.text);
    if timed_out {
        return Err(Error::new(format!(
            "xen-lab: timed out after {} s",
            args.timeout.as_secs()
        )));
    }
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Error::new("xen-lab: a check failed (see above)"))
    }
}

/// The verdict on a lab run.
#[derive(Debug)]
pub struct Report {
    pub ok: bool,
    pub text: String,
}

fn find<'a>(lines: &'a [Line], pat: &str) -> Option<&'a Line> {
    lines.iter().find(|(_, l)| l.contains(pat))
}

/// Checks each appliance's lines (between `LAB: START NAME` and `LAB: END NAME`) and measures.
pub fn evaluate(lines: &[Line], checks: &[(String, Check)]) -> Report {
    let mut ok = true;
    let mut text = String::from("xen-lab summary:\n");
    if let Some((t, _)) = find(lines, "LAB: READY") {
        text.push_str(&format!("  dom0 ready {t:.1} s after QEMU started (TCG)\n"));
    } else {
        ok = false;
        text.push_str("  FAIL: dom0 never became ready\n");
    }
    if find(lines, "Panic on CPU").is_some() {
        ok = false;
        text.push_str("  FAIL: Xen panicked\n");
    }
    for (name, check) in checks {
        let start = lines
            .iter()
            .position(|(_, l)| l.starts_with(&format!("LAB: START {name} ")));
        let Some(start) = start else {
            ok = false;
            text.push_str(&format!("  FAIL {name}: never started\n"));
            continue;
        };
        let end = lines[start..]
            .iter()
            .position(|(_, l)| l.starts_with(&format!("LAB: END {name} ")))
            .map_or(lines.len(), |e| start + e);
        let part = &lines[start..end];
        let t0 = part[0].0;
        // Only `run` shows the console live (`xl create -c`); the others' console log is
        // printed after the check, so its time means nothing.
        let first_guest = find(part, "morgana: x86_64 PVH on Xen")
            .filter(|_| *check == Check::Run)
            .map(|(t, _)| t - t0);
        let boot = find(part, "boot: entry to main in").map(|(_, l)| l.clone());
        let console: String = part.iter().map(|(_, l)| format!("{l}\n")).collect();
        let (passed, what) = match check {
            Check::Run => {
                let greeted = console.contains("Hello from Morgana") || *name != "hello";
                let code = super::exit_code(&console);
                let gone = console.contains(&format!("LAB: GONE {name}"));
                (
                    greeted && code == Some(0) && gone,
                    format!(
                        "greeting {}, status line {:?}, domain {}",
                        if greeted { "seen" } else { "MISSING" },
                        code,
                        if gone {
                            "gone (SCHEDOP_shutdown)"
                        } else {
                            "STILL THERE"
                        }
                    ),
                )
            }
            Check::Http(port) | Check::Echo(port) => {
                let kind = if matches!(check, Check::Http(_)) {
                    "http"
                } else {
                    "echo"
                };
                let answered = find(part, &format!("LAB: {kind} {name} OK"));
                (
                    answered.is_some(),
                    match answered {
                        Some((t, _)) => format!(
                            "{kind} on port {port} answered {:.1} s after xl create",
                            t - t0
                        ),
                        None => format!("{kind} on port {port}: NO ANSWER"),
                    },
                )
            }
        };
        ok &= passed;
        text.push_str(&format!(
            "  {} {name}: {what}",
            if passed { "ok  " } else { "FAIL" }
        ));
        if let Some(dt) = first_guest {
            text.push_str(&format!("; first console line {dt:.2} s after xl create"));
        }
        if let Some(b) = boot {
            text.push_str(&format!("; {}", b.trim()));
        }
        text.push('\n');
    }
    Report { ok, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.appliances, DEFAULT_APPLIANCES);
        let a = parse(&["--appliance".into(), "echo".into(), "--timeout=60".into()]).unwrap();
        assert_eq!(a.appliances, ["echo"]);
        assert_eq!(a.timeout, Duration::from_secs(60));
        assert_eq!(
            Check::for_appliance("echo").plan_line("echo"),
            "echo echo 7"
        );
    }

    #[test]
    fn evaluates_a_run() {
        let l = |t: f64, s: &str| (t, s.to_owned());
        let lines = vec![
            l(10.0, "LAB: READY uptime 9"),
            l(11.0, "LAB: START hello run uptime 10"),
            l(12.5, "morgana: x86_64 PVH on Xen 4.17, 32 MiB"),
            l(12.5, "boot: entry to main in 162291 us (...)"),
            l(12.6, "Hello from Morgana"),
            l(12.7, "morgana: exit code 0"),
            l(13.0, "LAB: GONE hello uptime 12"),
            l(13.1, "LAB: END hello uptime 12"),
            l(14.0, "LAB: START static-site http uptime 13"),
            l(20.0, "LAB: http static-site OK after 4s uptime 19"),
            l(21.0, "LAB: END static-site uptime 20"),
        ];
        let checks = vec![
            ("hello".to_owned(), Check::Run),
            ("static-site".to_owned(), Check::Http(80)),
        ];
        let r = evaluate(&lines, &checks);
        assert!(r.ok, "{}", r.text);
        assert!(r.text.contains("first console line 1.50 s after xl create"));
        let r = evaluate(&lines[..5], &checks);
        assert!(!r.ok);
    }
}
