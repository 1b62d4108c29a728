//! Fuzz target: whatever xenstored writes on the response ring.
//!
//! The body is `morgana_hypervisor::xenstore::wire::fuzz_reply`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_hypervisor::xenstore::wire::fuzz_reply(data));
