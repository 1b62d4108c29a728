//! The Internet checksum against RFC 1071's and RFC 1624's worked examples and a naive
//! word-by-word reference.

extern crate std;

use super::XorShift;
use crate::wire::checksum::{combine, sum, update};

/// RFC 1071 §1's definition, word by word, with the carry folded at every step.
fn reference(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for pair in data.chunks(2) {
        let word = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
        acc += word;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[test]
fn rfc1071_example() {
    // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
    assert_eq!(
        sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0xddf2
    );
}

#[test]
fn odd_length_pads_with_zero() {
    assert_eq!(sum(&[0xab]), 0xab00);
    assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    assert_eq!(sum(&[]), 0);
}

#[test]
fn end_around_carry() {
    assert_eq!(sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
    assert_eq!(sum(&[0xff, 0xff, 0xff, 0xff]), 0xffff);
}

#[test]
fn matches_the_reference_on_random_data() {
    let mut rng = XorShift::new(0x1071);
    let mut buffer = [0u8; 600];
    for _ in 0..2000 {
        let len = rng.below(buffer.len() + 1);
        rng.fill(&mut buffer[..len]);
        assert_eq!(
            sum(&buffer[..len]),
            reference(&buffer[..len]),
            "length {len}"
        );
    }
}

#[test]
fn matches_the_reference_past_one_block() {
    // The fast sum folds every 2^20 bytes; cross that boundary with an odd tail.
    let mut rng = XorShift::new(7);
    let mut data = std::vec![0u8; (3 << 20) + 3];
    rng.fill(&mut data);
    assert_eq!(sum(&data), reference(&data));
    data.fill(0xff);
    assert_eq!(sum(&data), reference(&data));
}

#[test]
fn sums_of_even_runs_combine() {
    let mut rng = XorShift::new(3);
    let mut data = [0u8; 101];
    rng.fill(&mut data);
    for split in (0..=100).step_by(2) {
        assert_eq!(
            combine(&[sum(&data[..split]), sum(&data[split..])]),
            sum(&data)
        );
    }
}

#[test]
fn rfc1624_example() {
    // RFC 1624 §4: checksum 0xdd2f, a word changes from 0x5555 to 0x3285. Eqn. 3 gives 0x0000,
    // what recomputation gives; RFC 1141's eqn. 2 would give 0xffff.
    assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
}

#[test]
fn incremental_update_agrees_with_recomputation() {
    let mut rng = XorShift::new(1624);
    let mut data = [0u8; 40];
    for _ in 0..10_000 {
        rng.fill(&mut data);
        if rng.below(4) == 0 {
            // Sums near the all-ones boundary are where the forms differ.
            data[..38].fill(0);
        }
        let checksum = !sum(&data);
        let at = rng.below(20) * 2;
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        let new = rng.next_u32() as u16;
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        assert_eq!(update(checksum, old, new), !sum(&data), "{data:02x?}");
    }
}
