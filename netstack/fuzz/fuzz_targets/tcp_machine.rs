//! Fuzz target: the TCP state machine, established, fed a sequence of segments and user calls.
//!
//! The body is `morgana_netstack::tcp::fuzz_segment_sequence`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_netstack::tcp::fuzz_segment_sequence(data));
