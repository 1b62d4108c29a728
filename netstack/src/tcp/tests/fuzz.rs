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

#[test]
fn random_sack_blocks_keep_the_scoreboard_sound() {
    // SACK and timestamps negotiated (setup bits 2 and 3), Nagle off; most records carry
    // SACK blocks near SND.UNA (the fuzz body checks the scoreboard after every record).
    for seed in 10..=17u64 {
        let mut rng = XorShift::new(seed);
        let mut input: Vec<u8> = (0..1 + 17 * 5_000).map(|_| rng.next() as u8).collect();
        input[0] = 0x1c | ((seed as u8 & 3) << 5);
        for record in input[1..].chunks_mut(17) {
            // Mostly offsets (not raw values), mostly SACK blocks, often data to send.
            record[1] = (record[1] & 0x7c) | 0x10;
            if record[16] & 0x30 == 0 {
                record[16] &= 0xf8;
            }
        }
        fuzz_segment_sequence(&input);
    }
}
