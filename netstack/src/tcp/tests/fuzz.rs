//! The fuzz body over seeded random inputs, and a long random-segment run checking invariants.

use alloc::vec::Vec;

use super::harness::XorShift;
use crate::tcp::fuzz_segment_sequence;

#[test]
fn ten_thousand_random_segments_keep_the_invariants() {
    // One input of 10,000 records of 17 bytes, plus the setup byte, for a few setups.
    for seed in 1..=4u64 {
        let mut rng = XorShift::new(seed);
        let mut input: Vec<u8> = (0..1 + 17 * 10_000).map(|_| rng.next() as u8).collect();
        input[0] = (seed as u8) * 0x1f;
        fuzz_segment_sequence(&input);
    }
}

#[test]
fn short_random_inputs() {
    let mut rng = XorShift::new(99);
    for _ in 0..2000 {
        let len = (rng.next() % 400) as usize;
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        fuzz_segment_sequence(&input);
    }
}
