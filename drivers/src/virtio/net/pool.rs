//! A pool of fixed-size DMA buffers carved out of one page-aligned allocation, and who holds
//! each: the driver (it may read and write it) or the device (hands off).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::virtio::Error;
use crate::virtio::dma::Dma;
use crate::virtio::hal::{Hal, PAGE_SIZE};
use crate::virtio::queue::Segment;

/// The size of each buffer: two per page, room for the 12-byte header and a 1518-byte frame.
pub const BUFFER_SIZE: usize = 2048;

/// `count` buffers of [`BUFFER_SIZE`] bytes in DMA memory.
///
/// Dropping it frees the memory: the owner resets the device first.
pub struct BufferPool<H: Hal> {
    dma: Dma<H>,
    /// Whether each buffer is lent to the device (in a virtqueue chain).
    lent: Vec<bool>,
}

impl<H: Hal> BufferPool<H> {
    /// Allocates `count` buffers, all held by the driver.
    pub fn new(count: u16) -> Result<Self, Error> {
        let pages = (usize::from(count) * BUFFER_SIZE)
            .div_ceil(PAGE_SIZE)
            .max(1);
        Ok(BufferPool {
            dma: Dma::new(pages)?,
            lent: vec![false; usize::from(count)],
        })
    }

    /// The number of buffers.
    pub fn count(&self) -> u16 {
        // `new` took a u16.
        self.lent.len() as u16
    }

    /// Lends the first `len` bytes of buffer `index` to the device: the segment to put in a
    /// chain. `None` when there is no such buffer, it is lent already, or `len` is 0 or larger
    /// than a buffer. The driver does not touch the buffer until [`reclaim`](Self::reclaim).
    pub fn lend(&mut self, index: u16, len: usize, device_writable: bool) -> Option<Segment> {
        let lent = self.lent.get_mut(usize::from(index))?;
        if *lent || len == 0 || len > BUFFER_SIZE {
            return None;
        }
        *lent = true;
        Some(Segment {
            phys: self.dma.phys() + (usize::from(index) * BUFFER_SIZE) as u64,
            len: len as u32,
            device_writable,
        })
    }

    /// Takes buffer `index` back from the device, which has returned its chain.
    pub fn reclaim(&mut self, index: u16) {
        if let Some(lent) = self.lent.get_mut(usize::from(index)) {
            *lent = false;
        }
    }

    /// Buffer `index`, if the driver holds it (else an empty slice: a driver bug, never a
    /// device's doing, as the device cannot lend buffers back).
    pub fn bytes(&self, index: u16) -> &[u8] {
        if self.lent.get(usize::from(index)) != Some(&false) {
            debug_assert!(false, "buffer {index} is lent or does not exist");
            return &[];
        }
        let p = self
            .dma
            .virt()
            .as_ptr()
            .wrapping_add(usize::from(index) * BUFFER_SIZE);
        // SAFETY: `index < count`, so the BUFFER_SIZE bytes lie inside the DMA allocation
        // (`count * BUFFER_SIZE` bytes at least), which lives as long as `self`. The driver
        // holds the buffer: never lent, or returned by the device (which, per the virtqueue's
        // contract, no longer accesses it), so nothing writes it while `&self` is borrowed.
        unsafe { core::slice::from_raw_parts(p, BUFFER_SIZE) }
    }

    /// Buffer `index`, mutably, if the driver holds it (else an empty slice, as for
    /// [`bytes`](Self::bytes)).
    pub fn bytes_mut(&mut self, index: u16) -> &mut [u8] {
        if self.lent.get(usize::from(index)) != Some(&false) {
            debug_assert!(false, "buffer {index} is lent or does not exist");
            return &mut [];
        }
        let p = self
            .dma
            .virt()
            .as_ptr()
            .wrapping_add(usize::from(index) * BUFFER_SIZE);
        // SAFETY: as in `bytes`; the `&mut self` borrow makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(p, BUFFER_SIZE) }
    }
}

impl<H: Hal> fmt::Debug for BufferPool<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("dma", &self.dma)
            .field("count", &self.count())
            .field("lent", &self.lent.iter().filter(|&&l| l).count())
            .finish()
    }
}
