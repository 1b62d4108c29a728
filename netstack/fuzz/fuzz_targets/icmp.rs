//! Fuzz target: an ICMPv4 message.
//!
//! The body is `morgana_netstack::wire::fuzz::icmp`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::wire::fuzz::icmp(data));
