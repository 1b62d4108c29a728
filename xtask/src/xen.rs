//! `run-xen`: an appliance as a Xen PVH domU, with the xl configuration written next to the
//! image; and (in [`lab`]) `xen-lab`, a real Xen inside QEMU to run it on.
//!
//! The image is the same x86_64 PVH ELF that QEMU boots: it finds Xen at start-up. The xl
//! configuration ([`xl_config`]) is the one place that says how an appliance runs on Xen;
//! the lab boots appliances with exactly that text (only the kernel's path differs, as the
//! image sits in dom0's initramfs there).

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use crate::build::{self, Arch, BuildArgs};
use crate::util::{self, Cmd, Error};

pub mod lab;

/// The status line the image prints before `SCHEDOP_shutdown` (the AArch64 port prints the
/// same).
pub const EXIT_LINE: &str = "morgana: exit code ";

/// Exit code of `run-xen` when the console showed no status line.
pub const EXIT_NO_EXIT_CODE: u8 = 71;

/// Default guest memory in MiB.
pub const DEFAULT_MEMORY_MB: u32 = 32;
/// Default bridge of the guest's vif.
pub const DEFAULT_BRIDGE: &str = "xenbr0";
/// The address given to the guest unless `--append` has an `ip=`: the lab's bridge is
/// 10.0.0.1/24.
pub const DEFAULT_IP: &str = "ip=10.0.0.2/24 gw=10.0.0.1";

/// `run-xen` arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct RunXenArgs {
    pub appliance: String,
    pub release: bool,
    pub dry_run: bool,
    pub memory_mb: u32,
    pub bridge: String,
    pub append: String,
}

/// Parses `run-xen --appliance NAME [--release] [--dry-run] [--memory MB] [--bridge BR]
/// [--append CMDLINE]`.
pub fn parse_run_xen(args: &[String]) -> Result<RunXenArgs, Error> {
    let mut parsed = RunXenArgs {
        appliance: String::new(),
        release: false,
        dry_run: false,
        memory_mb: DEFAULT_MEMORY_MB,
        bridge: DEFAULT_BRIDGE.to_owned(),
        append: String::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Error::usage(format!("`{name}` needs a value")))
        };
        match flag {
            "--appliance" => parsed.appliance = value("--appliance")?,
            "--release" => parsed.release = true,
            "--dry-run" => parsed.dry_run = true,
            "--memory" => {
                let v = value("--memory")?;
                parsed.memory_mb =
                    v.parse().ok().filter(|&mb| mb >= 8).ok_or_else(|| {
                        Error::usage(format!("--memory takes MiB (>= 8), not `{v}`"))
                    })?;
            }
            "--bridge" => parsed.bridge = value("--bridge")?,
            "--append" => parsed.append = value("--append")?,
            other => return Err(Error::usage(format!("unknown flag `{other}` for run-xen"))),
        }
    }
    if parsed.appliance.is_empty() {
        return Err(Error::usage("run-xen: missing `--appliance NAME`"));
    }
    Ok(parsed)
}

/// The guest's command line: `append`, plus [`DEFAULT_IP`] unless it configures IPv4 itself.
pub fn guest_cmdline(append: &str) -> String {
    let has_ip = append
        .split_ascii_whitespace()
        .any(|w| w.starts_with("ip="));
    let line = if has_ip {
        append.to_owned()
    } else {
        format!("{append} {DEFAULT_IP}")
    };
    line.trim().to_owned()
}

/// The domain's name for appliance `name`.
pub fn domain_name(appliance: &str) -> String {
    format!("morgana-{appliance}")
}

/// The xl configuration of an appliance (xl.cfg(5)): a PVH guest with one vCPU, one vif on
/// `bridge`, destroyed when it powers off or crashes (its exit code is on the console).
pub fn xl_config(
    appliance: &str,
    kernel: &str,
    memory_mb: u32,
    bridge: &str,
    cmdline: &str,
) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "# Written by `cargo xtask run-xen`: appliance `{appliance}` as a Xen PVH domU.\n\
         name = \"{name}\"\n\
         type = \"pvh\"\n\
         kernel = \"{kernel}\"\n\
         cmdline = \"{cmdline}\"\n\
         memory = {memory_mb}\n\
         vcpus = 1\n\
         vif = [ 'bridge={bridge}' ]\n\
         on_poweroff = \"destroy\"\n\
         on_reboot = \"destroy\"\n\
         on_crash = \"destroy\"\n",
        name = domain_name(appliance),
        kernel = quote(kernel),
        cmdline = quote(cmdline),
    )
}

/// The cargo feature that puts Xen PVH guest support into an x86_64 image (the `morgana`
/// crate's `xen`; images built without it say so on Xen and stop).
pub const XEN_FEATURE: &str = "morgana/xen";

/// Builds the x86_64 image with Xen support ([`XEN_FEATURE`]; release images are stripped
/// copies) and copies what boots to `<appliance>.xen` next to it: the image without the feature
/// (`cargo xtask build`, `run-qemu`) is built to the same path, and an xl configuration must
/// not end up pointing at that one.
pub fn build_image(appliance: &str, release: bool) -> Result<build::Image, Error> {
    let mut image = build::build_image_with(
        &BuildArgs {
            appliance: appliance.to_owned(),
            release,
            arch: Some(Arch::X86_64),
        },
        &[XEN_FEATURE],
    )?;
    let xen = image.path.with_file_name(format!("{appliance}.xen"));
    std::fs::copy(&image.path, &xen)
        .map_err(|e| Error::new(format!("cannot copy the image to {}: {e}", xen.display())))?;
    eprintln!("Xen image: {}", util::display_path(&xen));
    image.path = xen;
    Ok(image)
}

/// The exit code in a console's status line, if it printed one.
pub fn exit_code(console: &str) -> Option<u8> {
    console.lines().rev().find_map(|line| {
        let rest = &line[line.find(EXIT_LINE)? + EXIT_LINE.len()..];
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse::<i64>().ok().map(|c| c.clamp(0, 255) as u8)
    })
}

/// `cargo xtask run-xen`.
pub fn run_xen(args: &RunXenArgs) -> Result<ExitCode, Error> {
    let image = build_image(&args.appliance, args.release)?;
    let kernel = std::fs::canonicalize(&image.path)
        .map_err(|e| Error::new(format!("{}: {e}", image.path.display())))?;
    let config_path = config_path(&image.path, &args.appliance);
    let config = xl_config(
        &args.appliance,
        &kernel.to_string_lossy(),
        args.memory_mb,
        &args.bridge,
        &guest_cmdline(&args.append),
    );
    std::fs::write(&config_path, &config)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", config_path.display())))?;
    let command = format!("xl create -c {}", config_path.display());
    let xl = util::which("xl");
    let root = util::is_root()?;
    if args.dry_run || xl.is_none() || !root {
        eprintln!("xl config: {}", util::display_path(&config_path));
        print!("{config}");
        let why = if args.dry_run {
            "--dry-run".to_owned()
        } else if xl.is_none() {
            "no `xl` on the PATH (not a Xen dom0?)".to_owned()
        } else {
            "xl needs root".to_owned()
        };
        eprintln!("not started ({why}); on a Xen dom0, as root, run:\n  {command}");
        return Ok(ExitCode::SUCCESS);
    }
    // Stream the console and keep it, to find the status line.
    let mut child = Cmd::new("xl")
        .args(["create", "-c"])
        .arg(config_path.to_string_lossy())
        .spawn(Stdio::inherit(), Stdio::piped(), Stdio::inherit())?;
    let mut console = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::{Read, Write};
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            console.extend_from_slice(&buf[..n]);
            let _ = std::io::stdout().write_all(&buf[..n]);
            let _ = std::io::stdout().flush();
        }
    }
    let status = child.wait().map_err(|e| Error::new(format!("xl: {e}")))?;
    if !status.success() {
        return Err(Error::new(format!("`{command}` failed: {status}")));
    }
    match exit_code(&String::from_utf8_lossy(&console)) {
        Some(code) => Ok(ExitCode::from(code)),
        None => Err(Error::with_code(
            "the guest's console ended without a `morgana: exit code N` line",
            EXIT_NO_EXIT_CODE,
        )),
    }
}

/// `<image dir>/<appliance>.xl.cfg`.
pub fn config_path(image: &Path, appliance: &str) -> PathBuf {
    image
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{appliance}.xl.cfg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_run_xen() {
        let a =
            parse_run_xen(&args("--appliance echo --dry-run --memory=64 --bridge br1")).unwrap();
        assert_eq!(
            a,
            RunXenArgs {
                appliance: "echo".into(),
                release: false,
                dry_run: true,
                memory_mb: 64,
                bridge: "br1".into(),
                append: String::new(),
            }
        );
        assert!(parse_run_xen(&args("--dry-run")).is_err());
        assert!(parse_run_xen(&args("--appliance x --memory 2")).is_err());
        assert!(parse_run_xen(&args("--appliance x --bogus")).is_err());
    }

    /// The whole file `run-xen` writes, byte for byte: a change to it must show up here.
    #[test]
    fn config_is_a_pvh_guest_with_a_vif() {
        let c = xl_config(
            "hello",
            "/guests/hello",
            32,
            "xenbr0",
            &guest_cmdline("log=debug"),
        );
        let golden = "\
# Written by `cargo xtask run-xen`: appliance `hello` as a Xen PVH domU.
name = \"morgana-hello\"
type = \"pvh\"
kernel = \"/guests/hello\"
cmdline = \"log=debug ip=10.0.0.2/24 gw=10.0.0.1\"
memory = 32
vcpus = 1
vif = [ 'bridge=xenbr0' ]
on_poweroff = \"destroy\"
on_reboot = \"destroy\"
on_crash = \"destroy\"
";
        assert_eq!(c, golden);
        assert_eq!(guest_cmdline("ip=dhcp"), "ip=dhcp");
    }

    /// Quotes and backslashes in paths and command lines are escaped for xl's parser.
    #[test]
    fn config_escapes_strings() {
        let c = xl_config("x", "/a \"b\"\\c", 8, "br", "k=\"v\"");
        assert!(c.contains("kernel = \"/a \\\"b\\\"\\\\c\"\n"), "{c}");
        assert!(c.contains("cmdline = \"k=\\\"v\\\"\"\n"), "{c}");
    }

    #[test]
    fn finds_the_status_line() {
        assert_eq!(exit_code("Hello\nmorgana: exit code 0\n"), Some(0));
        assert_eq!(exit_code("x\r\n(d3) morgana: exit code 101\r\n"), Some(101));
        assert_eq!(exit_code("no line"), None);
    }
}
