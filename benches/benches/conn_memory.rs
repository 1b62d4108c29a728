//! Heap bytes per idle TCP connection: two netstack `Stack`s joined by a `SimLink` on the
//! simulator, a counting global allocator, and 1,000 connections opened and left idle. What
//! each connection costs, both ends together (a client's and a server's `TcpStream` and the
//! stacks' state for them), is the growth of the heap from before the first connection to
//! after the last, divided by their number.
//!
//! Prints one line, `conn_memory: N connections, B bytes per connection (both ends)`, which
//! `cargo xtask bench net` puts in its table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use morgana_executor::sim::SimPlatform;
use morgana_executor::{Executor, Instant, sleep, spawn};
use morgana_netstack::iface::{Ipv4Config, Stack, TcpListener, TcpStream};
use morgana_netstack::phy::{SimLink, SimLinkConfig};
use morgana_netstack::wire::Ipv4Address;

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments, unchanged, and only
// adds bookkeeping on an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is `System::dealloc`'s.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is `System::realloc`'s.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONNECTIONS: usize = 1_000;
const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);

fn config(address: Ipv4Address) -> Ipv4Config {
    Ipv4Config {
        address,
        prefix_len: 24,
        gateway: None,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to choose.
    let sim = Rc::new(SimPlatform::new(1));
    let ex = Executor::new(sim);
    let (before, after) = ex.block_on(async {
        let (a, b) = SimLink::pair(SimLinkConfig::default());
        let now = Instant::now();
        let mut client =
            Stack::with_isn_secret(a, config(Ipv4Address::new(10, 0, 0, 1)), [1; 16], now);
        let mut server = Stack::with_isn_secret(b, config(SERVER), [2; 16], now);
        let (hc, hs) = (client.handle(), server.handle());
        spawn(async move { client.run().await }).detach();
        spawn(async move { server.run().await }).detach();
        let listener = TcpListener::bind_with_backlog(&hs, 7, 16).expect("port 7 is free");
        let remote = (SERVER, 7);
        // One connection opened and closed first: ARP is resolved and every table has grown
        // past its first allocation before we count.
        {
            let warm = TcpStream::connect(&hc, remote).await.expect("connects");
            let (mut accepted, _) = listener.accept().await;
            drop(warm);
            let _ = accepted.shutdown().await;
        }
        sleep(Duration::from_secs(300)).await;
        let before = LIVE.load(Ordering::Relaxed);
        // The streams are kept in a vector of ours, whose own size is not the connections'.
        let mut open = Vec::with_capacity(CONNECTIONS * 2);
        let reserved = LIVE.load(Ordering::Relaxed) - before;
        for _ in 0..CONNECTIONS {
            let stream = TcpStream::connect(&hc, remote).await.expect("connects");
            let (accepted, _) = listener.accept().await;
            open.push(stream);
            open.push(accepted);
        }
        // Idle: let the handshakes' leftovers (retransmission state, queues) settle.
        sleep(Duration::from_secs(10)).await;
        let after = LIVE.load(Ordering::Relaxed) - reserved;
        drop(open);
        (before, after)
    });
    let per_connection = after.saturating_sub(before) as f64 / CONNECTIONS as f64;
    println!(
        "conn_memory: {CONNECTIONS} connections, {per_connection:.0} bytes per connection (both ends)"
    );
}
