//! Fuzz target: an ARP packet.
//!
//! The body is `morgana_netstack::wire::fuzz::arp`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::wire::fuzz::arp(data));
