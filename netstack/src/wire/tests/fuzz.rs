//! The fuzz targets' bodies as ordinary tests: over the captured frames and every prefix of
//! them, then 10,000 seeded pseudo-random inputs per target, half of them mutations of the
//! frames (so that they get past the length checks) and half plain noise.

use super::packets::{self, udp_fragment_middle};
use super::{ETH, XorShift, transport_of};
use crate::wire::fuzz::{self, TARGETS};

/// How many random inputs each target gets.
const RANDOM_INPUTS: usize = 10_000;

/// The input a target takes, cut from a whole frame: the frame for `ethernet`, the packet after
/// the Ethernet header for `arp` and `ipv4`, the ICMP message for `icmp`, and the pseudo-header
/// addresses followed by the segment for `udp` and `tcp` (written into `scratch`).
fn input_for<'a>(target: &str, frame: &'a [u8], scratch: &'a mut [u8; 2048]) -> Option<&'a [u8]> {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    match target {
        "ethernet" => Some(frame),
        "arp" => (ethertype == 0x0806).then(|| &frame[ETH..]),
        "ipv4" => (ethertype == 0x0800).then(|| &frame[ETH..]),
        _ if ethertype != 0x0800 => None,
        _ => {
            let protocol = frame[ETH + 9];
            let (src, dst, segment) = transport_of(frame);
            match (target, protocol) {
                ("icmp", 1) => Some(segment),
                ("udp", 17) | ("tcp", 6) => {
                    scratch[..4].copy_from_slice(&src.octets());
                    scratch[4..8].copy_from_slice(&dst.octets());
                    scratch[8..8 + segment.len()].copy_from_slice(segment);
                    Some(&scratch[..8 + segment.len()])
                }
                _ => None,
            }
        }
    }
}

#[test]
fn whole_frames_pass_every_body() {
    let middle = udp_fragment_middle();
    for frame in packets::ALL
        .iter()
        .map(|(_, frame)| *frame)
        .chain([&middle[..]])
    {
        for (target, body) in TARGETS {
            let mut scratch = [0u8; 2048];
            if let Some(input) = input_for(target, frame, &mut scratch) {
                body(input);
            }
        }
        // The frame parses down to its transport, and every assertion on the way holds.
        fuzz::ethernet(frame);
    }
}

#[test]
fn every_prefix_passes_every_body() {
    for (_, frame) in packets::ALL {
        for (target, body) in TARGETS {
            let mut scratch = [0u8; 2048];
            if let Some(input) = input_for(target, frame, &mut scratch) {
                for len in 0..=input.len() {
                    body(&input[..len]);
                }
            }
        }
    }
}

/// Changes `input` in place the ways a fuzzer would, and returns the length to keep.
pub(super) fn mutate(rng: &mut XorShift, input: &mut [u8], len: usize) -> usize {
    let mut len = len;
    for _ in 0..1 + rng.below(4) {
        if len == 0 {
            break;
        }
        let at = rng.below(len);
        match rng.below(6) {
            0 => input[at] ^= 1 << rng.below(8),
            1 => input[at] = rng.next_u64() as u8,
            2 => {
                input[at] =
                    [0x00, 0x01, 0x02, 0x05, 0x08, 0x0a, 0x45, 0x7f, 0x80, 0xff][rng.below(10)]
            }
            3 => len = at,
            4 => {
                let end = (at + 1 + rng.below(8)).min(len);
                input[at..end].fill(0xff);
            }
            _ => {
                // Grow with noise, up to the buffer's size.
                let grow = rng.below(16).min(input.len() - len);
                rng.fill(&mut input[len..len + grow]);
                len += grow;
            }
        }
    }
    len
}

#[test]
fn seeded_random_inputs_pass_every_body() {
    for (index, (target, body)) in TARGETS.into_iter().enumerate() {
        let mut rng = XorShift::new(0x006d_6f72_6761_6e61 + index as u64);
        let corpus: [Option<([u8; 2048], usize)>; packets::ALL.len()] = core::array::from_fn(|i| {
            let mut scratch = [0u8; 2048];
            let input = input_for(target, packets::ALL[i].1, &mut scratch)?;
            let mut copy = [0u8; 2048];
            copy[..input.len()].copy_from_slice(input);
            Some((copy, input.len()))
        });
        let seeds: usize = corpus.iter().flatten().count();
        assert!(seeds > 0, "{target} has seeds");
        for _ in 0..RANDOM_INPUTS {
            let mut buffer = [0u8; 2048];
            let len = if rng.below(2) == 0 {
                // A mutation of a captured input for this target.
                let (seed, seed_len) = corpus.iter().flatten().nth(rng.below(seeds)).unwrap();
                buffer = *seed;
                mutate(&mut rng, &mut buffer[..seed_len + 64], *seed_len)
            } else {
                let len = rng.below(160);
                rng.fill(&mut buffer[..len]);
                len
            };
            body(&buffer[..len]);
        }
    }
}

#[test]
fn random_option_bytes() {
    let mut rng = XorShift::new(7323);
    for _ in 0..RANDOM_INPUTS {
        let mut bytes = [0u8; 44];
        let len = rng.below(bytes.len());
        rng.fill(&mut bytes[..len]);
        // Bias towards the kinds that have meaning, with small lengths.
        for b in bytes[..len].iter_mut().step_by(3) {
            if rng.below(2) == 0 {
                *b = [0, 1, 2, 3, 4, 5, 8, 10, 18, 34][rng.below(10)];
            }
        }
        fuzz::tcp_options(&bytes[..len]);
    }
}
