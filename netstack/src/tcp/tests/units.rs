//! The small parts: SipHash, ISNs, the ring, the reassembly ranges, the RTO estimator.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::harness::{A, B};
use crate::tcp::buffer::RingBuffer;
use crate::tcp::isn::{IsnGenerator, siphash24};
use crate::tcp::reassembly::Assembler;
use crate::tcp::rto::RttEstimator;
use crate::wire::SeqNumber;
use morgana_executor::Instant;

#[test]
fn siphash_reference_vectors() {
    // From the SipHash paper's reference implementation (vectors.h): key 00..0f, message
    // 00..(n-1).
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let msg: [u8; 64] = core::array::from_fn(|i| i as u8);
    assert_eq!(siphash24(&key, &msg[..0]), 0x726f_db47_dd0e_0e31);
    assert_eq!(siphash24(&key, &msg[..1]), 0x74f8_39c5_93dc_67fd);
    assert_eq!(siphash24(&key, &msg[..15]), 0xa129_ca61_49be_45e5);
}

#[test]
fn isns_differ_by_tuple_and_advance_with_time() {
    let g = IsnGenerator::new([9; 16]);
    let t = Instant::from_nanos(1_000_000);
    let x = g.isn(A, B, t);
    assert_ne!(x, g.isn(B, A, t));
    assert_eq!(g.isn(A, B, t + Duration::from_micros(400)), x + 100);
    assert_ne!(x, IsnGenerator::new([8; 16]).isn(A, B, t));
}

#[test]
fn ring_wraps_and_writes_ahead() {
    let mut r = RingBuffer::new(8);
    assert_eq!(r.push(b"abcdef"), 6);
    let mut out = [0; 4];
    assert_eq!(r.pop(&mut out), 4);
    assert_eq!(&out, b"abcd");
    assert_eq!(r.push(b"ghijklmn"), 6);
    assert_eq!(r.free(), 0);
    let (x, y) = r.slices(0, 8);
    assert_eq!([x, y].concat(), b"efghijkl");
    let mut r = RingBuffer::new(8);
    assert_eq!(r.write_ahead(3, b"xyz"), 3);
    assert_eq!(r.write_ahead(6, b"123"), 2);
    assert_eq!(r.push(b"abc"), 3);
    r.commit(3);
    assert_eq!(r.len(), 6);
    let mut out = [0; 8];
    assert_eq!(r.pop(&mut out), 6);
    assert_eq!(&out[..6], b"abcxyz");
    // Emptied, the ring keeps the position of bytes written ahead.
    assert_eq!(r.write_ahead(1, b"Q"), 1);
    assert_eq!(r.push(b"P"), 1);
    r.commit(1);
    assert_eq!(r.pop(&mut out), 2);
    assert_eq!(&out[..2], b"PQ");
    let mut empty = RingBuffer::new(0);
    assert_eq!(empty.push(b"x"), 0);
    assert_eq!(empty.pop(&mut out), 0);
    assert_eq!(empty.write_ahead(0, b"x"), 0);
}

#[test]
fn ring_memory_follows_use_and_is_given_back_when_empty() {
    use crate::tcp::buffer::MIN_STORAGE;
    let mut r = RingBuffer::new(64 * 1024);
    assert_eq!(r.allocated(), 0, "an idle ring holds no memory");
    assert_eq!(r.push(b"hello"), 5);
    assert_eq!(r.allocated(), MIN_STORAGE);
    // Out-of-order bytes far ahead grow it, and survive a growth that re-lays the ring out.
    let mut out = [0; 5];
    assert_eq!(r.pop(&mut out[..3]), 3);
    assert_eq!(r.write_ahead(10_000, b"later"), 5);
    assert!(r.allocated() >= 10_007 && r.allocated() <= 64 * 1024);
    assert_eq!(r.pop(&mut out[..2]), 2);
    assert_eq!(&out[..2], b"lo");
    assert!(r.allocated() > 0, "bytes written ahead keep their storage");
    r.commit(0);
    assert_eq!(r.write_ahead(0, &[b'x'; 10_000]), 10_000);
    r.commit(10_005);
    let mut all = vec![0; 10_005];
    assert_eq!(r.pop(&mut all), 10_005);
    assert_eq!(&all[10_000..], b"later");
    assert_eq!(r.allocated(), 0, "empty again: the memory went back");
    // Never beyond the limit.
    let mut small = RingBuffer::new(3000);
    assert_eq!(small.push(&[1; 5000]), 3000);
    assert_eq!(small.allocated(), 3000);
}

/// The ring against a plain model, over seeded random operations that wrap, grow and empty it.
#[test]
fn ring_agrees_with_a_model() {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut rnd = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for cap in [1, 7, 100, 5000, 70_000] {
        let mut r = RingBuffer::new(cap);
        // The model: contents, and bytes written ahead at offsets from the tail.
        let mut held: alloc::collections::VecDeque<u8> = Default::default();
        let mut ahead: alloc::collections::BTreeMap<usize, u8> = Default::default();
        for step in 0..3000 {
            match rnd(4) {
                0 => {
                    let data: Vec<u8> = (0..rnd(cap * 2 + 1)).map(|_| rnd(256) as u8).collect();
                    let n = r.push(&data);
                    assert_eq!(n, data.len().min(cap - held.len()));
                    held.extend(&data[..n]);
                    // A push overwrites what was ahead and shifts the rest down.
                    ahead = ahead
                        .into_iter()
                        .filter(|&(o, _)| o >= n)
                        .map(|(o, b)| (o - n, b))
                        .collect();
                }
                1 => {
                    let mut buf = vec![0; rnd(cap + 1)];
                    let n = r.pop(&mut buf);
                    assert_eq!(n, buf.len().min(held.len()));
                    let expect: Vec<u8> = held.drain(..n).collect();
                    assert_eq!(&buf[..n], &expect[..], "step {step}");
                }
                2 => {
                    let offset = rnd(cap + 1);
                    let data: Vec<u8> = (0..rnd(cap + 1)).map(|_| rnd(256) as u8).collect();
                    let n = r.write_ahead(offset, &data);
                    let free = cap - held.len();
                    assert_eq!(
                        n,
                        if offset >= free {
                            0
                        } else {
                            data.len().min(free - offset)
                        }
                    );
                    for (i, &b) in data[..n].iter().enumerate() {
                        ahead.insert(offset + i, b);
                    }
                }
                _ => {
                    // Commit the run of bytes written ahead that starts at the tail.
                    let mut n = 0;
                    while ahead.contains_key(&n) {
                        n += 1;
                    }
                    r.commit(n);
                    for i in 0..n {
                        held.push_back(ahead[&i]);
                    }
                    ahead = ahead
                        .into_iter()
                        .filter(|&(o, _)| o >= n)
                        .map(|(o, b)| (o - n, b))
                        .collect();
                }
            }
            assert_eq!(r.len(), held.len());
            let (a, b) = r.slices(0, cap);
            assert!([a, b].concat() == held.iter().copied().collect::<Vec<_>>());
            assert!(r.allocated() <= cap);
            if held.is_empty() && ahead.is_empty() {
                assert_eq!(r.allocated(), 0, "step {step}: empty rings hold nothing");
            }
        }
    }
}

#[test]
fn assembler_merges_and_bounds() {
    let s = |n: u32| SeqNumber(n.wrapping_add(u32::MAX - 50));
    let mut a = Assembler::new(3);
    a.insert(s(10), s(20)).unwrap();
    a.insert(s(30), s(40)).unwrap();
    a.insert(s(50), s(60)).unwrap();
    assert!(
        a.insert(s(70), s(80)).is_err(),
        "a fourth range does not fit"
    );
    // Touching and overlapping ranges merge, so this one fits.
    a.insert(s(20), s(30)).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(
        a.sack_blocks()[0],
        Some((s(10), s(40))),
        "most recent first"
    );
    assert_eq!(a.sack_blocks()[1], Some((s(50), s(60))));
    a.insert(s(5), s(65)).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a.pop_contiguous(s(0)), None);
    assert_eq!(a.pop_contiguous(s(5)), Some(s(65)));
    assert!(a.is_empty());
}

#[test]
fn rto_follows_rfc6298() {
    let ms = Duration::from_millis;
    let mut r = RttEstimator::new(ms(1000), ms(200), ms(60_000));
    assert_eq!(r.rto(), ms(1000));
    r.sample(ms(100));
    // SRTT 100, RTTVAR 50: RTO = 100 + 4·50 = 300.
    assert_eq!(r.rto(), ms(300));
    r.back_off();
    assert_eq!(r.rto(), ms(600));
    for _ in 0..20 {
        r.back_off();
    }
    assert_eq!(r.rto(), ms(60_000));
    r.sample(ms(100));
    // RTTVAR 3/4·50 = 37.5, SRTT 100: 250.
    assert_eq!(r.rto(), Duration::from_micros(250_000));
    let mut r = RttEstimator::new(ms(1000), ms(200), ms(60_000));
    r.sample(ms(1));
    assert_eq!(r.rto(), ms(200), "the minimum");
}
