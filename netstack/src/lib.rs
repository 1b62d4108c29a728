//! Morgana's TCP/IP stack: `wire/` (parse and emit of every header, no allocation), ARP, IPv4,
//! ICMP, UDP, TCP and DHCP as pure state machines, with thin async adapters
//! (`TcpListener`, `TcpStream`, `UdpSocket`) over the executor.
//!
//! Here now:
//! - [`wire`]: parse and emit of Ethernet, ARP, IPv4, ICMP, UDP and TCP (with its options),
//!   views over the received bytes with no allocation;
//! - [`tcp`]: the TCP connection as a pure state machine (bytes and a timestamp in, segments
//!   out);
//! - [`iface`]: the interface (ARP, IPv4, ICMP echo, UDP and TCP demultiplexing) and the async
//!   `Stack` with its sockets (`UdpSocket`, `TcpListener`, `TcpStream`); [`udp`]: the UDP
//!   socket table;
//! - [`phy`]: test and debug devices (loopback, a seeded lossy link, pcap capture).
//!
//! IPv4 reassembly, DHCP, SACK loss recovery and CUBIC come next.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod dhcp;
pub mod iface;
pub mod io;
pub mod phy;
pub mod tcp;
pub mod udp;
pub mod wire;
