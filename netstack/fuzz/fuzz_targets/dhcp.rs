//! Fuzz target: a DHCP message (a UDP payload).
//!
//! The body is `morgana_netstack::wire::fuzz::dhcp`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::wire::fuzz::dhcp(data));
