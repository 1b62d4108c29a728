//! Network namespaces for end-to-end networking, shared by the tests, `cargo xtask run-qemu
//! --net tap` and `cargo xtask bench net`.
//!
//! A [`Netns`] is a namespace of our making with the Linux kernel as the appliance's peer: a TAP
//! interface for QEMU or the hosted platform ([`Netns::add_tap`]), or one end of a veth pair
//! ([`Netns::add_veth_pair`]). Every name carries the creating process's id and a counter, so
//! concurrent tests never collide; addresses are private to each namespace and can be the
//! same in all of them ([`GUEST`], [`PEER`]). Dropping a [`Netns`] deletes it, and with it the
//! interfaces inside. [`Netns::add_loss`] drops a share of the IPv4 packets on an interface with
//! nftables, both ways; [`Netns::run`] makes a thread of ours enter the namespace, so that a
//! client written with `std::net` talks from inside it.
//!
//! Everything here shells out to `ip` and `nft` and needs root (CAP_NET_ADMIN and
//! CAP_SYS_ADMIN); [`available`] says whether that is so, and why not.

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The appliance's address in every namespace (`ip=` on its command line).
pub const GUEST: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
/// The Linux kernel's address in every namespace, on the TAP or veth (`gw=`).
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
/// The prefix length of [`GUEST`] and [`PEER`]'s network.
pub const PREFIX: u8 = 24;
/// The TAP interface's name inside a namespace (names are per namespace).
pub const TAP: &str = "mgtap0";

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Whether namespaces and TAP devices can be made here: root, `/dev/net/tun`, `ip`.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("network namespaces and TAP devices need root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing (no TUN/TAP support)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("`ip` (iproute2) is not installed".into()),
    }
}

/// Whether `nft` runs, for [`Netns::add_loss`].
pub fn nft_available() -> Result<(), String> {
    match Command::new("nft").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("`nft` (nftables) is not installed".into()),
    }
}

/// A name no other process (and no other call in this one) uses: `PREFIX-PID-N`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A short interface name (at most 15 bytes) no other process uses: `PREFIX` + 5 digits of
/// the process id + a counter.
pub fn unique_ifname(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}x{n}", std::process::id() % 100_000);
    assert!(name.len() <= 15, "interface name {name} is too long");
    name
}

/// Runs a command; its stdout, or an error that shows the command and its stderr.
pub fn run_command(command: &mut Command) -> Result<String, String> {
    let line = format!("{command:?}").replace('"', "");
    let out: Output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("`{line}`: {err}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    run_command(Command::new("ip").args(args))
}

/// Whether namespace `name` exists.
pub fn exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// A network namespace, deleted (with its interfaces) when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up.
    pub fn create(name: &str) -> Result<Netns, String> {
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Takes charge of namespace `name`, made by someone else (e.g. a run-qemu we started):
    /// it is deleted when dropped, if it still exists.
    pub fn adopt(name: &str) -> Netns {
        Netns {
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip netns exec NAME PROGRAM`: a command to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Creates TAP interface [`TAP`] in the namespace with the [`PEER`] address, up, for a
    /// QEMU that runs in the namespace (`ip netns exec`) to open by name.
    pub fn add_tap(&self) -> Result<(), String> {
        for args in tap_setup(TAP) {
            self.ip(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Moves interface `ifname` (e.g. a TAP the hosted platform created) into the namespace,
    /// gives it the [`PEER`] address and brings it up.
    pub fn adopt_interface(&self, ifname: &str) -> Result<(), String> {
        ip(&["link", "set", ifname, "netns", &self.name])?;
        let peer = format!("{PEER}/{PREFIX}");
        self.ip(&["addr", "add", &peer, "dev", ifname])?;
        self.ip(&["link", "set", ifname, "up"])?;
        Ok(())
    }

    /// A veth pair: `ifname` here, without an address, and `ifname` in `other` with address
    /// `other_addr`; both up, and `other`'s end sending one segment per packet (no GSO
    /// bundles, so that loss on this side counts frames).
    pub fn add_veth_to(
        &self,
        other: &Netns,
        ifname: &str,
        other_addr: Ipv4Addr,
    ) -> Result<(), String> {
        let peer_name = format!("{ifname}p");
        self.ip(&[
            "link",
            "add",
            ifname,
            "type",
            "veth",
            "peer",
            "name",
            &peer_name,
            "netns",
            &other.name,
        ])?;
        other.ip(&["link", "set", &peer_name, "name", ifname])?;
        other.ip(&[
            "addr",
            "add",
            &format!("{other_addr}/{PREFIX}"),
            "dev",
            ifname,
        ])?;
        other.ip(&["link", "set", ifname, "gso_max_segs", "1", "up"])?;
        self.ip(&["link", "set", ifname, "up"])?;
        Ok(())
    }

    /// A bridge `name` here joining `ports` (which lose their addresses), up.
    pub fn add_bridge(&self, name: &str, ports: &[&str]) -> Result<(), String> {
        self.ip(&["link", "add", name, "type", "bridge"])?;
        for port in ports {
            self.ip(&["addr", "flush", "dev", port])?;
            self.ip(&["link", "set", port, "master", name])?;
        }
        self.ip(&["link", "set", name, "up"])?;
        Ok(())
    }

    /// Drops `percent` % of the IPv4 packets that cross `ifname` in each direction, at random
    /// (nftables `numgen random mod 100 < percent`, on the netdev ingress and egress hooks), and
    /// counts them: see [`Netns::loss_counts`]. The interface's GSO is limited to one segment
    /// first, so that the egress hook sees wire-sized packets rather than bundles that the
    /// kernel would split after it.
    pub fn add_loss(&self, ifname: &str, percent: u32) -> Result<(), String> {
        // One segment per packet, so that egress sees frames, not 64 KiB GSO bundles.
        self.ip(&["link", "set", ifname, "gso_max_segs", "1"])?;
        let rules = loss_rules(ifname, percent);
        let mut nft = self.command("nft");
        nft.args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = nft.spawn().map_err(|err| format!("nft: {err}"))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped");
            stdin
                .write_all(rules.as_bytes())
                .map_err(|err| format!("nft: {err}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|err| format!("nft: {err}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nft -f failed: {}\nrules:\n{rules}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Removes [`Netns::add_loss`]'s rules (after reading their counters). The UDP echo
    /// that stops an appliance cannot survive loss: a lost echo of the stop word leaves the
    /// client retrying against an appliance that has already exited.
    pub fn remove_loss(&self) -> Result<(), String> {
        run_command(
            self.command("nft")
                .args(["delete", "table", "netdev", "mgloss"]),
        )
        .map(|_| ())
    }

    /// Packets dropped by [`Netns::add_loss`]'s rules so far: (ingress, egress), that is
    /// (from the appliance, to the appliance) on a TAP.
    pub fn loss_counts(&self) -> Result<(u64, u64), String> {
        let listing = run_command(
            self.command("nft")
                .args(["list", "table", "netdev", "mgloss"]),
        )?;
        let mut counts = listing.lines().filter_map(|line| {
            let after = line.split("counter packets ").nth(1)?;
            after.split_whitespace().next()?.parse::<u64>().ok()
        });
        match (counts.next(), counts.next()) {
            (Some(ingress), Some(egress)) => Ok((ingress, egress)),
            _ => Err(format!("no loss counters in:\n{listing}")),
        }
    }

    /// Waits until interface `ifname` in the namespace is up.
    pub fn wait_for_interface(&self, ifname: &str, limit: Duration) -> Result<(), String> {
        self.wait_for_link(ifname, ",UP", limit)
            .map_err(|()| format!("{ifname} did not come up in {}", self.name))
    }

    /// Waits until QEMU has opened TAP `ifname` (its carrier is up): frames sent before that
    /// are dropped by the kernel rather than queued.
    pub fn wait_for_carrier(&self, ifname: &str, limit: Duration) -> Result<(), String> {
        self.wait_for_link(ifname, "LOWER_UP", limit)
            .map_err(|()| format!("QEMU did not open {ifname} in {}", self.name))
    }

    /// Polls `ip link show ifname` until it shows `flag`, or `limit` passes.
    fn wait_for_link(&self, ifname: &str, flag: &str, limit: Duration) -> Result<(), ()> {
        let start = Instant::now();
        loop {
            if let Ok(out) = self.ip(&["-o", "link", "show", ifname])
                && out.contains(flag)
            {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pings [`GUEST`] from the namespace until one answer comes, or `limit` passes.
    pub fn wait_for_guest(&self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let answered = self
                .command("ping")
                .args(["-c", "1", "-W", "1", &GUEST.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if answered {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{GUEST} did not answer ping in {} within {limit:?}",
                    self.name
                ));
            }
        }
    }

    /// Runs `f` on a thread of ours that has entered the namespace (setns(2) changes only the
    /// calling thread's network namespace), so that `std::net` sockets opened there live in it.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let path = Path::new(NETNS_DIR).join(&self.name);
        let thread = std::thread::spawn(move || {
            enter(&path)?;
            Ok(f())
        });
        thread
            .join()
            .map_err(|_| "the thread in the namespace panicked".to_owned())?
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if exists(&self.name) {
            let _ = ip(&["netns", "del", &self.name]);
        }
    }
}

/// Makes the calling thread enter the network namespace bound at `path`.
fn enter(path: &Path) -> Result<(), String> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{} holds a NUL", path.display()))?;
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!(
            "{}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` is an open namespace file; setns only reads it.
    let entered = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    let error = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if entered < 0 {
        return Err(format!("setns {}: {error}", path.display()));
    }
    Ok(())
}

/// The `ip -n NS ...` argument lists that set up TAP interface `tap` for a QEMU in the
/// namespace: create it, give it the [`PEER`] address, bring it up.
pub fn tap_setup(tap: &str) -> Vec<Vec<String>> {
    let peer = format!("{PEER}/{PREFIX}");
    [
        vec!["tuntap", "add", "mode", "tap", "name", tap],
        vec!["addr", "add", &peer, "dev", tap],
        vec!["link", "set", tap, "up"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_owned).collect())
    .collect()
}

/// The nftables ruleset [`Netns::add_loss`] loads.
pub fn loss_rules(ifname: &str, percent: u32) -> String {
    let rule = format!("meta protocol ip numgen random mod 100 < {percent} counter drop");
    format!(
        "table netdev mgloss {{\n\
         \x20 chain ingress {{ type filter hook ingress device \"{ifname}\" priority 0; {rule}; }}\n\
         \x20 chain egress {{ type filter hook egress device \"{ifname}\" priority 0; {rule}; }}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_short() {
        let (a, b) = (unique_name("mg"), unique_name("mg"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("mg-{}-", std::process::id())), "{a}");
        let (a, b) = (unique_ifname("mgh"), unique_ifname("mgh"));
        assert_ne!(a, b);
        assert!(a.len() <= 15 && b.len() <= 15, "{a} {b}");
    }

    #[test]
    fn loss_rules_cover_both_directions() {
        let rules = loss_rules("mgtap0", 2);
        assert!(rules.contains("hook ingress device \"mgtap0\""), "{rules}");
        assert!(rules.contains("hook egress device \"mgtap0\""), "{rules}");
        assert_eq!(
            rules
                .matches("numgen random mod 100 < 2 counter drop")
                .count(),
            2
        );
    }

    /// A namespace with a TAP, and with loss rules that nft accepts, is created and deleted.
    #[test]
    fn a_namespace_with_a_tap_and_loss_comes_and_goes() {
        if let Err(why) = available().and_then(|()| nft_available()) {
            eprintln!("skipped: {why}");
            return;
        }
        let name = unique_name("mgt");
        {
            let ns = Netns::create(&name).unwrap();
            ns.add_tap().unwrap();
            ns.add_loss(TAP, 2).unwrap();
            assert_eq!(ns.loss_counts().unwrap(), (0, 0));
            let addrs = ns.ip(&["-o", "addr", "show", TAP]).unwrap();
            assert!(addrs.contains("10.7.0.1/24"), "{addrs}");
            let inside = ns
                .run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default())
                .unwrap();
            assert!(inside.contains(TAP), "{inside}");
        }
        assert!(!exists(&name));
    }
}
