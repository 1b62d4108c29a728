//! The network in one call: [`start`] finds the platform's NIC (virtio-net on x86_64 images, a
//! TAP device on the hosted platform), configures IPv4 from the command line
//! (`ip=ADDR/PREFIX gw=ADDR`), spawns the stack's task and returns the handle that sockets
//! ([`UdpSocket`], [`TcpListener`], [`TcpStream`]) are made from.

use core::fmt;

use morgana_netstack::iface::{ConfigError, Stack, StackHandle, parse_cmdline};

use crate::Env;

pub use morgana_netstack::iface::{TcpListener, TcpSocketError, TcpStream, UdpSocket};
pub use morgana_netstack::udp::{BindError, Endpoint};
pub use morgana_netstack::wire::Ipv4Address;

/// Why the network could not start.
#[derive(Debug)]
pub enum NetError {
    /// The command line has no `ip=ADDR/PREFIX`.
    NoConfig,
    /// The command line's IPv4 configuration is wrong.
    Config(ConfigError),
    /// No usable network device (what the platform said).
    Device(alloc::string::String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::NoConfig => f.write_str(
                "no IPv4 configuration: put ip=ADDR/PREFIX (and gw=ADDR) on the command line",
            ),
            NetError::Config(e) => write!(f, "IPv4 configuration: {e}"),
            NetError::Device(e) => write!(f, "network device: {e}"),
        }
    }
}

/// Starts the network stack on the platform's NIC. Call once, inside the appliance.
pub fn start(env: &Env) -> Result<StackHandle, NetError> {
    let config = parse_cmdline(env.cmdline())
        .map_err(NetError::Config)?
        .ok_or(NetError::NoConfig)?;
    let mut seed = [0u8; 8];
    let _ = env.entropy(&mut seed); // only a MAC address hangs on it
    let device = device(env, u64::from_le_bytes(seed))?;
    // TCP's initial sequence numbers (RFC 6528) hang on a secret: without entropy there is
    // no TCP, rather than guessable sequence numbers.
    let mut secret = [0u8; 16];
    let stack = match env.entropy(&mut secret) {
        Ok(()) => Stack::with_isn_secret(device, config, secret, env.now()),
        Err(e) => {
            log::warn!("no TCP: {e}");
            Stack::new(device, config, env.now())
        }
    };
    let handle = stack.handle();
    morgana_executor::spawn(async move {
        let mut stack = stack;
        let _ = stack.run().await;
    })
    .detach();
    Ok(handle)
}

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
fn device(_env: &Env, seed: u64) -> Result<crate::arch::x86_64::net::BootNet, NetError> {
    use alloc::string::ToString;
    crate::arch::x86_64::net::BootNet::open(seed).map_err(|e| NetError::Device(e.to_string()))
}

/// The hosted platform's NIC: TAP interface `tap=NAME` (default `mgtap0`), created if missing
/// (needs `CAP_NET_ADMIN`); `pcap=FILE` records its frames.
#[cfg(not(target_os = "none"))]
fn device(env: &Env, seed: u64) -> Result<crate::hosted::Nic, NetError> {
    let platform = crate::hosted::current()
        .ok_or_else(|| NetError::Device("not running on the hosted platform".into()))?;
    let name = env.arg("tap").unwrap_or("mgtap0");
    // Locally administered, unicast.
    let b = seed.to_le_bytes();
    let mac = [0x02, b[1], b[2], b[3], b[4], b[5]];
    crate::hosted::open_nic(&platform, name, mac, env.arg("pcap"))
        .map_err(|e| NetError::Device(alloc::format!("TAP {name}: {e}")))
}
