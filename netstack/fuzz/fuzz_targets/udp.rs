//! Fuzz target: a UDP datagram, after 8 bytes of pseudo-header addresses.
//!
//! The body is `morgana_netstack::wire::fuzz::udp`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::wire::fuzz::udp(data));
