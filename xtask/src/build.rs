//! `build` and `run-hosted`: compile an appliance and find its image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::util::{self, Cmd, Error};

mod arm64;

/// A bare-metal architecture an appliance can be built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "x86_64" => Ok(Self::X86_64),
            "aarch64" => Ok(Self::Aarch64),
            other => Err(Error::usage(format!(
                "unknown architecture `{other}` (expected x86_64 or aarch64)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    /// The Rust target an image for this architecture is built for.
    pub fn target(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-unknown-none",
            Self::Aarch64 => "aarch64-unknown-none",
        }
    }
}

/// What to build: `--appliance NAME [--release] [--arch ARCH]`.
#[derive(Debug, PartialEq, Eq)]
pub struct BuildArgs {
    pub appliance: String,
    pub release: bool,
    /// `None` builds the hosted flavour, a Linux process.
    pub arch: Option<Arch>,
}

/// A built image.
#[derive(Debug)]
pub struct Image {
    /// The file to run or boot: for a bare-metal release build, the stripped copy if one was made.
    pub path: PathBuf,
    /// The file as the linker wrote it, with its symbols: what a debugger loads.
    pub elf: PathBuf,
    /// The size of `path` in bytes.
    pub bytes: u64,
}

/// The directory `--site` named, for the static-site appliance's build script.
static SITE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes every build of this run bake `dir` into the static-site appliance (its build script
/// reads `MORGANA_SITE_DIR`, and cargo rebuilds when it or the files change).
pub fn bake_site(dir: PathBuf) {
    eprintln!("site: {}", util::display_path(&dir));
    let _ = SITE_DIR.set(dir);
}

/// `cargo xtask build`: builds the image and reports where it is and how big.
pub fn build(args: &BuildArgs) -> Result<ExitCode, Error> {
    build_image(args)?;
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask run-hosted`: builds the hosted image, runs it, and exits as it did.
pub fn run_hosted(args: &BuildArgs, program_args: &[String]) -> Result<ExitCode, Error> {
    let image = build_image(args)?.path;
    let status = Cmd::new(&image)
        .display_as(util::display_path(&image))
        .args(program_args.iter().cloned())
        .status()?;
    Ok(ExitCode::from(util::shell_exit_code(status)))
}

/// Builds the image and prints its path and size (and its stripped copy's, for a bare-metal
/// release build).
pub fn build_image(args: &BuildArgs) -> Result<Image, Error> {
    build_image_with(args, &[])
}

/// [`build_image`] with cargo features turned on (`--features A,B`), such as `morgana/xen`.
pub fn build_image_with(args: &BuildArgs, features: &[&str]) -> Result<Image, Error> {
    let elf = match args.arch {
        None => build_hosted(args, features)?,
        Some(arch) => build_bare_metal(arch, args, features)?,
    };
    let bytes = file_size(&elf)?;
    eprintln!("image: {}", describe_file(&elf, bytes));
    if args.arch.is_some()
        && let Some(code) = std::fs::read(&elf)
            .ok()
            .and_then(|elf| crate::bench::executable_bytes(&elf))
    {
        // The measure of the size goal (`bench vs-linux`): code, without data or the site.
        eprintln!(
            "code: {code} bytes ({:.1} KiB) of executable sections",
            code as f64 / 1024.0
        );
    }
    if args.arch == Some(Arch::Aarch64) {
        // What boots is the raw Image (no symbols to strip); the ELF is what a debugger loads.
        let path = arm64::write_image(&elf)?;
        let bytes = file_size(&path)?;
        eprintln!("arm64 Image: {}", describe_file(&path, bytes));
        return Ok(Image { path, elf, bytes });
    }
    let stripped = match args.arch {
        Some(_) if args.release => strip(&elf)?,
        _ => None,
    };
    Ok(match stripped {
        Some(path) => {
            let bytes = file_size(&path)?;
            Image { path, elf, bytes }
        }
        None => Image {
            path: elf.clone(),
            elf,
            bytes,
        },
    })
}

/// `target/x86_64-unknown-none/release/hello (81234 bytes, 79.3 KiB)`.
fn describe_file(path: &Path, bytes: u64) -> String {
    let kib = bytes as f64 / 1024.0;
    format!("{} ({bytes} bytes, {kib:.1} KiB)", util::display_path(path))
}

fn file_size(path: &Path) -> Result<u64, Error> {
    Ok(std::fs::metadata(path)
        .map_err(|err| Error::new(format!("cannot read {}: {err}", path.display())))?
        .len())
}

/// The hosted flavour: `cargo build -p NAME`, a Linux process at `target/<profile>/NAME`.
fn build_hosted(args: &BuildArgs, features: &[&str]) -> Result<PathBuf, Error> {
    let file_name = format!("{}{}", args.appliance, std::env::consts::EXE_SUFFIX);
    cargo_build(args, None, &file_name, features)
}

/// A bare-metal image: `cargo build -p NAME --target <arch>-unknown-none`, an ELF at
/// `target/<target>/<profile>/NAME`. QEMU boots the x86_64 ELF with `-kernel` (PVH); the
/// AArch64 ELF becomes an arm64 Image next to it (see `build_image`).
fn build_bare_metal(arch: Arch, args: &BuildArgs, features: &[&str]) -> Result<PathBuf, Error> {
    cargo_build(args, Some(arch.target()), &args.appliance, features)
}

/// Runs `cargo build -p NAME [--target TARGET] [--release] [--features F]` and returns the
/// path of the binary.
fn cargo_build(
    args: &BuildArgs,
    target: Option<&str>,
    file_name: &str,
    features: &[&str],
) -> Result<PathBuf, Error> {
    let mut cargo = Cmd::cargo().args(["build", "-p", &args.appliance]);
    if !features.is_empty() {
        cargo = cargo.args(["--features", &features.join(",")]);
    }
    if let Some(dir) = SITE_DIR.get() {
        cargo = cargo.env("MORGANA_SITE_DIR", &dir.to_string_lossy());
    }
    if let Some(target) = target {
        cargo = cargo.args(["--target", target]);
    }
    if args.release {
        cargo = cargo.arg("--release");
    }
    cargo.run()?;
    let profile = if args.release { "release" } else { "debug" };
    let mut dir = util::target_dir();
    if let Some(target) = target {
        dir.push(target);
    }
    let image = dir.join(profile).join(file_name);
    if !image.is_file() {
        return Err(Error::new(format!(
            "cargo built `{}` but {} does not exist; does the package have a binary named `{}`?",
            args.appliance,
            util::display_path(&image),
            args.appliance,
        )));
    }
    Ok(image)
}

/// Writes `<elf>.stripped` with `--strip-all` and prints its size; `None` (and says so) when no
/// objcopy is installed.
fn strip(elf: &Path) -> Result<Option<PathBuf>, Error> {
    let Some((objcopy, name)) = find_objcopy() else {
        eprintln!(
            "stripped: not made: neither rust-objcopy (in the Rust toolchain) nor objcopy \
             (binutils) was found; the size above is the unstripped image's"
        );
        return Ok(None);
    };
    let mut stripped = elf.as_os_str().to_owned();
    stripped.push(".stripped");
    let stripped = PathBuf::from(stripped);
    // LLVM's objcopy also drops the section headers (and their names): loaders go by the
    // program headers, the PVH/Xen note included (PT_NOTE). Binutils' objcopy has no such
    // option.
    let flags: &[&str] = if name == "rust-objcopy" {
        &["--strip-all", "--strip-sections"]
    } else {
        &["--strip-all"]
    };
    Cmd::new(&objcopy)
        .display_as(name)
        .args(flags.iter().copied())
        .arg(util::display_path(elf))
        .arg(util::display_path(&stripped))
        .run()?;
    let bytes = file_size(&stripped)?;
    eprintln!(
        "stripped: {} by {name} {}",
        describe_file(&stripped, bytes),
        flags.join(" ")
    );
    Ok(Some(stripped))
}

/// `rust-objcopy` from the toolchain's sysroot (rustc ships it), else binutils' `objcopy`.
fn find_objcopy() -> Option<(PathBuf, &'static str)> {
    let rustc = |arg: &str| {
        let output = std::process::Command::new("rustc")
            .args(arg.split(' '))
            .current_dir(util::workspace_root())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let from_toolchain = rustc("--print sysroot").and_then(|sysroot| {
        let version = rustc("-vV")?;
        let host = version
            .lines()
            .find_map(|line| line.strip_prefix("host: "))?;
        let path = Path::new(&sysroot)
            .join("lib/rustlib")
            .join(host.trim())
            .join("bin/rust-objcopy");
        path.is_file().then_some(path)
    });
    match from_toolchain {
        Some(path) => Some((path, "rust-objcopy")),
        None => util::which("objcopy").map(|path| (path, "objcopy")),
    }
}
