//! An owned region of DMA memory: what [`Hal::dma_alloc`] returned, freed on drop.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::Error;
use super::hal::{Hal, PAGE_SIZE};

/// Physically contiguous, zero-initialised DMA memory, `pages` pages long.
///
/// Dropping it frees the memory: the owner must first make sure no device still accesses it
/// (reset the device, as the drivers in this module do in their `Drop`).
pub struct Dma<H: Hal> {
    phys: u64,
    virt: NonNull<u8>,
    pages: usize,
    _hal: PhantomData<H>,
}

// SAFETY: `Dma` owns its memory exclusively, like a `Box`; nothing in it is tied to a thread.
unsafe impl<H: Hal> Send for Dma<H> {}

impl<H: Hal> Dma<H> {
    /// Allocates `pages` zeroed pages.
    pub fn new(pages: usize) -> Result<Self, Error> {
        let (phys, virt) = H::dma_alloc(pages).ok_or(Error::DmaAlloc)?;
        Ok(Dma {
            phys,
            virt,
            pages,
            _hal: PhantomData,
        })
    }

    /// The device's address of the first byte.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// The driver's pointer to the first byte.
    pub fn virt(&self) -> NonNull<u8> {
        self.virt
    }

    /// The number of pages.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The size in bytes.
    pub fn size(&self) -> usize {
        self.pages * PAGE_SIZE
    }
}

impl<H: Hal> fmt::Debug for Dma<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dma")
            .field("phys", &format_args!("{:#x}", self.phys))
            .field("pages", &self.pages)
            .finish()
    }
}

impl<H: Hal> Drop for Dma<H> {
    fn drop(&mut self) {
        // SAFETY: the three values are what `dma_alloc` returned and was given in `new`, and this
        // is the only place they are freed. That the device has stopped using the memory is the
        // owner's obligation, stated on the type.
        unsafe { H::dma_dealloc(self.phys, self.virt, self.pages) };
    }
}
