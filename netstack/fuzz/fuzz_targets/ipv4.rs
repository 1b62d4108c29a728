//! Fuzz target: an IPv4 packet, and the ICMP, UDP or TCP it carries unless it is a fragment.
//!
//! The body is `morgana_netstack::wire::fuzz::ipv4`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::wire::fuzz::ipv4(data));
