//! Running xtask and appliances from tests: `cargo xtask ...` in `target/e2e` in a process group
//! of its own (killed whole, QEMU included, if a test gives up), and hosted appliances built
//! there.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// `cargo xtask ARGS` in `target/e2e` (the outer `cargo test` holds `target/`), in its own
/// process group.
pub fn xtask_command(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace())
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(args)
        .env("CARGO_TARGET_DIR", workspace().join("target").join("e2e"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    command
}

/// Why emulator `qemu` (e.g. `qemu-system-x86_64`) cannot run here, if it cannot.
pub fn qemu_unavailable(qemu: &str) -> Option<String> {
    match Command::new(qemu).arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some(format!(
            "{qemu} is not installed (`cargo xtask install-qemu`)"
        )),
    }
}

/// A running xtask, killed with everything it started if dropped before [`Xtask::wait`].
#[derive(Debug)]
pub struct Xtask {
    child: Option<Child>,
    output: mpsc::Receiver<(String, String)>,
}

/// What a finished xtask printed.
#[derive(Debug)]
pub struct Finished {
    /// How xtask exited.
    pub status: ExitStatus,
    /// Its standard output: the guest's console.
    pub console: String,
    /// Its standard error.
    pub stderr: String,
}

impl Finished {
    /// Everything, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "{}\n--- console ---\n{}\n--- stderr ---\n{}",
            self.status, self.console, self.stderr
        )
    }
}

impl Xtask {
    /// Starts `cargo xtask ARGS`.
    pub fn spawn(args: &[&str]) -> Xtask {
        let mut child = xtask_command(args).spawn().expect("cargo runs");
        let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (send, output) = mpsc::channel();
        thread::spawn(move || {
            let errors = thread::spawn(move || {
                let mut text = Vec::new();
                let _ = stderr.read_to_end(&mut text);
                String::from_utf8_lossy(&text).into_owned()
            });
            let mut text = Vec::new();
            let _ = stdout.read_to_end(&mut text);
            let stderr = errors.join().unwrap_or_default();
            let _ = send.send((String::from_utf8_lossy(&text).into_owned(), stderr));
        });
        Xtask {
            child: Some(child),
            output,
        }
    }

    /// Waits for xtask to finish; after `limit`, kills it (and QEMU) and panics.
    pub fn wait(mut self, limit: Duration) -> Finished {
        let received = self.output.recv_timeout(limit);
        let mut child = self.child.take().expect("waited once");
        let Ok((console, stderr)) = received else {
            kill_group(&child);
            let _ = child.wait();
            panic!("xtask did not finish within {limit:?}");
        };
        let status = child.wait().expect("xtask is waited for");
        Finished {
            status,
            console,
            stderr,
        }
    }

    /// Kills xtask and QEMU and returns what they printed, for a failure message.
    pub fn abort(mut self) -> String {
        let mut child = self.child.take().expect("aborted once");
        kill_group(&child);
        let _ = child.wait();
        match self.output.recv_timeout(Duration::from_secs(10)) {
            Ok((console, stderr)) => {
                format!("--- console ---\n{console}\n--- stderr ---\n{stderr}")
            }
            Err(_) => "(no output)".into(),
        }
    }
}

impl Drop for Xtask {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            kill_group(child);
            let _ = child.wait();
        }
    }
}

/// Kills the process group `child` leads (cargo, xtask, ip netns exec and QEMU).
pub fn kill_group(child: &Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
}

/// Builds appliance `name`'s hosted flavour (`--release` when `release`) in `target/e2e` (the
/// outer `cargo test` holds the main target directory) and returns the binary's path.
pub fn build_hosted(name: &str, release: bool) -> PathBuf {
    let target = workspace().join("target").join("e2e");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace())
        .args(["build", "--quiet", "-p", name, "--target-dir"])
        .arg(&target);
    if release {
        command.arg("--release");
    }
    let status = command.status().expect("cargo runs");
    assert!(status.success(), "building {name} failed");
    target
        .join(if release { "release" } else { "debug" })
        .join(name)
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one xtask subprocess left behind.
#[derive(Debug)]
pub struct Run {
    /// The command, for messages.
    pub command: String,
    /// How it exited.
    pub status: ExitStatus,
    /// xtask's stdout: the guest's console, each line with the time it arrived.
    pub lines: Vec<(Instant, String)>,
    /// xtask's own messages, and cargo's.
    pub stderr: String,
    /// Whether we killed it at its limit.
    pub killed: Option<Duration>,
}

impl Run {
    /// Its exit code.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The console, lines joined.
    pub fn console(&self) -> String {
        let lines: Vec<&str> = self.lines.iter().map(|(_, line)| line.as_str()).collect();
        lines.join("\n")
    }

    /// When the first console line containing `text` arrived.
    pub fn arrival(&self, text: &str) -> Option<Instant> {
        self.lines
            .iter()
            .find(|(_, line)| line.contains(text))
            .map(|(at, _)| *at)
    }

    /// Everything about the run, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}`: {}\n--- console ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.console(),
            self.stderr
        )
    }
}

/// Runs `cargo xtask ARGS` in `target/e2e`; after `limit`, kills it and everything it started.
pub fn xtask(args: &[&str], limit: Duration) -> Run {
    xtask_answering(args, limit, None)
}

/// [`xtask`], and when a console line contains `prompt.0`, writes `prompt.1` to its stdin (the
/// guest's serial input).
pub fn xtask_answering(
    args: &[&str],
    limit: Duration,
    prompt: Option<(&'static str, &'static [u8])>,
) -> Run {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let command = format!("cargo xtask {}", args.join(" "));
    let mut child = Command::new(cargo)
        .current_dir(workspace())
        .args(["run", "--quiet", "--package", "xtask", "--"])
        .args(args)
        .env("CARGO_TARGET_DIR", workspace().join("target").join("e2e"))
        .stdin(if prompt.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that cargo, xtask and QEMU can be killed together.
        .process_group(0)
        .spawn()
        .expect("cargo runs");
    let (stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let mut stdin = child.stdin.take();
    let (closed, stdout_closed) = mpsc::channel();
    let lines = thread::spawn(move || {
        let lines = timed_lines(stdout, |line| {
            if let (Some((text, reply)), Some(input)) = (prompt, stdin.as_mut())
                && line.contains(text)
            {
                use std::io::Write;
                let _ = input.write_all(reply);
                let _ = input.flush();
            }
        });
        let _ = closed.send(());
        lines
    });
    let errors = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let start = Instant::now();
    let killed = match stdout_closed.recv_timeout(limit) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            kill_group(&child);
            Some(start.elapsed())
        }
        _ => None,
    };
    let status = child.wait().expect("cargo is waited for");
    Run {
        command,
        status,
        lines: lines.join().expect("the console reader finishes"),
        stderr: errors.join().expect("the stderr reader finishes"),
        killed,
    }
}

/// Reads lines (without their `\r\n`) and when each arrived, until the pipe closes; `seen`
/// is called with each line as it arrives.
pub fn timed_lines(from: impl Read, mut seen: impl FnMut(&str)) -> Vec<(Instant, String)> {
    let mut reader = BufReader::new(from);
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']).to_owned();
        seen(&text);
        lines.push((Instant::now(), text));
        line.clear();
    }
    lines
}

/// A port on 127.0.0.1 that is free for both TCP and UDP right now, for a QEMU host forward.
/// The kernel picks it from the ephemeral range (at random), so tests running at the same time
/// (or other programs) do not collide the way fixed port numbers did.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a TCP port on loopback");
        let port = tcp.local_addr().expect("its address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
