//! What a virtio driver needs from the platform: DMA memory and the device's view of addresses.
//!
//! Devices read and write guest memory by physical address (descriptor tables, rings, and the
//! buffers that descriptors point at). The driver allocates the rings through [`Hal::dma_alloc`]
//! and translates buffer pointers with [`Hal::virt_to_phys`]; everything else is the platform's.
//!
//! On Morgana the kernel's RAM is identity-mapped and DMA is cache-coherent (x86_64; virtio on
//! Arm under KVM or TCG), so [`HeapHal`], the global allocator with `phys == virt`, is a correct
//! implementation for the kernel as well as for host tests.

use core::alloc::Layout;
use core::ptr::NonNull;

/// The size of the pages [`Hal::dma_alloc`] hands out, and their alignment.
pub const PAGE_SIZE: usize = 4096;

/// The platform's DMA memory and address translation.
///
/// # Safety
///
/// Implementations must meet the "Implementation safety" section of each method: the virtqueue
/// code writes through the pointers [`dma_alloc`](Hal::dma_alloc) returns and gives the device
/// the addresses it returns, so a wrong answer corrupts memory.
pub unsafe trait Hal {
    /// Allocates `pages` pages of zeroed, physically contiguous memory the device can access.
    ///
    /// Returns the address the device uses for the first byte, and the pointer the driver uses;
    /// `None` when out of memory or when `pages` is 0.
    ///
    /// # Implementation safety
    ///
    /// The pointer is valid for reads and writes of `pages * PAGE_SIZE` bytes, aligned to
    /// [`PAGE_SIZE`], zeroed, and aliases nothing else in the program until it is passed to
    /// [`dma_dealloc`](Hal::dma_dealloc). The device sees the same bytes at the returned physical
    /// address and the `pages * PAGE_SIZE - 1` bytes after it, coherently with the CPU (no cache
    /// maintenance is done by the driver).
    fn dma_alloc(pages: usize) -> Option<(u64, NonNull<u8>)>;

    /// Frees memory from [`dma_alloc`](Hal::dma_alloc).
    ///
    /// # Safety
    ///
    /// `phys`, `virt` and `pages` are exactly what one earlier `dma_alloc` call of this `Hal`
    /// returned and was given, the memory has not been freed since, nothing uses it any more, and
    /// the device no longer accesses it (the device was reset, or its queue disabled).
    ///
    /// # Implementation safety
    ///
    /// Given such arguments, the implementation only releases that memory.
    unsafe fn dma_dealloc(phys: u64, virt: NonNull<u8>, pages: usize);

    /// The address at which the device sees the byte `virt` points at.
    ///
    /// Used for the buffers a driver puts in a virtqueue, which need not come from
    /// [`dma_alloc`](Hal::dma_alloc) (heap buffers, stack buffers for a synchronous request).
    ///
    /// # Implementation safety
    ///
    /// For any `virt` into memory the program owns, the memory from `virt` to the end of its
    /// allocation is seen by the device, coherently, at the returned address onwards
    /// (physically contiguous, as an identity or linear map gives).
    fn virt_to_phys(virt: NonNull<u8>) -> u64;
}

/// DMA memory from the global allocator, with physical address == virtual address.
///
/// Right wherever RAM is identity-mapped and DMA is coherent: Morgana's kernels, and host tests
/// where a test plays the device (it then reads "physical" addresses as pointers).
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapHal;

impl HeapHal {
    fn layout(pages: usize) -> Option<Layout> {
        let size = pages.checked_mul(PAGE_SIZE)?;
        if size == 0 {
            return None;
        }
        Layout::from_size_align(size, PAGE_SIZE).ok()
    }
}

// SAFETY: `alloc_zeroed` returns a fresh, zeroed, exclusively owned allocation of the requested
// page-aligned layout; its address is its physical address under the identity map this type
// is documented for, and an allocation is contiguous in that map.
unsafe impl Hal for HeapHal {
    fn dma_alloc(pages: usize) -> Option<(u64, NonNull<u8>)> {
        let layout = Self::layout(pages)?;
        // SAFETY: the layout has a non-zero size (checked by `layout`).
        let ptr = NonNull::new(unsafe { alloc::alloc::alloc_zeroed(layout) })?;
        Some((Self::virt_to_phys(ptr), ptr))
    }

    unsafe fn dma_dealloc(_phys: u64, virt: NonNull<u8>, pages: usize) {
        if let Some(layout) = Self::layout(pages) {
            // SAFETY: the caller passes what `dma_alloc` returned for this `pages`, so `virt` was
            // allocated by the global allocator with this very layout and is not yet freed.
            unsafe { alloc::alloc::dealloc(virt.as_ptr(), layout) };
        }
    }

    fn virt_to_phys(virt: NonNull<u8>) -> u64 {
        virt.as_ptr().expose_provenance() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_hal_pages_are_zeroed_aligned_and_identity() {
        let (phys, virt) = HeapHal::dma_alloc(3).expect("alloc");
        assert_eq!(phys, virt.as_ptr() as u64);
        assert_eq!(phys % PAGE_SIZE as u64, 0);
        // SAFETY: `dma_alloc` returned 3 readable pages.
        let bytes = unsafe { core::slice::from_raw_parts(virt.as_ptr(), 3 * PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        // SAFETY: exactly what `dma_alloc` returned; nothing uses it any more.
        unsafe { HeapHal::dma_dealloc(phys, virt, 3) };
    }

    #[test]
    fn heap_hal_refuses_zero_and_overflowing_sizes() {
        assert!(HeapHal::dma_alloc(0).is_none());
        assert!(HeapHal::dma_alloc(usize::MAX).is_none());
    }
}
