//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! A sequence number is a position in a stream that wraps, so `a < b` means "`a` comes before
//! `b`", which holds iff `b - a`, taken modulo 2^32, is in `1..2^31`. Two numbers exactly 2^31
//! apart are neither before nor after each other; [`SeqNumber`] is therefore `PartialOrd` and not
//! `Ord`, and `partial_cmp` returns `None` for them, so that no sort or `max` silently picks one.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence or acknowledgment number, with wrapping arithmetic and RFC 9293 §3.4
/// comparisons.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self + n`, modulo 2^32.
    pub const fn wrapping_add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// `self - n`, modulo 2^32.
    pub const fn wrapping_sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }

    /// The signed distance from `other` to `self`: positive when `self` is after `other`. Two
    /// numbers 2^31 apart give `i32::MIN` both ways.
    pub const fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two numbers (`self` when they are equal or incomparable).
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if other > self { other } else { self }
    }

    /// The earlier of two numbers (`self` when they are equal or incomparable).
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if other < self { other } else { self }
    }

    /// Whether `start <= self < end` in sequence space (the window `[start, end)` of RFC 9293
    /// §3.4's acceptability tests). An empty or inverted window holds nothing.
    pub fn in_range(self, start: SeqNumber, end: SeqNumber) -> bool {
        self >= start && self < end
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        match self.diff(*other) {
            0 => Some(Ordering::Equal),
            i32::MIN => None,
            d if d < 0 => Some(Ordering::Less),
            _ => Some(Ordering::Greater),
        }
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, n: u32) -> SeqNumber {
        self.wrapping_add(n)
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, n: u32) {
        *self = self.wrapping_add(n);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, n: u32) -> SeqNumber {
        self.wrapping_sub(n)
    }
}

impl SubAssign<u32> for SeqNumber {
    fn sub_assign(&mut self, n: u32) {
        *self = self.wrapping_sub(n);
    }
}

/// `a - b` is the signed distance [`SeqNumber::diff`].
impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    fn sub(self, other: SeqNumber) -> i32 {
        self.diff(other)
    }
}

impl From<u32> for SeqNumber {
    fn from(n: u32) -> Self {
        SeqNumber(n)
    }
}

impl From<SeqNumber> for u32 {
    fn from(s: SeqNumber) -> Self {
        s.0
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
