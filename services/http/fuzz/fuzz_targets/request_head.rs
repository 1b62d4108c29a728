//! Fuzz target: a request head, scanned whole and in pieces, then parsed.
//!
//! The body is `morgana_http::fuzz::request_head`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_http::fuzz::request_head(data));
