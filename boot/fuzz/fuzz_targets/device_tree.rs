//! Fuzz target: see `morgana_boot::fuzz::device_tree`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_boot::fuzz::device_tree(data));
