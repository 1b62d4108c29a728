//! The bare-metal heap: Talc over the usable RAM the boot protocol reported.
//!
//! Why Talc: it is `no_std`, actively maintained, fast (its benchmarks beat
//! `linked_list_allocator` and `buddy_system_allocator` on both allocation speed and heap
//! efficiency), takes arbitrarily many discontiguous regions (a memory map has holes), and is
//! checked with Miri. `linked_list_allocator` walks a list on every allocation (O(n)); buddy
//! allocators waste up to half of every block.
//!
//! The lock is a flag that panics on re-entry: the executor is single-core and interrupt
//! handlers never allocate, so contention means a bug, and a panic says so where a spin lock
//! would hang.
//!
//! When an allocation fails, [`ALLOC_FAILED`] is set before Rust's allocation-error path
//! panics ("memory allocation of N bytes failed"); the panic handler sees the flag and exits
//! with [`crate::EXIT_OUT_OF_MEMORY`].

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use talc::{ErrOnOom, Span, Talc, Talck};

/// Set when an allocation has failed: the panic that follows is an out-of-memory.
pub static ALLOC_FAILED: AtomicBool = AtomicBool::new(false);

/// Bytes given to the heap.
static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A lock for one core without allocation in interrupt context: it never waits.
#[derive(Debug)]
pub struct NoReentry(AtomicBool);

// SAFETY: `lock` returns only after setting the flag from false to true (panicking otherwise),
// and `unlock` clears it, so two holders can never coexist: mutual exclusion holds.
unsafe impl lock_api::RawMutex for NoReentry {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: NoReentry = NoReentry(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        if !self.try_lock() {
            panic!("the heap was re-entered (an allocation in interrupt context?)");
        }
    }

    fn try_lock(&self) -> bool {
        !self.0.swap(true, Ordering::Acquire)
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The global allocator: Talc, plus the out-of-memory flag.
#[allow(missing_debug_implementations)]
pub struct Heap(Talck<NoReentry, ErrOnOom>);

#[global_allocator]
static HEAP: Heap = Heap(Talc::new(ErrOnOom).lock());

// SAFETY: every method forwards to Talck's `GlobalAlloc` implementation with the caller's
// arguments unchanged; setting a flag on failure changes no allocation.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        let p = unsafe { self.0.alloc(layout) };
        if p.is_null() {
            ALLOC_FAILED.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` was allocated by this allocator with `layout`.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if p.is_null() {
            ALLOC_FAILED.store(true, Ordering::Relaxed);
        }
        p
    }
}

/// Gives `[start, end)` to the heap.
///
/// # Safety
///
/// The range is RAM, mapped read-write, used by nothing else, for the rest of the run.
pub unsafe fn claim(start: u64, end: u64) {
    if end <= start {
        return;
    }
    let span = Span::new(start as *mut u8, end as *mut u8);
    // SAFETY: the caller gives us exclusive, mapped RAM for the rest of the run.
    if let Ok(claimed) = unsafe { HEAP.0.lock().claim(span) } {
        HEAP_BYTES.fetch_add(claimed.size(), Ordering::Relaxed);
    }
}

/// Bytes given to the heap so far.
pub fn size() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}
