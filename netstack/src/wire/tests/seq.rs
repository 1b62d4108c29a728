//! Sequence-number arithmetic and comparison across the 2^32 wrap (RFC 9293 §3.4).

// These tests check each comparison operator on its own, including the pairs that a total order
// would make redundant: for incomparable numbers they are not.
#![allow(
    clippy::nonminimal_bool,
    clippy::double_comparisons,
    clippy::neg_cmp_op_on_partial_ord
)]

use core::cmp::Ordering;

use super::XorShift;
use crate::wire::SeqNumber;

#[test]
fn addition_and_subtraction_wrap() {
    assert_eq!(SeqNumber(u32::MAX) + 1, SeqNumber(0));
    assert_eq!(SeqNumber(u32::MAX - 1).wrapping_add(5), SeqNumber(3));
    assert_eq!(SeqNumber(0) - 1, SeqNumber(u32::MAX));
    assert_eq!(SeqNumber(2).wrapping_sub(3), SeqNumber(u32::MAX));
    let mut s = SeqNumber(u32::MAX);
    s += 2;
    assert_eq!(s, SeqNumber(1));
    s -= 2;
    assert_eq!(s, SeqNumber(u32::MAX));
}

#[test]
fn order_across_the_wrap() {
    let before = SeqNumber(u32::MAX - 10);
    let after = SeqNumber(5);
    assert!(before < after);
    assert!(after > before);
    assert!(before <= after && after >= before);
    assert_eq!(after - before, 16);
    assert_eq!(before - after, -16);
    assert_eq!(after.diff(before), 16);
    assert_eq!(before.partial_cmp(&after), Some(Ordering::Less));
    assert_eq!(before.max(after), after);
    assert_eq!(after.max(before), after);
    assert_eq!(before.min(after), before);
}

#[test]
fn equal_numbers() {
    let s = SeqNumber(1234);
    assert_eq!(s.partial_cmp(&s), Some(Ordering::Equal));
    assert!(s <= s && s >= s && !(s < s));
    assert_eq!(s - s, 0);
}

#[test]
fn half_the_space_apart_is_incomparable() {
    let a = SeqNumber(100);
    let b = a + (1 << 31);
    assert_eq!(a.partial_cmp(&b), None);
    assert_eq!(b.partial_cmp(&a), None);
    assert!(!(a < b) && !(a > b) && !(b < a) && !(b > a) && a != b);
    assert_eq!(a - b, i32::MIN);
    // max and min keep the receiver rather than pick one arbitrarily.
    assert_eq!(a.max(b), a);
    assert_eq!(b.min(a), b);
    // One less than half the space is still ordered, both ways round.
    let c = a + ((1 << 31) - 1);
    assert!(a < c && c > a);
    assert_eq!(c - a, i32::MAX);
    let d = a - ((1 << 31) - 1);
    assert!(d < a);
}

#[test]
fn windows_across_the_wrap() {
    let start = SeqNumber(u32::MAX - 100);
    let end = start + 1000;
    assert!(start.in_range(start, end));
    assert!(SeqNumber(0).in_range(start, end));
    assert!(SeqNumber(898).in_range(start, end));
    assert!(!SeqNumber(899).in_range(start, end), "end is excluded");
    assert!(!SeqNumber(u32::MAX - 101).in_range(start, end));
    assert!(
        !start.in_range(start, start),
        "an empty window holds nothing"
    );
    assert!(
        !start.in_range(end, start),
        "an inverted window holds nothing"
    );
}

#[test]
fn order_agrees_with_distance_everywhere() {
    let mut rng = XorShift::new(9293);
    for _ in 0..10_000 {
        let a = SeqNumber(rng.next_u32());
        let d = rng.next_u32() % (1 << 31);
        let b = a + d;
        assert_eq!(b - a, d as i32);
        if d == 0 {
            assert_eq!(a, b);
        } else {
            assert!(a < b && b > a, "{a} {b}");
            assert_eq!(a.partial_cmp(&b), b.partial_cmp(&a).map(Ordering::reverse));
        }
    }
}

#[test]
fn formats() {
    extern crate std;
    use std::format;
    assert_eq!(format!("{}", SeqNumber(42)), "42");
    assert_eq!(format!("{:?}", SeqNumber(42)), "SeqNumber(42)");
    assert_eq!(u32::from(SeqNumber::from(7)), 7);
}
