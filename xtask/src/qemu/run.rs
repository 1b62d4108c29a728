//! Running QEMU: the console streamed and kept, a deadline, and QEMU's exit status mapped back
//! to the appliance's exit code.

use std::fmt;
use std::io::{self, Read, Write};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{EXIT_NO_EXIT_CODE, EXIT_QEMU_FAILED, EXIT_TIMED_OUT};
use crate::util::{self, Cmd, Error};

/// How to run QEMU.
#[derive(Debug)]
pub struct RunOptions {
    /// Copy the console to our stdout as it comes.
    pub echo_console: bool,
    /// Let QEMU read our stdin (the serial console's input); otherwise it reads nothing.
    pub interactive: bool,
    /// Kill QEMU after this long.
    pub timeout: Option<Duration>,
    /// Catch SIGINT, SIGTERM and SIGHUP while QEMU runs, stop QEMU (a terminal's Ctrl-C
    /// reaches it anyway) and return, so that the caller can clean up.
    pub stop_on_signal: bool,
}

/// A finished QEMU run.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    /// Everything the guest wrote to its serial console.
    pub console: Vec<u8>,
    /// What QEMU wrote to its stderr.
    pub stderr: String,
    /// From spawning QEMU to its exit.
    pub elapsed: Duration,
    /// Whether we killed QEMU at the deadline.
    pub timed_out: bool,
    /// Whether a signal stopped the run ([`RunOptions::stop_on_signal`]).
    pub interrupted: bool,
}

impl Run {
    pub fn outcome(&self) -> Outcome {
        if self.timed_out {
            return Outcome::TimedOut;
        }
        outcome(self.status.code(), !self.console.is_empty(), &self.stderr)
    }

    pub fn console_text(&self) -> String {
        String::from_utf8_lossy(&self.console).into_owned()
    }
}

/// Runs QEMU to its end (or the deadline), streaming the console if asked, and keeps its console
/// and stderr.
pub fn run(cmd: Cmd, options: &RunOptions) -> Result<Run, Error> {
    let stdin = if options.interactive {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let start = Instant::now();
    let mut child = cmd.spawn(stdin, Stdio::piped(), Stdio::piped())?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("both are piped");
    };
    let (closed, console_closed) = mpsc::channel();
    let echo = options.echo_console;
    let console = thread::spawn(move || {
        let console = copy_console(stdout, echo);
        let _ = closed.send(());
        console
    });
    let errors = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    if options.stop_on_signal {
        signals::catch();
    }
    // The console pipe closes when QEMU exits; waiting for that rather than polling the child
    // lets us kill it at the deadline while we still own it. With signals caught, we look at
    // them every [`signals::POLL`].
    let mut interrupted = false;
    let timed_out = loop {
        let left = options
            .timeout
            .map(|limit| limit.saturating_sub(start.elapsed()));
        let wait = match (left, options.stop_on_signal) {
            (Some(left), true) => left.min(signals::POLL),
            (Some(left), false) => left,
            (None, true) => signals::POLL,
            (None, false) => Duration::MAX,
        };
        match console_closed.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => break false,
        }
        if options.stop_on_signal && signals::caught() {
            interrupted = true;
            signals::terminate(&child);
            let _ = console_closed.recv_timeout(Duration::from_secs(5));
            let _ = child.kill();
            break false;
        }
        if left.is_some_and(|left| left <= wait) {
            let _ = child.kill();
            break true;
        }
    };
    // A terminal's Ctrl-C reaches QEMU too, which may exit before we look at the flag.
    let interrupted = interrupted || (options.stop_on_signal && signals::caught());
    let status = child
        .wait()
        .map_err(|err| Error::new(format!("waiting for QEMU failed: {err}")))?;
    let elapsed = start.elapsed();
    let console = console.join().unwrap_or_default();
    let stderr = errors.join().unwrap_or_default();
    Ok(Run {
        status,
        console,
        stderr,
        elapsed,
        timed_out,
        interrupted,
    })
}

/// Catching SIGINT, SIGTERM and SIGHUP: the handler only raises a flag that the run loop
/// reads. Caught signals are reset to their default in the programs we start.
mod signals {
    use std::process::Child;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// How often the run loop looks at the flag.
    pub const POLL: Duration = Duration::from_millis(100);

    static CAUGHT: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_signal: libc::c_int) {
        CAUGHT.store(true, Ordering::SeqCst);
    }

    /// Installs the handler (again: it stays installed for the rest of the process).
    pub fn catch() {
        let handler: extern "C" fn(libc::c_int) = on_signal;
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe { libc::signal(signal, handler as libc::sighandler_t) };
        }
    }

    pub fn caught() -> bool {
        CAUGHT.load(Ordering::SeqCst)
    }

    /// Asks `child` to stop (SIGTERM), as a terminal's Ctrl-C would.
    pub fn terminate(child: &Child) {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill has no memory-safety preconditions; `pid` is our unwaited child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// Reads the console until QEMU closes it, copying each chunk to our stdout as it arrives.
fn copy_console(mut from: impl Read, mut echo: bool) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => return kept,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return kept,
        };
        let chunk = &buffer[..read];
        kept.extend_from_slice(chunk);
        if echo {
            let mut stdout = io::stdout().lock();
            // Keep the console even when our own stdout has gone away.
            echo = stdout
                .write_all(chunk)
                .and_then(|()| stdout.flush())
                .is_ok();
        }
    }
}

/// What a QEMU run amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The appliance wrote this exit code to isa-debug-exit.
    Exited(u8),
    /// The guest powered off or reset another way (QEMU exited 0 after the guest ran).
    NoExitCode,
    /// QEMU itself failed: it could not start, crashed, or was killed.
    QemuFailed,
    /// We killed QEMU at the deadline.
    TimedOut,
}

impl Outcome {
    /// `run-qemu`'s exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Exited(code) => code,
            Self::NoExitCode => EXIT_NO_EXIT_CODE,
            Self::QemuFailed => EXIT_QEMU_FAILED,
            Self::TimedOut => EXIT_TIMED_OUT,
        }
    }

    /// `run-qemu`'s error for anything but [`Outcome::Exited`].
    pub fn error(self, run: &Run) -> Option<Error> {
        let message = match self {
            Self::Exited(_) => return None,
            Self::NoExitCode => "the guest stopped without an exit code (it powered off or reset \
                                 instead of writing one to isa-debug-exit)"
                .to_owned(),
            Self::QemuFailed => {
                let stderr = if run.stderr.trim().is_empty() {
                    " and printed nothing on stderr".to_owned()
                } else {
                    format!("; its stderr:\n{}", run.stderr.trim_end())
                };
                format!("QEMU failed ({}){stderr}", describe(run.status))
            }
            Self::TimedOut => format!(
                "QEMU timed out: killed it after {}",
                util::format_duration(run.elapsed)
            ),
        };
        Some(Error::with_code(message, self.exit_code()))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "appliance exited with code {code}"),
            Self::NoExitCode => f.write_str("guest stopped without an exit code"),
            Self::QemuFailed => f.write_str("QEMU failed"),
            Self::TimedOut => f.write_str("QEMU timed out"),
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("killed by a signal, {status}"),
    }
}

/// Maps QEMU's exit status back to the appliance's exit code.
///
/// isa-debug-exit makes QEMU exit with `(c << 1) | 1`, so an odd status `s` is the appliance's
/// code `(s - 1) / 2`. QEMU's own failures exit with 1 as well, though: status 1 is a failure
/// when the guest printed nothing and QEMU printed an error (not just warnings). Status 0 is a
/// guest that stopped another way if it ran (printed something), else QEMU failing. Other even
/// statuses and signals are QEMU failing.
pub fn outcome(code: Option<i32>, guest_ran: bool, stderr: &str) -> Outcome {
    let qemu_error = stderr
        .lines()
        .any(|line| !line.trim().is_empty() && !line.contains("warning:"));
    match code {
        Some(1) if !guest_ran && qemu_error => Outcome::QemuFailed,
        Some(0) if guest_ran => Outcome::NoExitCode,
        Some(status @ 1..=255) if status % 2 == 1 => match u8::try_from((status - 1) / 2) {
            Ok(code) => Outcome::Exited(code),
            Err(_) => Outcome::QemuFailed,
        },
        _ => Outcome::QemuFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_maps_back_to_the_appliance_code() {
        assert_eq!(outcome(Some(1), true, ""), Outcome::Exited(0));
        assert_eq!(outcome(Some(3), true, ""), Outcome::Exited(1));
        assert_eq!(outcome(Some(255), true, ""), Outcome::Exited(127));
        // A guest may exit 0 without printing anything (the bench's floor image does).
        assert_eq!(outcome(Some(1), false, ""), Outcome::Exited(0));
        let warning = "qemu-system-x86_64: warning: TCG doesn't support requested feature\n";
        assert_eq!(outcome(Some(1), false, warning), Outcome::Exited(0));
        assert_eq!(outcome(Some(5), false, warning), Outcome::Exited(2));
    }

    #[test]
    fn qemu_failures_and_silent_stops_are_told_apart() {
        let error = "qemu-system-x86_64: -kernel nope: No such file or directory\n";
        assert_eq!(outcome(Some(1), false, error), Outcome::QemuFailed);
        // Once the guest has run, status 1 is its exit code 0 whatever QEMU printed.
        assert_eq!(outcome(Some(1), true, error), Outcome::Exited(0));
        assert_eq!(outcome(Some(0), true, ""), Outcome::NoExitCode);
        assert_eq!(outcome(Some(0), false, ""), Outcome::QemuFailed);
        assert_eq!(outcome(Some(2), true, ""), Outcome::QemuFailed);
        assert_eq!(outcome(Some(256), true, ""), Outcome::QemuFailed);
        assert_eq!(outcome(Some(-1), true, ""), Outcome::QemuFailed);
        assert_eq!(outcome(None, true, ""), Outcome::QemuFailed);
    }

    #[test]
    fn console_is_kept_whole() {
        let text = b"Hello from Morgana\nno newline at the end".repeat(500);
        assert_eq!(copy_console(&text[..], false), text);
    }

    fn quiet_options(timeout: Option<Duration>) -> RunOptions {
        RunOptions {
            echo_console: false,
            interactive: false,
            timeout,
            stop_on_signal: false,
        }
    }

    #[test]
    fn a_run_keeps_console_and_stderr_and_maps_the_status() {
        let cmd = Cmd::new("sh")
            .quiet()
            .args(["-c", "printf 'boot\\nbye'; echo oops >&2; exit 7"]);
        let run = run(cmd, &quiet_options(Some(Duration::from_secs(30)))).unwrap();
        assert_eq!(run.console_text(), "boot\nbye");
        assert_eq!(run.stderr, "oops\n");
        assert_eq!(run.outcome(), Outcome::Exited(3));
        assert!(!run.timed_out);
    }

    #[test]
    fn a_run_is_killed_at_its_deadline() {
        let cmd = Cmd::new("sh")
            .quiet()
            .args(["-c", "echo started; exec sleep 30"]);
        let run = run(cmd, &quiet_options(Some(Duration::from_millis(300)))).unwrap();
        assert!(run.timed_out);
        assert_eq!(run.outcome(), Outcome::TimedOut);
        assert_eq!(run.console_text(), "started\n");
        assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
        let error = run.outcome().error(&run).unwrap();
        assert!(error.to_string().starts_with("QEMU timed out"), "{error}");
        assert_eq!(error.code(), EXIT_TIMED_OUT);
    }
}
