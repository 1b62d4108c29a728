//! The fuzz targets' bodies as ordinary tests: over the saved corpus (`fuzz/corpus/`) and every
//! prefix of it, then seeded pseudo-random inputs per target, half mutations of the corpus and
//! half noise biased towards the bytes that matter to HTTP.

use alloc::vec::Vec;

use crate::fuzz::TARGETS;

const CORPUS: [(&str, &[u8]); 10] = [
    (
        "request_head",
        include_bytes!("../../fuzz/corpus/request_head/get"),
    ),
    (
        "request_head",
        include_bytes!("../../fuzz/corpus/request_head/post_absolute"),
    ),
    (
        "request_head",
        include_bytes!("../../fuzz/corpus/request_head/te_fold"),
    ),
    (
        "request_head",
        include_bytes!("../../fuzz/corpus/request_head/pipelined"),
    ),
    (
        "request_head",
        include_bytes!("../../fuzz/corpus/request_head/response"),
    ),
    (
        "request_head",
        include_bytes!("../../fuzz/corpus/request_head/ranges"),
    ),
    (
        "chunked",
        include_bytes!("../../fuzz/corpus/chunked/two_chunks"),
    ),
    ("chunked", include_bytes!("../../fuzz/corpus/chunked/huge")),
    ("chunked", include_bytes!("../../fuzz/corpus/chunked/empty")),
    (
        "chunked",
        include_bytes!("../../fuzz/corpus/chunked/ext_trailers"),
    ),
];

const RANDOM_INPUTS: usize = 20_000;

/// Bytes that steer the parsers into their interesting states.
const ALPHABET: &[u8] = b"\r\n\r\n :;,=-/\t\"0123456789abcdefABCDEF\x00\x7f\xffGETHP1.";

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn body(target: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(name, _)| *name == target).unwrap().1
}

#[test]
fn the_corpus_and_its_prefixes_pass() {
    for (target, input) in CORPUS {
        for len in 0..=input.len() {
            body(target)(&input[..len]);
        }
    }
    // And the corpus parses as intended.
    let (head, _) = crate::parse::parse_request_bytes(CORPUS[1].1, &Default::default())
        .unwrap()
        .unwrap();
    assert!(head.expect_continue);
}

#[test]
fn seeded_random_inputs_pass() {
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for (name, target) in TARGETS {
        let seeds: Vec<&[u8]> = CORPUS
            .iter()
            .filter(|(t, _)| *t == name)
            .map(|(_, c)| *c)
            .collect();
        for i in 0..RANDOM_INPUTS {
            let input: Vec<u8> = if i % 2 == 0 {
                let mut v = seeds[rng.below(seeds.len())].to_vec();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(v.len() + 1);
                    match rng.below(4) {
                        0 if at < v.len() => v[at] = ALPHABET[rng.below(ALPHABET.len())],
                        1 if at < v.len() => {
                            v.remove(at);
                        }
                        2 => v.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
                        _ => v.truncate(at),
                    }
                }
                v
            } else {
                let len = rng.below(200);
                (0..len)
                    .map(|_| match rng.below(4) {
                        0 => rng.next() as u8,
                        _ => ALPHABET[rng.below(ALPHABET.len())],
                    })
                    .collect()
            };
            target(&input);
        }
    }
}
