//! Morgana's TCP/IP stack: `wire/` (parse and emit of every header, no allocation), ARP, IPv4,
//! ICMP, UDP, TCP and DHCP as pure state machines, with thin async adapters
//! (`TcpListener`, `TcpStream`, `UdpSocket`) over the executor.
//!
//! Here now:
//! - [`wire`]: parse and emit of Ethernet, ARP, IPv4, ICMP, UDP and TCP (with its options),
//!   views over the received bytes with no allocation;
//! - [`tcp`]: the TCP connection as a pure state machine (bytes and a timestamp in, segments
//!   out), not yet wired to an interface;
//! - [`phy`]: test and debug devices (loopback, a seeded lossy link, pcap capture);
//! - [`iface`]: the interface layer (Ethernet demux, ARP cache, IPv4 routing, ICMP echo and
//!   port unreachable) as a pure [`iface::Interface`], driven by the async [`iface::Stack`],
//!   with [`iface::UdpSocket`] handles;
//! - [`udp`]: the UDP socket table.
//!
//! TCP sockets over the interface, IPv4 reassembly and DHCP come next.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod iface;
pub mod phy;
pub mod tcp;
pub mod udp;
pub mod wire;
