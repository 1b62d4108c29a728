//! Morgana's TCP/IP stack: `wire/` (parse and emit of every header, no allocation), ARP, IPv4,
//! ICMP, UDP, TCP and DHCP as pure state machines, with thin async adapters
//! (`TcpListener`, `TcpStream`, `UdpSocket`) over the executor.
//!
//! Filled by the netstack issue; it is empty until then.
#![no_std]
#![forbid(unsafe_code)]
