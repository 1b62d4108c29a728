//! The shared_info page: vCPU 0's upcall flags and pvclock, the event-channel bits, the wall
//! clock.
//!
//! Ref: `xen.h` (`struct shared_info`, `struct vcpu_info`, `struct vcpu_time_info`) and
//! `arch-x86/xen.h`. On x86_64 (`xen_ulong_t` = 64 bits, 32 legacy vCPUs):
//!
//! ```text
//! offset  shared_info                          vcpu_info (64 bytes each, vCPU n at 64 * n)
//!      0  vcpu_info[32]                        0  u8  evtchn_upcall_pending
//!   2048  u64 evtchn_pending[64]               1  u8  evtchn_upcall_mask
//!   2560  u64 evtchn_mask[64]                  8  u64 evtchn_pending_sel
//!   3072  u32 wc_version                      16  arch (cr2, pad)
//!   3076  u32 wc_sec                          32  vcpu_time_info: u32 version, u32 pad,
//!   3080  u32 wc_nsec                             u64 tsc_timestamp, u64 system_time,
//!   3084  u32 wc_sec_hi                           u32 tsc_to_system_mul, i8 tsc_shift, u8 flags
//! ```
//!
//! Xen writes this page concurrently (from another physical CPU), so every field is read and
//! written through atomics; the versioned records (time, wall clock) are read like a seqlock.

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

const VCPU_INFO_SIZE: usize = 64;
const UPCALL_PENDING: usize = 0;
const UPCALL_MASK: usize = 1;
const PENDING_SEL: usize = 8;
const TIME: usize = 32;
const EVTCHN_PENDING: usize = 2048;
const EVTCHN_MASK: usize = 2560;
const WC_VERSION: usize = 3072;
const WC_SEC: usize = 3076;
const WC_NSEC: usize = 3080;
const WC_SEC_HI: usize = 3084;

/// Words of pending (and mask) bits: 64 x 64 = 4096 ports in the 2-level ABI.
pub const EVTCHN_WORDS: usize = 64;

/// The shared_info page.
#[derive(Clone, Copy, Debug)]
pub struct SharedInfo {
    base: *mut u8,
}

impl SharedInfo {
    /// The page at `base`.
    ///
    /// # Safety
    ///
    /// `base` points to 4096 bytes, 8-aligned, that stay mapped and are written by nothing but
    /// Xen and this type (the shared_info page, or in tests a page of ordinary memory).
    pub unsafe fn new(base: *mut u8) -> SharedInfo {
        SharedInfo { base }
    }

    fn u8_at(&self, offset: usize) -> &AtomicU8 {
        // SAFETY: `offset` < 4096 (the constants above); the page is valid for the type's
        // lifetime (constructor's contract) and only accessed atomically.
        unsafe { AtomicU8::from_ptr(self.base.add(offset)) }
    }

    fn u32_at(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: as `u8_at`; every u32 offset used is 4-aligned and the page 8-aligned.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    fn u64_at(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: as `u8_at`; every u64 offset used is 8-aligned.
        unsafe { AtomicU64::from_ptr(self.base.add(offset).cast()) }
    }

    /// vCPU `n`'s `evtchn_upcall_pending`.
    pub fn upcall_pending(&self, vcpu: usize) -> &AtomicU8 {
        self.u8_at(vcpu * VCPU_INFO_SIZE + UPCALL_PENDING)
    }

    /// vCPU `n`'s `evtchn_upcall_mask`.
    pub fn upcall_mask(&self, vcpu: usize) -> &AtomicU8 {
        self.u8_at(vcpu * VCPU_INFO_SIZE + UPCALL_MASK)
    }

    /// vCPU `n`'s `evtchn_pending_sel`: bit `w` set = word `w` of the pending bits has news.
    pub fn pending_sel(&self, vcpu: usize) -> &AtomicU64 {
        self.u64_at(vcpu * VCPU_INFO_SIZE + PENDING_SEL)
    }

    /// Word `w` (< [`EVTCHN_WORDS`]) of the pending bits: port `64 * w + b` is bit `b`.
    pub fn evtchn_pending(&self, w: usize) -> &AtomicU64 {
        self.u64_at(EVTCHN_PENDING + 8 * (w % EVTCHN_WORDS))
    }

    /// Word `w` of the mask bits.
    pub fn evtchn_mask(&self, w: usize) -> &AtomicU64 {
        self.u64_at(EVTCHN_MASK + 8 * (w % EVTCHN_WORDS))
    }

    /// vCPU `n`'s time record, read consistently.
    pub fn time(&self, vcpu: usize) -> VcpuTime {
        let at = vcpu * VCPU_INFO_SIZE + TIME;
        loop {
            let v1 = self.u32_at(at).load(Ordering::Acquire);
            let t = VcpuTime {
                tsc_timestamp: self.u64_at(at + 8).load(Ordering::Relaxed),
                system_time: self.u64_at(at + 16).load(Ordering::Relaxed),
                tsc_to_system_mul: self.u32_at(at + 24).load(Ordering::Relaxed),
                tsc_shift: self.u8_at(at + 28).load(Ordering::Relaxed) as i8,
            };
            fence(Ordering::Acquire);
            if v1 & 1 == 0 && self.u32_at(at).load(Ordering::Relaxed) == v1 {
                return t;
            }
            core::hint::spin_loop();
        }
    }

    /// The wall clock at Xen system time 0, in nanoseconds since the Unix epoch, read
    /// consistently; `None` while the toolstack has not set it (all zero).
    pub fn wall_clock_base(&self) -> Option<u128> {
        loop {
            let v1 = self.u32_at(WC_VERSION).load(Ordering::Acquire);
            let sec = u64::from(self.u32_at(WC_SEC).load(Ordering::Relaxed))
                | (u64::from(self.u32_at(WC_SEC_HI).load(Ordering::Relaxed)) << 32);
            let nsec = self.u32_at(WC_NSEC).load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if v1 & 1 == 0 && self.u32_at(WC_VERSION).load(Ordering::Relaxed) == v1 {
                return (sec != 0 || nsec != 0)
                    .then(|| u128::from(sec) * 1_000_000_000 + u128::from(nsec));
            }
            core::hint::spin_loop();
        }
    }
}

/// A vCPU's `vcpu_time_info`: how Xen system time (nanoseconds since the host booted) follows
/// from the TSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuTime {
    /// The TSC when `system_time` was taken.
    pub tsc_timestamp: u64,
    /// Xen system time at `tsc_timestamp`.
    pub system_time: u64,
    /// TSC ticks (after the shift) to nanoseconds, as a 32.32 fixed-point factor.
    pub tsc_to_system_mul: u32,
    /// Shift applied to a TSC delta before the multiplication (negative: right shift).
    pub tsc_shift: i8,
}

impl VcpuTime {
    /// Xen system time at TSC value `tsc` (the pvclock formula, `xen.h`):
    /// `system_time + ((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32`.
    /// A `tsc` before `tsc_timestamp` gives a time before `system_time`.
    pub fn system_time_at(&self, tsc: u64) -> u64 {
        let (delta, behind) = if tsc >= self.tsc_timestamp {
            (tsc - self.tsc_timestamp, false)
        } else {
            (self.tsc_timestamp - tsc, true)
        };
        let nanos = self.scale(delta);
        if behind {
            self.system_time.saturating_sub(nanos)
        } else {
            self.system_time.saturating_add(nanos)
        }
    }

    /// TSC ticks to nanoseconds.
    pub fn scale(&self, ticks: u64) -> u64 {
        let shifted = if self.tsc_shift >= 0 {
            ticks << self.tsc_shift.min(63)
        } else {
            ticks >> (-i16::from(self.tsc_shift)).min(63)
        };
        ((u128::from(shifted) * u128::from(self.tsc_to_system_mul)) >> 32) as u64
    }

    /// The TSC's frequency in Hz: `((10^9 << 32) / mul) >> shift` (or `<<` for a negative
    /// shift); 0 for a record Xen has not filled.
    pub fn tsc_hz(&self) -> u64 {
        if self.tsc_to_system_mul == 0 {
            return 0;
        }
        let hz = (1_000_000_000u128 << 32) / u128::from(self.tsc_to_system_mul);
        let hz = if self.tsc_shift >= 0 {
            hz >> self.tsc_shift.min(63)
        } else {
            hz << (-i16::from(self.tsc_shift)).min(63)
        };
        hz.min(u128::from(u64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    fn page() -> Box<Page> {
        Box::new(Page([0; 4096]))
    }

    #[test]
    fn pvclock_scales_ticks() {
        // A 2 GHz TSC: ticks >> 1 is nanoseconds; as Xen encodes it, shift -1, mul 2^32 - 1
        // would lose a bit, so take shift 0 and mul 2^31 (x 0.5).
        let t = VcpuTime {
            tsc_timestamp: 1_000,
            system_time: 5_000_000,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 0,
        };
        assert_eq!(t.system_time_at(1_000), 5_000_000);
        assert_eq!(t.system_time_at(3_000), 5_001_000);
        assert_eq!(t.system_time_at(0), 4_999_500);
        assert_eq!(t.tsc_hz(), 2_000_000_000);
        // The same clock with a shift: (ticks >> 1) * 2^32 >> 32... mul must stay < 2^32, so
        // a 500 MHz TSC is shift +1, mul 2^32 - 1 (x ~2).
        let slow = VcpuTime {
            tsc_timestamp: 0,
            system_time: 0,
            tsc_to_system_mul: u32::MAX,
            tsc_shift: 1,
        };
        assert_eq!(slow.system_time_at(500_000_000), 999_999_999);
        assert_eq!(slow.tsc_hz(), 500_000_000);
        let huge = VcpuTime {
            tsc_shift: -2,
            ..slow
        };
        assert_eq!(huge.scale(4), 0); // (4 >> 2) * (2^32-1) >> 32
    }

    #[test]
    fn reads_the_layout() {
        let mut p = page();
        // vCPU 1's time record at 64 + 32.
        let put = |b: &mut [u8; 4096], off: usize, bytes: &[u8]| {
            b[off..off + bytes.len()].copy_from_slice(bytes)
        };
        put(&mut p.0, 64 + 32, &2u32.to_le_bytes());
        put(&mut p.0, 64 + 40, &77u64.to_le_bytes());
        put(&mut p.0, 64 + 48, &88u64.to_le_bytes());
        put(&mut p.0, 64 + 56, &99u32.to_le_bytes());
        put(&mut p.0, 64 + 60, &[0xfe]);
        put(&mut p.0, 3076, &1_700_000_000u32.to_le_bytes());
        put(&mut p.0, 3080, &5u32.to_le_bytes());
        let base = p.0.as_mut_ptr();
        // SAFETY: a page of our own, 4096-aligned, alive for the test.
        let s = unsafe { SharedInfo::new(base) };
        assert_eq!(
            s.time(1),
            VcpuTime {
                tsc_timestamp: 77,
                system_time: 88,
                tsc_to_system_mul: 99,
                tsc_shift: -2
            }
        );
        assert_eq!(s.wall_clock_base(), Some(1_700_000_000_000_000_005));
        s.evtchn_pending(1).store(1 << 3, Ordering::Relaxed);
        s.pending_sel(0).store(2, Ordering::Relaxed);
        s.upcall_pending(0).store(1, Ordering::Relaxed);
        assert_eq!(p.0[2048 + 8], 8);
        assert_eq!(p.0[8], 2);
        assert_eq!(p.0[0], 1);
    }
}
