//! A window of device registers, accessed with single volatile loads and stores.
//!
//! Every access is bounds- and alignment-checked against the window, so an offset that came
//! from the device (a PCI capability, a config-space offset) can never reach outside it: an
//! out-of-range read returns all ones (as a PCI master abort does) and an out-of-range write is
//! dropped. Callers that must report such accesses check [`IoRegion::fits`] first.
//!
//! All virtio registers are little-endian (virtio 1.2, 4.1.3 and 4.2.2).

use core::ptr::NonNull;

/// `len` bytes of device registers at `base`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoRegion {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the window is device registers (`new`'s contract), not memory tied to a thread:
// volatile accesses to them are as valid from one CPU as from another. (Register *sequences*,
// such as select-then-read, are kept together by `&mut self` on the transports that use them.)
unsafe impl Send for IoRegion {}

impl IoRegion {
    /// A window of `len` bytes at `base`.
    ///
    /// # Safety
    ///
    /// `[base, base + len)` is mapped, valid for volatile reads and writes of 1, 2 and 4 bytes at
    /// naturally aligned addresses, for as long as this region or any copy of it is used; and
    /// such accesses affect no memory the program uses other than through the device (it is
    /// device memory, or in tests memory reserved for playing the device).
    pub(crate) unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        IoRegion { base, len }
    }

    /// Whether a `width`-byte access at `offset` is inside the window and naturally aligned.
    pub(crate) fn fits(&self, offset: usize, width: usize) -> bool {
        let aligned = (self.base.as_ptr() as usize).wrapping_add(offset) % width == 0;
        aligned && offset.checked_add(width).is_some_and(|end| end <= self.len)
    }

    fn at<T>(&self, offset: usize) -> Option<*mut T> {
        self.fits(offset, size_of::<T>())
            .then(|| self.base.as_ptr().wrapping_add(offset).cast::<T>())
    }

    pub(crate) fn read8(&self, offset: usize) -> u8 {
        match self.at::<u8>(offset) {
            // SAFETY: in the window and aligned (`at`), which `new`'s caller vouched for.
            Some(p) => unsafe { p.read_volatile() },
            None => u8::MAX,
        }
    }

    pub(crate) fn read16(&self, offset: usize) -> u16 {
        match self.at::<u16>(offset) {
            // SAFETY: in the window and aligned (`at`), which `new`'s caller vouched for.
            Some(p) => u16::from_le(unsafe { p.read_volatile() }),
            None => u16::MAX,
        }
    }

    pub(crate) fn read32(&self, offset: usize) -> u32 {
        match self.at::<u32>(offset) {
            // SAFETY: in the window and aligned (`at`), which `new`'s caller vouched for.
            Some(p) => u32::from_le(unsafe { p.read_volatile() }),
            None => u32::MAX,
        }
    }

    pub(crate) fn write8(&self, offset: usize, value: u8) {
        if let Some(p) = self.at::<u8>(offset) {
            // SAFETY: in the window and aligned (`at`), which `new`'s caller vouched for.
            unsafe { p.write_volatile(value) }
        }
    }

    pub(crate) fn write16(&self, offset: usize, value: u16) {
        if let Some(p) = self.at::<u16>(offset) {
            // SAFETY: in the window and aligned (`at`), which `new`'s caller vouched for.
            unsafe { p.write_volatile(value.to_le()) }
        }
    }

    pub(crate) fn write32(&self, offset: usize, value: u32) {
        if let Some(p) = self.at::<u32>(offset) {
            // SAFETY: in the window and aligned (`at`), which `new`'s caller vouched for.
            unsafe { p.write_volatile(value.to_le()) }
        }
    }

    /// Writes a 64-bit field as two 32-bit halves, low first (virtio 1.2, 4.1.3: "64-bit fields
    /// are to be treated as two 32-bit fields").
    pub(crate) fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset.wrapping_add(4), (value >> 32) as u32);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;

    #[test]
    fn accesses_are_bounded_and_aligned() {
        let mut mem = vec![0u32; 4];
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `mem` is 16 bytes the test owns and outlives `io`.
        let io = unsafe { IoRegion::new(base, 16) };
        io.write32(0, 0x1122_3344);
        io.write16(6, 0xabcd);
        io.write8(9, 0x5a);
        assert_eq!(io.read32(0), 0x1122_3344);
        assert_eq!(io.read8(1), 0x33);
        assert_eq!(io.read16(6), 0xabcd);
        assert_eq!(io.read8(9), 0x5a);
        io.write64(8, 0x0102_0304_0506_0708);
        assert_eq!(io.read32(8), 0x0506_0708);
        assert_eq!(io.read32(12), 0x0102_0304);

        // Out of range or misaligned: all ones, writes dropped, no panic.
        assert_eq!(io.read32(16), u32::MAX);
        assert_eq!(io.read32(2), u32::MAX);
        assert_eq!(io.read16(15), u16::MAX);
        assert_eq!(io.read8(usize::MAX), u8::MAX);
        io.write32(14, 0);
        io.write32(usize::MAX - 1, 0);
        assert!(!io.fits(usize::MAX, 4));
        assert_eq!(mem, [0x1122_3344, 0xabcd_0000, 0x0506_0708, 0x0102_0304]);
    }
}
