//! `bench net`: TCP goodput of the echo appliance in QEMU on a TAP device, each way (Linux
//! sending to its discard port 9, and reading from its chargen port 19), without loss and with
//! 1% of the IPv4 packets dropped by nftables in each direction; the same between two Linux
//! stacks over a veth pair as the reference; and what the netstack's heap holds per idle TCP
//! connection (the `conn_memory` bench). Prints a table and writes `target/bench/net.md`.
//!
//! Needs root (namespaces, TAP, nftables). Every transfer is bounded by the traffic helpers'
//! stall limit; QEMU is killed when its measurements are done.

use std::fmt::Write as _;
use std::fs;
use std::net::{Shutdown, SocketAddrV4, TcpListener};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use morgana_tests::netns::{self, GUEST, Netns, PEER};
use morgana_tests::traffic::{self, Transfer};

use crate::build::{self, Arch, BuildArgs};
use crate::qemu::{self, Accel, Machine, Net, Vm, tap};
use crate::util::{self, Cmd, Error};

/// The appliance and the machine measured.
const APPLIANCE: &str = "echo";
const MACHINE: Machine = Machine::Microvm;
const ACCEL: Accel = Accel::Tcg;
/// Bytes moved per measurement, through Morgana and between the two Linux stacks.
const MORGANA_BYTES: u64 = 20_000_000;
const LINUX_BYTES: u64 = 1_000_000_000;
/// The loss of the lossy runs, in percent, each way.
const LOSS: u32 = 1;
/// From QEMU's start to the guest answering ping.
const BOOT_LIMIT: Duration = Duration::from_secs(60);
/// What the `conn_memory` bench prints.
const CONN_MEMORY: &str = "conn_memory: ";

/// Goodput each way, in Mbit/s.
#[derive(Debug, Clone, Copy)]
struct Goodput {
    to_server: f64,
    from_server: f64,
}

pub fn run(group: &'static str, dir: &Path) -> Result<(), Error> {
    if !util::is_root()? {
        return Err(Error::new(
            "bench net creates network namespaces, TAP devices and nftables rules: run it as root",
        ));
    }
    netns::available()
        .and_then(|()| netns::nft_available())
        .map_err(|why| Error::new(format!("bench net: {why}")))?;
    qemu::ensure_installed()?;
    let image = build::build_image(&BuildArgs {
        appliance: APPLIANCE.to_owned(),
        release: true,
        arch: Some(Arch::X86_64),
    })?;
    // TCG: nested KVM (PVM) makes each virtio notification an expensive exit, and the figure
    // would measure that rather than the stack.
    let (accel, why) = qemu::choose_accel(Some(ACCEL))?;
    eprintln!("accel: {accel} ({why})");
    let firmware = qemu::firmware(MACHINE)?;
    let cmdline = Net::Tap.default_cmdline();
    let extra = qemu::nic_args(MACHINE, Net::Tap, &[], None);
    let vm = Vm {
        image: &image.path,
        machine: MACHINE,
        firmware: firmware.as_deref(),
        accel,
        mem: "64M",
        append: &cmdline,
        gdb: false,
        extra: &extra,
    };
    let mut morgana = Vec::new();
    let mut linux = Vec::new();
    for loss in [0, LOSS] {
        morgana.push(measure_morgana(&vm, loss)?);
        linux.push(measure_linux(loss)?);
    }
    let memory = conn_memory()?;
    let what = format!("echo, release, QEMU {MACHINE} ({accel}), TAP");
    let markdown = table(&what, &morgana, &linux, memory.as_deref());
    println!("\n{markdown}");
    fs::create_dir_all(dir)
        .and_then(|()| fs::write(dir.join(format!("{group}.md")), &markdown))
        .map_err(|err| Error::new(format!("cannot write {}: {err}", dir.display())))?;
    println!(
        "wrote {}",
        util::display_path(&dir.join(format!("{group}.md")))
    );
    Ok(())
}

/// The topology, the same for Morgana and for Linux: the client in namespace C, the server
/// (the appliance's QEMU on a TAP, or a Linux stack on a veth) reached through a bridge in
/// namespace R, where nftables drops packets on the server's port, both ways. The dropped
/// packets are forwarded ones, so no sender learns of the drop locally (as it would if its own
/// egress dropped them): the loss is like a wire's.
struct Topology {
    client: Netns,
    bridge: Netns,
}

impl Topology {
    /// R with `server_port` (made by `make_port`, e.g. a TAP) and C, bridged.
    fn new(
        make_port: impl FnOnce(&Netns) -> Result<(), String>,
        server_port: &str,
    ) -> Result<Topology, String> {
        let bridge = Netns::create(&netns::unique_name("mgbench-bridge"))?;
        let client = Netns::create(&netns::unique_name("mgbench-client"))?;
        make_port(&bridge)?;
        bridge.add_veth_to(&client, "mgvc", PEER)?;
        bridge.add_bridge("mgbr", &[server_port, "mgvc"])?;
        Ok(Topology { client, bridge })
    }
}

/// Boots the appliance on a TAP in R and moves [`MORGANA_BYTES`] each way.
fn measure_morgana(vm: &Vm, loss: u32) -> Result<Goodput, Error> {
    let result = (|| {
        let topology = Topology::new(Netns::add_tap, netns::TAP)?;
        let child = tap::qemu_in(&topology.bridge, &vm.args())
            .quiet()
            .spawn(Stdio::null(), Stdio::null(), Stdio::piped())
            .map_err(|err| err.to_string())?;
        let _qemu = KillOnDrop(child);
        topology.client.wait_for_guest(BOOT_LIMIT)?;
        if loss > 0 {
            topology.bridge.add_loss(netns::TAP, loss)?;
        }
        let goodput = both_ways(&topology.client, MORGANA_BYTES)?;
        eprintln!("morgana, {loss}% loss: {goodput:?} Mbit/s");
        Ok(goodput)
    })();
    result.map_err(|why: String| Error::new(format!("bench net, Morgana, {loss}% loss: {why}")))
}

/// A Linux server on a veth in namespace S, with a discard and a chargen server, in place of
/// the appliance; [`LINUX_BYTES`] each way.
fn measure_linux(loss: u32) -> Result<Goodput, Error> {
    let result = (|| {
        let server = Netns::create(&netns::unique_name("mgbench-server"))?;
        let topology = Topology::new(|bridge| bridge.add_veth_to(&server, "mgvs", GUEST), "mgvs")?;
        // Listening before the client connects; the threads end with the process.
        let listeners = server.run(|| {
            let bind = |port| TcpListener::bind(SocketAddrV4::new(GUEST, port));
            Ok::<_, std::io::Error>((bind(9)?, bind(19)?))
        })?;
        let (discard, chargen) = listeners.map_err(|err| format!("listen: {err}"))?;
        std::thread::spawn(move || serve_discard(discard));
        std::thread::spawn(move || serve_chargen(chargen));
        if loss > 0 {
            topology.bridge.add_loss("mgvs", loss)?;
        }
        let goodput = both_ways(&topology.client, LINUX_BYTES)?;
        eprintln!("linux, {loss}% loss: {goodput:?} Mbit/s");
        Ok(goodput)
    })();
    result.map_err(|why: String| Error::new(format!("bench net, Linux, {loss}% loss: {why}")))
}

/// `bytes` to the server's discard port, then `bytes` from its chargen port, from inside `ns`.
fn both_ways(ns: &Netns, bytes: u64) -> Result<Goodput, String> {
    let to = ns.run(move || traffic::tcp_sink(SocketAddrV4::new(GUEST, 9), bytes))??;
    let from = ns.run(move || traffic::tcp_source(SocketAddrV4::new(GUEST, 19), bytes))??;
    Ok(Goodput {
        to_server: Transfer::mbit_per_s(&to),
        from_server: Transfer::mbit_per_s(&from),
    })
}

fn serve_discard(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = vec![0u8; 256 << 10];
            while let Ok(1..) = std::io::Read::read(&mut stream, &mut buf) {}
            let _ = stream.shutdown(Shutdown::Both);
        });
    }
}

fn serve_chargen(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let buf = vec![b'x'; 64 << 10];
            while std::io::Write::write_all(&mut stream, &buf).is_ok() {}
        });
    }
}

/// Runs the `conn_memory` bench and returns its line's text after the prefix.
fn conn_memory() -> Result<Option<String>, Error> {
    let out = Cmd::cargo()
        .args(["bench", "-p", "morgana-benches", "--bench", "conn_memory"])
        .stdout()?;
    let line = out
        .lines()
        .find_map(|line| line.strip_prefix(CONN_MEMORY))
        .map(str::to_owned);
    if line.is_none() {
        eprintln!("warning: conn_memory printed no `{CONN_MEMORY}` line:\n{out}");
    }
    Ok(line)
}

/// The report: goodput each way, with and without loss, and the share kept at [`LOSS`]%.
fn table(what: &str, morgana: &[Goodput], linux: &[Goodput], memory: Option<&str>) -> String {
    let mut text = format!(
        "# bench net\n\nTCP goodput in Mbit/s, {} MB through Morgana ({what}), {} MB between two \
         Linux stacks over veth. Client and server are joined by a Linux bridge in a namespace \
         of their own; loss: nftables there drops {LOSS}% of the IPv4 packets each way on the \
         server's port (the TAP, or the server's veth), senders without GSO so that a packet is \
         a frame.\n\n\
         | path | direction | no loss | {LOSS}% loss | kept at {LOSS}% loss |\n\
         |---|---|---:|---:|---:|\n",
        MORGANA_BYTES / 1_000_000,
        LINUX_BYTES / 1_000_000,
    );
    let rows = [
        ("Morgana", "Linux → appliance (discard)", morgana, true),
        ("Morgana", "appliance → Linux (chargen)", morgana, false),
        ("Linux", "client → server", linux, true),
        ("Linux", "server → client", linux, false),
    ];
    for (path, direction, runs, to_server) in rows {
        let pick = |g: &Goodput| {
            if to_server {
                g.to_server
            } else {
                g.from_server
            }
        };
        let (clean, lossy) = (pick(&runs[0]), pick(&runs[1]));
        let _ = writeln!(
            text,
            "| {path} | {direction} | {clean:.1} | {lossy:.1} | {:.0}% |",
            100.0 * lossy / clean
        );
    }
    let _ = write!(
        text,
        "\nMemory per idle TCP connection (netstack on the simulator, counting allocator): {}\n\
         \nAddresses: the client {PEER}, the server {GUEST}.\n",
        memory.unwrap_or("not measured")
    );
    text
}

/// Kills QEMU if measuring fails half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_the_share_kept() {
        let runs = [
            Goodput {
                to_server: 100.0,
                from_server: 50.0,
            },
            Goodput {
                to_server: 80.0,
                from_server: 10.0,
            },
        ];
        let text = table("x", &runs, &runs, Some("1000 connections, 5 bytes"));
        assert!(
            text.contains("| Morgana | Linux → appliance (discard) | 100.0 | 80.0 | 80% |"),
            "{text}"
        );
        assert!(
            text.contains("| Linux | server → client | 50.0 | 10.0 | 20% |"),
            "{text}"
        );
        assert!(text.contains("1000 connections, 5 bytes"), "{text}");
    }
}
