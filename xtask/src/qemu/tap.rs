//! `run-qemu --net tap`: QEMU in a network namespace of its own, its NIC on a TAP device there,
//! and the Linux kernel on the other side of the TAP with the peer address. The namespace (and
//! the TAP in it) is created before QEMU starts and deleted when the [`Network`] drops, which
//! `run_qemu` makes happen however the run ends; the helpers are the tests' own
//! ([`morgana_tests::netns`]).

use morgana_tests::netns::{self, GUEST, Netns, PEER, PREFIX, TAP};

use super::install;
use crate::util::{self, Cmd, Error};

/// A namespace with a TAP device, for one QEMU run.
#[derive(Debug)]
pub struct Network {
    netns: Netns,
}

impl Network {
    /// Creates namespace `name` (default `morgana-PID-0`) with TAP [`TAP`] at [`PEER`], and
    /// prints how to reach the guest. Not root: an error with the commands to run instead.
    pub fn create(name: Option<&str>, cmdline: &str) -> Result<Network, Error> {
        let name = name.map_or_else(|| netns::unique_name("morgana"), str::to_owned);
        if !util::is_root()? {
            return Err(Error::new(not_root(&name)));
        }
        netns::available().map_err(|why| Error::new(format!("--net tap: {why}")))?;
        let netns = Netns::create(&name).map_err(Error::new)?;
        netns.add_tap().map_err(Error::new)?;
        let guest = guest_address(cmdline);
        eprintln!(
            "net: TAP {TAP} in network namespace {name}, Linux at {PEER}/{PREFIX}, the guest at \
             {guest}; reach it with\n  ip netns exec {name} ping {guest}\n  \
             ip netns exec {name} curl http://{guest}/\n  \
             (the namespace is deleted when QEMU exits)"
        );
        Ok(Network { netns })
    }

    /// QEMU with `args`, run inside the namespace.
    pub fn wrap(&self, args: &[String]) -> Cmd {
        qemu_in(&self.netns, args)
    }

    /// [`wrap`](Self::wrap) for another QEMU binary (`qemu-system-aarch64`).
    pub fn wrap_binary(&self, binary: &str, args: &[String]) -> Cmd {
        Cmd::new("ip")
            .install_hint("install iproute2")
            .args(["netns", "exec", self.netns.name(), binary])
            .args(args.iter().cloned())
    }
}

/// QEMU with `args`, run inside `netns` (`ip netns exec`, which execs QEMU: killing the child
/// kills QEMU).
pub fn qemu_in(netns: &Netns, args: &[String]) -> Cmd {
    Cmd::new("ip")
        .install_hint("install iproute2")
        .args(["netns", "exec", netns.name(), install::BINARY])
        .args(args.iter().cloned())
}

impl Drop for Network {
    fn drop(&mut self) {
        eprintln!("net: deleting network namespace {}", self.netns.name());
    }
}

/// The guest's address from `ip=ADDR/PREFIX` on its command line, else [`GUEST`].
fn guest_address(cmdline: &str) -> String {
    cmdline
        .split_ascii_whitespace()
        .find_map(|word| word.strip_prefix("ip="))
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_owned())
        .unwrap_or_else(|| GUEST.to_string())
}

/// What to do instead, as a user without root.
fn not_root(name: &str) -> String {
    let mut steps = vec![
        format!("ip netns add {name}"),
        format!("ip -n {name} link set lo up"),
    ];
    steps.extend(
        netns::tap_setup(TAP)
            .iter()
            .map(|args| format!("ip -n {name} {}", args.join(" "))),
    );
    format!(
        "--net tap creates a network namespace and a TAP device, which needs root: run the same \
         command as root (e.g. `sudo -E env PATH=$PATH cargo xtask run-qemu ...`), or set the \
         network up yourself:\n  {}\nand boot with `sudo ip netns exec {name} \
         qemu-system-x86_64 ...` and `-netdev tap,id=n0,ifname={TAP},script=no,downscript=no`; \
         `ip netns del {name}` removes it all",
        steps.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_address_comes_from_the_command_line() {
        assert_eq!(
            guest_address("log=debug ip=10.9.0.5/16 gw=10.9.0.1"),
            "10.9.0.5"
        );
        assert_eq!(guest_address("log=debug"), GUEST.to_string());
    }

    #[test]
    fn without_root_the_commands_are_spelled_out() {
        let text = not_root("mg-1");
        for line in [
            "ip netns add mg-1",
            "ip -n mg-1 tuntap add mode tap name mgtap0",
            "ip -n mg-1 addr add 10.7.0.1/24 dev mgtap0",
            "ip -n mg-1 link set mgtap0 up",
            "ip netns del mg-1",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }
}
