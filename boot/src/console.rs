//! The console: the running platform's, or the process's stdout before an executor runs.

use alloc::string::String;
use core::fmt::{self, Write};

use morgana_executor::executor::try_with_platform;

/// Writes `bytes` to the console.
pub fn write(bytes: &[u8]) {
    if try_with_platform(|p| p.console_write(bytes)).is_none() {
        early_write(bytes);
    }
}

/// Formats `args` and writes them in one piece (what `morgana::print!` expands to).
pub fn print(args: fmt::Arguments<'_>) {
    match args.as_str() {
        Some(s) => write(s.as_bytes()),
        None => {
            let mut s = String::new();
            let _ = s.write_fmt(args);
            write(s.as_bytes());
        }
    }
}

/// Output before (or after) the executor runs.
#[cfg(not(target_os = "none"))]
fn early_write(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// Bare metal: the shim's own console (COM1 on x86_64, the PL011 on AArch64), up before the
/// executor.
#[cfg(all(
    target_os = "none",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn early_write(bytes: &[u8]) {
    crate::arch::early_write(bytes);
}

/// Another bare-metal architecture has no console before the executor.
#[cfg(all(
    target_os = "none",
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
fn early_write(_bytes: &[u8]) {}
