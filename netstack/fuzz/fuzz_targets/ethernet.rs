//! Fuzz target: an Ethernet frame, and the ARP or IPv4 packet it carries, down to ICMP, UDP
//! or TCP.
//!
//! The body is `morgana_netstack::wire::fuzz::ethernet`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::wire::fuzz::ethernet(data));
