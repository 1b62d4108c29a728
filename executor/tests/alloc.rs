//! Tasks leave no allocation behind: live heap bytes are the same after 1,000 and after
//! 100,000 tasks spawned and finished. A test binary of its own, for its counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use morgana_executor::sim::SimPlatform;
use morgana_executor::sync::Mvar;
use morgana_executor::{Executor, sleep, spawn, timeout, yield_now};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged,
// so `System`'s guarantees hold; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: forwarded unchanged; `ptr` came from `alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Spawns `batches` batches of 100 tasks that use what tasks use (a timer, a yield, an Mvar,
/// a timeout), and waits for each batch to finish.
async fn churn(batches: usize) {
    for _ in 0..batches {
        let m = Mvar::new_empty();
        let tasks: Vec<_> = (0..100u64)
            .map(|i| {
                let m = m.clone();
                spawn(async move {
                    sleep(Duration::from_micros(i % 7)).await;
                    yield_now().await;
                    let _ = timeout(Duration::from_secs(1), m.take()).await;
                    i
                })
            })
            .collect();
        for i in 0..100u64 {
            m.put(i).await;
        }
        for t in tasks {
            t.await;
        }
    }
}

#[test]
fn tasks_leave_no_allocation_behind() {
    let ex = Executor::new(Rc::new(SimPlatform::new(1)));
    // Warm up: let the queues and tables reach their working size.
    ex.block_on(churn(10));
    let after_1k = LIVE.load(Ordering::SeqCst);
    ex.block_on(churn(1000));
    let after_100k = LIVE.load(Ordering::SeqCst);
    assert_eq!(
        after_1k,
        after_100k,
        "live heap bytes grew by {} over 99,000 more tasks",
        after_100k - after_1k
    );
    assert_eq!(ex.stats().spawned, 101_000);
}
