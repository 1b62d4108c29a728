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

/// The guest NIC's MAC address, on QEMU's command line and in the neighbour table.
pub const GUEST_MAC: &str = "52:54:00:12:34:56";

/// The web site's address inside the namespace.
pub fn site() -> SocketAddrV4 {
    SocketAddrV4::new(GUEST, 80)
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
        let started = server.started;
        let answered = self.ns.run(move || poll_first_response(started, limit))??;
        if let Some(status) = server.child.try_wait().ok().flatten() {
            return Err(format!("the server exited ({status})"));
        }
        Ok(answered - started)
    }
}

/// Probers, each retrying a connection every [`PROBE_TIMEOUT`], started a millisecond apart.
const PROBERS: usize = 12;
const PROBE_TIMEOUT: Duration = Duration::from_millis(12);

fn poll_first_response(started: Instant, limit: Duration) -> Result<Instant, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..PROBERS)
        .map(|index| {
            let (stop, tx) = (stop.clone(), tx.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(index as u64));
                while !stop.load(Ordering::Relaxed) {
                    match probe() {
                        Ok(at) => {
                            let _ = tx.send(at);
                            return;
                        }
                        Err(ProbeError::Refused) => {
                            std::thread::sleep(Duration::from_millis(PROBERS as u64))
                        }
                        Err(ProbeError::Other) => {}
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let deadline = started + limit;
    let result = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .map_err(|_| format!("no HTTP answer from {} within {limit:?}", site()));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    result
}

enum ProbeError {
    /// Refused at once (an RST): worth waiting a little before the next try.
    Refused,
    /// Timed out or failed otherwise: try again now.
    Other,
}

/// One connection and one `GET /`; when the answer's first bytes arrived.
fn probe() -> Result<Instant, ProbeError> {
    let mut stream = TcpStream::connect_timeout(&site().into(), PROBE_TIMEOUT).map_err(|err| {
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
