//! Shared plumbing: the error type, running external commands, and workspace paths.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::Duration;

/// Exit code for bad usage and for features that do not exist yet.
pub const EXIT_USAGE: u8 = 2;

/// A failure that ends the task: a message for the user and the process exit code.
#[derive(Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
    code: u8,
}

impl Error {
    /// A task failed (exit code 1).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// The command line was wrong, or asked for something unsupported (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::with_code(message, EXIT_USAGE)
    }

    /// A failure with an exit code of its own, e.g. run-qemu's "QEMU failed" (70).
    pub fn with_code(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: message.into(),
            code,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    #[cfg(test)]
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The workspace root: xtask lives at `<root>/xtask`.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set (relative to the root), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Where `program` is on the `PATH`, if it is.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `path` relative to the workspace root when it lies inside it, for shorter messages.
pub fn display_path(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// An external command that echoes itself (`$ cargo ...`) before running in the workspace root.
#[derive(Debug)]
pub struct Cmd {
    /// How the program is shown in the echo and in errors.
    name: String,
    command: Command,
    /// Printed environment assignments, shown before the program name.
    env: Vec<String>,
    args: Vec<String>,
    /// What to install when the program cannot be found.
    install_hint: Option<String>,
    /// Whether to print the command line before running it.
    echo: bool,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        let mut command = Command::new(program);
        command.current_dir(workspace_root());
        Self {
            name: program.to_string_lossy().into_owned(),
            command,
            env: Vec::new(),
            args: Vec::new(),
            install_hint: None,
            echo: true,
        }
    }

    /// The same `cargo` that runs xtask (`$CARGO`), falling back to `cargo` on the `PATH`.
    pub fn cargo() -> Self {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut cmd =
            Self::new(program).install_hint("install Rust with rustup: https://rustup.rs");
        cmd.name = "cargo".to_owned();
        cmd
    }

    /// Shows `name` instead of the program path in the echo and in errors.
    pub fn display_as(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Added to the error when the program cannot be found, e.g. what to install.
    pub fn install_hint(mut self, hint: impl Into<String>) -> Self {
        self.install_hint = Some(hint.into());
        self
    }

    /// Does not print the command line before running it.
    pub fn quiet(mut self) -> Self {
        self.echo = false;
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        let arg = arg.into();
        self.command.arg(&arg);
        self.args.push(arg);
        self
    }

    pub fn args<I, S>(self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        args.into_iter().fold(self, Self::arg)
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self.env.push(format!("{key}={}", quote(value)));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// The command line as echoed, e.g. `KEY=1 cargo test --workspace`.
    pub fn command_line(&self) -> String {
        let program = std::iter::once(quote(&self.name));
        let args = self.args.iter().map(|arg| quote(arg));
        self.env
            .iter()
            .cloned()
            .chain(program)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs with inherited stdio and returns how it exited.
    pub fn status(mut self) -> Result<ExitStatus, Error> {
        self.echo_line();
        self.command.status().map_err(|err| self.spawn_error(&err))
    }

    /// Starts the program with the given stdio and returns at once.
    pub fn spawn(mut self, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Result<Child, Error> {
        self.echo_line();
        self.command
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|err| self.spawn_error(&err))
    }

    fn echo_line(&self) {
        if self.echo {
            eprintln!("$ {}", self.command_line());
        }
    }

    /// Runs with inherited stdio; a non-zero exit is an error.
    pub fn run(self) -> Result<(), Error> {
        let line = self.command_line();
        let status = self.status()?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "`{line}` failed ({})",
                describe(status)
            )))
        }
    }

    /// Runs silently except for the echo and stderr, returning stdout; a non-zero exit is an error.
    pub fn stdout(mut self) -> Result<String, Error> {
        let line = self.command_line();
        self.echo_line();
        let output = self.command.stderr(std::process::Stdio::inherit()).output();
        let output = output.map_err(|err| self.spawn_error(&err))?;
        if !output.status.success() {
            return Err(Error::new(format!(
                "`{line}` failed ({})",
                describe(output.status)
            )));
        }
        String::from_utf8(output.stdout)
            .map_err(|_| Error::new(format!("`{line}` printed output that is not UTF-8")))
    }

    fn spawn_error(&self, err: &io::Error) -> Error {
        if err.kind() == io::ErrorKind::NotFound {
            let hint = self
                .install_hint
                .as_ref()
                .map(|hint| format!("; {hint}"))
                .unwrap_or_default();
            Error::new(format!("`{}` not found{hint}", self.name))
        } else {
            Error::new(format!("could not run `{}`: {err}", self.name))
        }
    }
}

/// The exit code a shell would report for `status`: the code itself, or 128 + signal.
pub fn shell_exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(1);
        }
    }
    1
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("killed, exit code {}", shell_exit_code(status)),
    }
}

/// Quotes `word` for display when a shell would need it.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `1.2s`, `340ms`, or `2m05s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 1.0 {
        format!("{}ms", duration.as_millis())
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Whether we run as root, by `id -u`.
pub fn is_root() -> Result<bool, Error> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|err| Error::new(format!("could not run `id -u`: {err}")))?;
    Ok(output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_only_when_needed() {
        let cmd = Cmd::new("/usr/bin/cargo")
            .display_as("cargo")
            .env("MORGANA_TEST_FULL", "1")
            .args(["test", "--workspace", "a b", "it's"]);
        assert_eq!(
            cmd.command_line(),
            r"MORGANA_TEST_FULL=1 cargo test --workspace 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(340)), "340ms");
        assert_eq!(format_duration(Duration::from_millis(1260)), "1.3s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
