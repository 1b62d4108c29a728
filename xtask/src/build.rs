//! `build` and `run-hosted`: compile an appliance and find its image.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::util::{self, Cmd, Error};

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
}

/// What to build: `--appliance NAME [--release] [--arch ARCH]`.
#[derive(Debug, PartialEq, Eq)]
pub struct BuildArgs {
    pub appliance: String,
    pub release: bool,
    /// `None` builds the hosted flavour, a Linux process.
    pub arch: Option<Arch>,
}

/// `cargo xtask build`: builds the image and reports where it is and how big.
pub fn build(args: &BuildArgs) -> Result<ExitCode, Error> {
    build_image(args)?;
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask run-hosted`: builds the hosted image, runs it, and exits as it did.
pub fn run_hosted(args: &BuildArgs, program_args: &[String]) -> Result<ExitCode, Error> {
    let image = build_image(args)?;
    let status = Cmd::new(&image)
        .display_as(util::display_path(&image))
        .args(program_args.iter().cloned())
        .status()?;
    Ok(ExitCode::from(util::shell_exit_code(status)))
}

/// Builds the image and prints its path and size; returns the path.
fn build_image(args: &BuildArgs) -> Result<PathBuf, Error> {
    let image = match args.arch {
        None => build_hosted(args)?,
        Some(arch) => build_bare_metal(arch, args)?,
    };
    let bytes = std::fs::metadata(&image)
        .map_err(|err| Error::new(format!("cannot read {}: {err}", image.display())))?
        .len();
    let kib = bytes as f64 / 1024.0;
    eprintln!(
        "image: {} ({bytes} bytes, {kib:.1} KiB)",
        util::display_path(&image)
    );
    Ok(image)
}

/// The hosted flavour: `cargo build -p NAME`, a Linux process at `target/<profile>/NAME`.
fn build_hosted(args: &BuildArgs) -> Result<PathBuf, Error> {
    let mut cargo = Cmd::cargo().args(["build", "-p", &args.appliance]);
    if args.release {
        cargo = cargo.arg("--release");
    }
    cargo.run()?;
    let profile = if args.release { "release" } else { "debug" };
    let file_name = format!("{}{}", args.appliance, std::env::consts::EXE_SUFFIX);
    let image = util::target_dir().join(profile).join(file_name);
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

/// Bare-metal images: not yet. The x86_64 PVH boot issue replaces this function.
fn build_bare_metal(_arch: Arch, _args: &BuildArgs) -> Result<PathBuf, Error> {
    Err(Error::usage(
        "bare-metal images arrive with the x86_64 PVH boot issue; use the hosted build for now",
    ))
}
