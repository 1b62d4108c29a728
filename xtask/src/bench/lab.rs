//! The bench lab: a network namespace of our own with the server under test on a TAP device in
//! it (QEMU's, or the hosted platform's), the Linux kernel at [`PEER`] on the other side, and
//! the load generators running inside the namespace too. Shared by `bench http` and
//! `bench vs-linux`.
//!
//! Servers are spawned from a thread that has entered the namespace (no `ip netns exec` in
//! between): the child's process id is QEMU's own, so its CPU time can be read, and the time
//! from spawn to first response carries no extra exec. The guest's MAC address is fixed and
//! written into the namespace's neighbour table for good, so the first SYN needs no ARP round
//! (Linux retries an unanswered ARP only once a second, which would blur boot times).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use morgana_tests::netns::{self, GUEST, Netns, PEER, PREFIX, TAP};

use crate::qemu::{self, Machine, Net};

/// The guest NIC's MAC address, on QEMU's command line and in the neighbour table.
pub const GUEST_MAC: &str = "52:54:00:12:34:56";

/// The web site's address inside the namespace.
pub fn site() -> SocketAddrV4 {
    SocketAddrV4::new(GUEST, 80)
}

/// QEMU's NIC on the lab's TAP for `machine`, with [`GUEST_MAC`].
pub fn nic_args(machine: Machine) -> Vec<String> {
    let mut args = qemu::nic_args(machine, Net::Tap, &[], None);
    if let Some(device) = args.last_mut() {
        device.push_str(&format!(",mac={GUEST_MAC}"));
    }
    args
}

/// The site's kernel command line on the lab's TAP: no access log.
pub fn append() -> String {
    format!("{} access_log=off", Net::Tap.default_cmdline())
}

/// One namespace, deleted (with its TAP) when dropped.
#[derive(Debug)]
pub struct Lab {
    pub ns: Netns,
}

impl Lab {
    /// A namespace with TAP [`TAP`] at [`PEER`] for a QEMU to open, and the guest's MAC in
    /// the neighbour table.
    pub fn with_tap(prefix: &str) -> Result<Lab, String> {
        let ns = Netns::create(&netns::unique_name(prefix))?;
        ns.add_tap()?;
        let guest = GUEST.to_string();
        ns.ip(&[
            "neigh",
            "replace",
            &guest,
            "lladdr",
            GUEST_MAC,
            "dev",
            TAP,
            "nud",
            "permanent",
        ])?;
        Ok(Lab { ns })
    }

    /// Sets the TAP's transmit queue (Linux to the guest) to `packets`. While the guest boots
    /// its NIC reads nothing, so every SYN the probers send waits there and reaches the guest
    /// in one burst when its driver comes up; a short queue keeps that burst from being part
    /// of what a boot measures. Load runs want the default 1000 back.
    pub fn set_txqueuelen(&self, packets: u32) -> Result<(), String> {
        self.ns
            .ip(&["link", "set", TAP, "txqueuelen", &packets.to_string()])
            .map(drop)
    }

    /// An empty namespace, for a hosted appliance that creates its own TAP inside it
    /// ([`Lab::adopt_tap`]).
    pub fn empty(prefix: &str) -> Result<Lab, String> {
        Ok(Lab {
            ns: Netns::create(&netns::unique_name(prefix))?,
        })
    }

    /// Waits for interface `ifname` (made by a process spawned here), then gives it the
    /// [`PEER`] address and brings it up.
    pub fn adopt_tap(&self, ifname: &str, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        while self.ns.ip(&["link", "show", ifname]).is_err() {
            if start.elapsed() > limit {
                return Err(format!("no interface {ifname} in {}", self.ns.name()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let peer = format!("{PEER}/{PREFIX}");
        self.ns.ip(&["addr", "add", &peer, "dev", ifname])?;
        self.ns.ip(&["link", "set", ifname, "up"])?;
        Ok(())
    }

    /// Starts `program` inside the namespace, its stdout and stderr to `log`.
    pub fn spawn(&self, program: &Path, args: &[String], log: &Path) -> Result<Server, String> {
        let file = File::create(log).map_err(|err| format!("{}: {err}", log.display()))?;
        let err_file = file
            .try_clone()
            .map_err(|err| format!("{}: {err}", log.display()))?;
        let (program, args) = (program.to_path_buf(), args.to_vec());
        let shown = program.display().to_string();
        let (child, started) = self
            .ns
            .run(move || {
                let started = Instant::now();
                Command::new(&program)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(file)
                    .stderr(err_file)
                    .spawn()
                    .map(|child| (child, started))
            })?
            .map_err(|err| format!("{shown}: {err}"))?;
        Ok(Server {
            child,
            started,
            log: log.to_path_buf(),
        })
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        self.ns.run(f)
    }

    /// The time from `server`'s spawn to its first whole `200` answer to `GET /`, polling
    /// with overlapping connection attempts (a new SYN about every millisecond) until `limit`.
    pub fn first_response(&self, server: &mut Server, limit: Duration) -> Result<Duration, String> {
        self.first_response_with(server, limit, PROBERS, PROBE_TIMEOUT)
    }

    /// As [`Lab::first_response`], with one prober retrying every 250 ms: few SYNs wait in
    /// the TAP's queue for the guest to come up (each one it then accepts costs it memory),
    /// so this asks whether the guest serves rather than when.
    pub fn serves(&self, server: &mut Server, limit: Duration) -> Result<Duration, String> {
        self.first_response_with(server, limit, 1, Duration::from_millis(250))
    }

    /// [`Lab::first_response`] with `probers` probers retrying every `timeout`.
    pub fn first_response_with(
        &self,
        server: &mut Server,
        limit: Duration,
        probers: usize,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let (started, pid) = (server.started, server.child.id());
        let answered = self
            .ns
            .run(move || poll_first_response(started, pid, limit, probers, timeout))??;
        if let Some(status) = server.child.try_wait().ok().flatten() {
            return Err(format!("the server exited ({status})"));
        }
        Ok(answered - started)
    }
}

/// Probers, each retrying a connection every [`PROBE_TIMEOUT`], started a millisecond apart.
const PROBERS: usize = 12;
const PROBE_TIMEOUT: Duration = Duration::from_millis(12);

fn poll_first_response(
    started: Instant,
    pid: u32,
    limit: Duration,
    probers: usize,
    timeout: Duration,
) -> Result<Instant, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..probers)
        .map(|index| {
            let (stop, tx) = (stop.clone(), tx.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(index as u64));
                while !stop.load(Ordering::Relaxed) {
                    match probe(timeout) {
                        Ok(at) => {
                            let _ = tx.send(at);
                            return;
                        }
                        Err(ProbeError::Refused) => {
                            std::thread::sleep(Duration::from_millis(probers as u64))
                        }
                        Err(ProbeError::Other) => {}
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let deadline = started + limit;
    // Until an answer, the deadline, or the server's exit (a guest that panics stops QEMU).
    let result = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(at) => break Ok(at),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("every prober gave up".to_owned());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if exited(pid) {
            break Err(format!("the server exited after {:?}", started.elapsed()));
        }
        if Instant::now() >= deadline {
            break Err(format!("no HTTP answer from {} within {limit:?}", site()));
        }
    };
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    result
}

/// Whether process `pid` (a child of ours, not yet reaped) has exited: a zombie, or gone.
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

enum ProbeError {
    /// Refused at once (an RST): worth waiting a little before the next try.
    Refused,
    /// Timed out or failed otherwise: try again now.
    Other,
}

/// One connection and one `GET /`; when the answer's first bytes arrived.
fn probe(timeout: Duration) -> Result<Instant, ProbeError> {
    let mut stream = TcpStream::connect_timeout(&site().into(), timeout).map_err(|err| {
        if err.kind() == std::io::ErrorKind::ConnectionRefused {
            ProbeError::Refused
        } else {
            ProbeError::Other
        }
    })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: {GUEST}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|_| ProbeError::Other)?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|_| ProbeError::Other)?;
    let at = Instant::now();
    if &head == b"HTTP/1.1 200" {
        Ok(at)
    } else {
        Err(ProbeError::Other)
    }
}

/// A server process in a lab, killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    /// Just before the spawn.
    pub started: Instant,
    pub log: PathBuf,
}

impl Server {
    /// User plus system CPU time the process has used so far (`/proc/PID/stat`).
    pub fn cpu_time(&self) -> Result<Duration, String> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).map_err(|err| format!("{path}: {err}"))?;
        cpu_ticks(&stat)
            .map(|ticks| Duration::from_secs_f64(ticks as f64 / clock_ticks_per_s()))
            .ok_or_else(|| format!("cannot read {path}: {stat}"))
    }

    /// Waits until the process's output holds `needle`.
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        while !self.log_text().contains(needle) {
            if self.started.elapsed() > limit {
                return Err(format!("no `{needle}` in its output within {limit:?}"));
            }
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Err(format!("it exited ({status}):\n{}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// What the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime from `/proc/PID/stat` (fields 14 and 15, counted after the `)` that closes
/// the command name, which may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) is index 11 and stime (15) index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_has_not_exited() {
        assert!(!exited(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        while !exited(pid) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.wait();
        assert!(exited(pid));
    }

    #[test]
    fn cpu_ticks_skip_the_name() {
        let stat = "1234 (qemu system) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(300));
        assert_eq!(cpu_ticks("garbage"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(cpu_ticks(&own).is_some());
    }
}
