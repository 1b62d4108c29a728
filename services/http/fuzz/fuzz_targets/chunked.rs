//! Fuzz target: a chunked body, decoded whole and in pieces.
//!
//! The body is `morgana_http::fuzz::chunked`, which the stable tests also run.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| morgana_http::fuzz::chunked(data));
