//! The network in one call: [`start`] finds the platform's NIC (virtio-net on x86_64 images under
//! QEMU, netfront under Xen with the `xen` feature, a TAP device on the hosted platform), configures IPv4, spawns the stack's task and returns the
//! handle that sockets ([`UdpSocket`], [`TcpListener`], [`TcpStream`]) are made from.
//!
//! The address: `ip=ADDR/PREFIX` (and `gw=ADDR`) on the command line configures it statically;
//! without `ip=`, or with `ip=dhcp`, DHCP does (QEMU's user networking answers with
//! 10.0.2.15/24). [`start`] waits for the lease, up to `dhcp_timeout=SECS` (30 s by default);
//! [`start_now`] returns at once, the address `0.0.0.0` until the lease is bound. Leases are
//! logged as they are bound, renewed and lost. `tcp_cc=cubic` makes TCP use CUBIC instead of
//! NewReno.

use core::fmt;
use core::time::Duration;

use morgana_netstack::iface::{ConfigError, Stack, StackHandle, parse_cmdline};

use crate::Env;

pub use morgana_netstack::iface::{TcpListener, TcpSocketError, TcpStream, UdpSocket};
pub use morgana_netstack::udp::{BindError, Endpoint};
pub use morgana_netstack::wire::Ipv4Address;

/// Why the network could not start.
#[derive(Debug)]
pub enum NetError {
    /// DHCP bound no lease in time.
    DhcpTimeout(Duration),
    /// The command line's IPv4 configuration is wrong.
    Config(ConfigError),
    /// No usable network device (what the platform said).
    Device(alloc::string::String),
    /// A TCP setting on the command line is wrong.
    Tcp(alloc::string::String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::DhcpTimeout(t) => write!(
                f,
                "DHCP: no lease after {} s (no DHCP server? put ip=ADDR/PREFIX gw=ADDR on the \
                 command line for a static address)",
                t.as_secs()
            ),
            NetError::Config(e) => write!(f, "IPv4 configuration: {e}"),
            NetError::Device(e) => write!(f, "network device: {e}"),
            NetError::Tcp(e) => write!(f, "TCP: {e}"),
        }
    }
}

/// How long [`start`] waits for a lease unless `dhcp_timeout=SECS` says otherwise.
pub const DHCP_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts the network stack on the platform's NIC and returns at once. Call once, inside the
/// appliance. With DHCP the address is `0.0.0.0` until a lease is bound; [`start`] waits for
/// one.
pub fn start_now(env: &Env) -> Result<StackHandle, NetError> {
    let config = parse_cmdline(env.cmdline()).map_err(NetError::Config)?;
    let mut seed = [0u8; 8];
    let _ = env.entropy(&mut seed); // a MAC address and DHCP's transaction ids hang on it
    let seed = u64::from_le_bytes(seed);
    let device = device(env, seed)?;
    // TCP's initial sequence numbers (RFC 6528) hang on a secret: without entropy there is
    // no TCP, rather than guessable sequence numbers.
    let mut secret = [0u8; 16];
    let secret = match env.entropy(&mut secret) {
        Ok(()) => Some(secret),
        Err(e) => {
            log::warn!("no TCP: {e}");
            None
        }
    };
    let now = env.now();
    let stack = match (config, secret) {
        (Some(config), Some(secret)) => Stack::with_isn_secret(device, config, secret, now),
        (Some(config), None) => Stack::new(device, config, now),
        (None, secret) => Stack::with_dhcp(device, secret, seed.rotate_left(17) ^ 0x6468_6370, now),
    };
    let handle = stack.handle();
    // `tcp_cc=cubic|newreno` picks the congestion controller (RFC 9438, RFC 5681/6582).
    match env.arg("tcp_cc") {
        None => {}
        Some(name) => {
            use morgana_netstack::tcp::CongestionAlgorithm;
            let congestion = match name {
                "cubic" => CongestionAlgorithm::Cubic,
                "newreno" | "reno" => CongestionAlgorithm::NewReno,
                other => {
                    return Err(NetError::Tcp(alloc::format!(
                        "tcp_cc={other}: expected cubic or newreno"
                    )));
                }
            };
            let mut config = handle.tcp_config();
            config.congestion = congestion;
            handle.set_tcp_config(config);
        }
    }
    morgana_executor::spawn(async move {
        let mut stack = stack;
        let _ = stack.run().await;
    })
    .detach();
    if config.is_none() {
        log::info!("net: asking DHCP for an address");
        morgana_executor::spawn(log_leases(handle.clone())).detach();
    }
    Ok(handle)
}

/// Starts the network stack on the platform's NIC and waits until it has an address: at once
/// with a static one, until the DHCP lease is bound otherwise, for at most `dhcp_timeout=SECS`
/// (default [`DHCP_TIMEOUT`]). Call once, inside the appliance:
/// `let stack = morgana::net::start(&env).await?;`.
pub async fn start(env: &Env) -> Result<StackHandle, NetError> {
    let handle = start_now(env)?;
    if handle.address().is_unspecified() {
        let limit = env
            .arg("dhcp_timeout")
            .and_then(|s| s.parse().ok())
            .map_or(DHCP_TIMEOUT, Duration::from_secs);
        morgana_executor::timeout(limit, handle.wait_for_lease())
            .await
            .map_err(|_| NetError::DhcpTimeout(limit))?;
    }
    Ok(handle)
}

/// Logs every lease bound or renewed, and every loss, for as long as the stack runs.
async fn log_leases(handle: StackHandle) {
    let mut generation = handle.config_generation();
    loop {
        generation = handle.config_changed(generation).await;
        match handle.lease() {
            Some(l) => {
                let c = handle.config();
                let lease = l.duration.map_or_else(
                    || "an infinite lease".into(),
                    |d| alloc::format!("{} s", d.as_secs()),
                );
                log::info!(
                    "net: DHCP lease {}/{} gateway {:?} dns {:?} from {} for {lease}",
                    c.address,
                    c.prefix_len,
                    c.gateway,
                    l.dns_servers[0],
                    l.server
                );
            }
            None => log::warn!("net: DHCP lease lost, address dropped; asking again"),
        }
    }
}

/// x86_64: netfront when start-up found Xen (feature `xen`), else virtio-net.
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
fn device(_env: &Env, seed: u64) -> Result<crate::arch::x86_64::Nic, NetError> {
    use alloc::string::ToString;
    crate::arch::x86_64::Nic::open(seed).map_err(|e| NetError::Device(e.to_string()))
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
fn device(_env: &Env, seed: u64) -> Result<crate::arch::aarch64::net::BootNet, NetError> {
    use alloc::string::ToString;
    crate::arch::aarch64::net::BootNet::open(seed).map_err(|e| NetError::Device(e.to_string()))
}

/// Says on the console, once, why virtio-net gave up on its device (the driver logs nothing
/// itself): called at the end of every round of the stack, the one that broke the device
/// included, by both architectures' `BootNet`.
#[cfg(target_os = "none")]
pub(crate) fn report_failure_once<H, T>(
    device: &morgana_drivers::virtio::net::VirtioNet<H, T>,
    reported: &mut bool,
) where
    H: morgana_drivers::virtio::Hal,
    T: morgana_drivers::virtio::Transport,
{
    if *reported {
        return;
    }
    if let Some(why) = device.failure() {
        *reported = true;
        log::error!(
            "virtio-net: giving up on the device ({why}): it is marked FAILED and the network \
             is down until reboot; {}",
            device.stats()
        );
    }
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
