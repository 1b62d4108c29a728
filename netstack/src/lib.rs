//! Morgana's TCP/IP stack: `wire/` (parse and emit of every header, no allocation), ARP, IPv4,
//! ICMP, UDP, TCP and DHCP as pure state machines, with thin async adapters
//! (`TcpListener`, `TcpStream`, `UdpSocket`) over the executor.
//!
//! Here now:
//! - [`wire`]: parse and emit of Ethernet, ARP, IPv4, ICMP, UDP, TCP (with its options) and
//!   DHCP, views over the received bytes with no allocation;
//! - [`tcp`]: the TCP connection as a pure state machine (bytes and a timestamp in, segments
//!   out), RFC 6528 ISNs and SYN cookies;
//! - [`dhcp`]: the DHCP client (RFC 2131) as a pure state machine;
//! - [`iface`]: the interface (ARP, IPv4 with bounded reassembly, ICMP echo, UDP and TCP
//!   demultiplexing, SYN cookies when a listener's half-open queue is full, rate-limited ICMP
//!   errors and RSTs, the DHCP client's I/O) and the async `Stack` with its sockets
//!   (`UdpSocket`, `TcpListener`, `TcpStream`); [`udp`]: the UDP socket table;
//! - [`phy`]: test and debug devices (loopback, a seeded lossy link, pcap capture).
//!
//! Not yet: IPv4 fragmentation on output, SACK loss recovery, CUBIC, IPv6, DNS.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod dhcp;
pub mod iface;
pub mod io;
pub mod phy;
mod portmap;
pub mod tcp;
pub mod udp;
pub mod wire;
