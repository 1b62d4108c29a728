//! Whole-stack TCP transfers on the simulator: two `Stack`s (Ethernet, ARP, IPv4, TCP, the
//! async sockets) over a seeded `SimLink` that loses, duplicates, reorders and corrupts frames,
//! in virtual time. Each transfer goes one way through `TcpStream`; the bytes must arrive
//! identical and in order, and the transfer must finish within 3x of what the Mathis et al.
//! formula (rate ≈ 1.22·MSS/(RTT·√p)) predicts for its loss rate.
//!
//! 20 seeds of 10 MB each way and loss rate by default; 200 seeds with
//! `cargo xtask test --full` (which sets `MORGANA_TEST_FULL`).

use std::rc::Rc;
use std::time::Duration;

use morgana_executor::sim::SimPlatform;
use morgana_executor::{Executor, Instant, spawn, timeout};
use morgana_netstack::iface::{Ipv4Config, Stack, StackHandle, TcpListener, TcpStream};
use morgana_netstack::phy::{SimLink, SimLinkConfig};
use morgana_netstack::wire::Ipv4Address;

const A: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const B: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const PORT: u16 = 5001;
/// One-way delay: a 20 ms round trip.
const DELAY: Duration = Duration::from_millis(10);
/// The MSS in use: 1460 less 12 bytes of timestamps.
const MSS: f64 = 1448.0;

fn full() -> bool {
    std::env::var_os("MORGANA_TEST_FULL").is_some()
}

fn config(address: Ipv4Address) -> Ipv4Config {
    Ipv4Config {
        address,
        prefix_len: 24,
        gateway: None,
    }
}

/// A deterministic pseudo-random payload (xorshift), different per seed.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        let take = bytes.len().min(len - v.len());
        v.extend_from_slice(&bytes[..take]);
    }
    v
}

fn link(seed: u64, p: f64) -> SimLinkConfig {
    let ppm = (p * 1e6) as u32;
    SimLinkConfig {
        seed,
        loss_ppm: ppm,
        // On every lossy link, some duplication, corruption (which the checksums turn into
        // loss), and reordering: 2% of frames held back by 4 ms, overtaken by those behind.
        duplicate_ppm: ppm / 5,
        corrupt_ppm: ppm / 10,
        reorder_ppm: if p > 0.0 { 20_000 } else { 0 },
        reorder_by: Duration::from_millis(4),
        delay: DELAY,
        ..SimLinkConfig::default()
    }
}

/// Sends `data` from one stack to the other over TCP; returns what arrived and the virtual time
/// from `connect` to the receiver's end of stream.
async fn transfer(
    sender: StackHandle,
    receiver: StackHandle,
    to: Ipv4Address,
    data: Rc<Vec<u8>>,
) -> (Vec<u8>, Duration) {
    let listener = TcpListener::bind(&receiver, PORT).expect("bind");
    let len = data.len();
    let sending = spawn(async move {
        let mut s = TcpStream::connect(&sender, (to, PORT))
            .await
            .expect("connect");
        s.write_all(&data).await.expect("write");
        s.shutdown().await.expect("shutdown");
        // Keep the stream until the data is acknowledged, as a careful sender would.
        s.wait_acked().await.expect("acknowledged");
    });
    let start = Instant::now();
    let (mut s, _) = listener.accept().await;
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let took = Instant::now() - start;
    sending.await;
    (got, took)
}

/// One transfer of `bytes` at loss `p` with `seed`, `a_to_b` or the other way.
fn run(seed: u64, p: f64, bytes: usize, a_to_b: bool) -> Duration {
    let sim = Rc::new(SimPlatform::new(seed));
    let ex = Executor::new(sim);
    let data = Rc::new(payload(bytes, seed));
    let expected = data.clone();
    let (got, took) = ex.block_on(async move {
        // A different wire for each direction of the same seed.
        let (la, lb) = SimLink::pair(link(seed * 2 + u64::from(a_to_b), p));
        let now = Instant::now();
        let mut sa = Stack::with_isn_secret(la, config(A), [seed as u8; 16], now);
        let mut sb = Stack::with_isn_secret(lb, config(B), [!seed as u8; 16], now);
        let (ha, hb) = (sa.handle(), sb.handle());
        spawn(async move { sa.run().await }).detach();
        spawn(async move { sb.run().await }).detach();
        let (from, to, dst) = if a_to_b { (ha, hb, B) } else { (hb, ha, A) };
        timeout(Duration::from_secs(3600), transfer(from, to, dst, data))
            .await
            .unwrap_or_else(|_| panic!("seed {seed} p={p}: no end of stream in an hour"))
    });
    assert_eq!(got.len(), expected.len(), "seed {seed} p={p}: length");
    assert!(got == *expected, "seed {seed} p={p}: bytes differ");
    took
}

fn each_way_at(p: f64) {
    let (seeds, bytes) = if full() {
        (200, 10 << 20)
    } else {
        (20, 10 << 20)
    };
    let rtt = 2.0 * DELAY.as_secs_f64();
    for a_to_b in [true, false] {
        let mut worst: f64 = 0.0;
        let mut total = 0.0;
        for seed in 1..=seeds {
            let took = run(seed, p, bytes, a_to_b).as_secs_f64();
            total += took;
            if p > 0.0 {
                let predicted = bytes as f64 / (1.22 * MSS / (rtt * p.sqrt()));
                let ratio = took / predicted;
                worst = worst.max(ratio);
                assert!(
                    ratio <= 3.0,
                    "seed {seed} p={p}: {took:.2} s, Mathis predicts {predicted:.2} s (ratio {ratio:.2})"
                );
            }
        }
        eprintln!(
            "{} p={p}: {seeds} seeds of {bytes} bytes, mean {:.2} s of virtual time, worst ratio to Mathis {worst:.2}",
            if a_to_b { "a->b" } else { "b->a" },
            total / seeds as f64
        );
    }
}

#[test]
fn ten_megabytes_each_way_on_a_clean_link() {
    each_way_at(0.0);
}

#[test]
fn ten_megabytes_each_way_at_one_percent_loss() {
    each_way_at(0.01);
}

#[test]
fn ten_megabytes_each_way_at_five_percent_loss() {
    each_way_at(0.05);
}
