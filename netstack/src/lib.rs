//! Morgana's TCP/IP stack: `wire/` (parse and emit of every header, no allocation), ARP, IPv4,
//! ICMP, UDP, TCP and DHCP as pure state machines, with thin async adapters
//! (`TcpListener`, `TcpStream`, `UdpSocket`) over the executor.
//!
//! [`wire`] is here: parse and emit of Ethernet, ARP, IPv4, ICMP, UDP and TCP (with its options),
//! views over the received bytes with no allocation. The layers above it come next.
#![no_std]
#![forbid(unsafe_code)]

pub mod wire;
