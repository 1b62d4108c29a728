//! Executor micro-benchmarks: Morgana's executor against tokio (current-thread runtime with a
//! `LocalSet`) and `futures`' `LocalPool`, on the same workloads.
//!
//! `cargo xtask bench executor` reads `target/criterion/<group>/<function>/new/estimates.json`,
//! so the group names (`spawn_100k`, `mvar_pingpong_1m`, `timers_100k`) and the function names
//! (`morgana`, `tokio`, `localpool`) are a contract: do not rename them.
//!
//! Fairness:
//!
//! - Every workload is one generic `async fn`, monomorphised per runtime through the [`Spawner`]
//!   trait, so the code shape is identical; only the executor (its spawn, join handle, run loop
//!   and, for timers, its clock) differs.
//! - Every task is `!Send`-capable: tokio spawns with `spawn_local` on a `LocalSet`, LocalPool
//!   with `spawn_local_with_handle`, Morgana with `morgana_executor::spawn`. Each runtime's own
//!   join handle is awaited (tokio's `JoinHandle`, LocalPool's `RemoteHandle`, Morgana's
//!   `JoinHandle`).
//! - **Timed:** one whole workload per iteration, entering and leaving the runtime's `block_on`
//!   included (spawning, polling, waking, joining, and the allocations that come with them).
//!   **Not timed:** building the runtime (Morgana `Executor` + `SimPlatform`, tokio `Runtime` +
//!   `LocalSet`, `LocalPool` + its spawner), which is done once per bench function and reused by
//!   every iteration. Each workload awaits all its tasks, so a runtime is empty between iterations.
//! - The ping-pong uses Morgana's `Mvar` on all three runtimes: it only uses `Waker`s, so it works
//!   under any executor and the synchronisation primitive is the same for everyone.

use std::future::Future;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use futures::FutureExt;
use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;
use morgana_executor::Executor;
use morgana_executor::sim::SimPlatform;
use morgana_executor::sync::Mvar;

/// Tasks spawned by `spawn_100k`.
const SPAWN_TASKS: u64 = 100_000;
/// Round trips of `mvar_pingpong_1m`.
const PINGPONG_ROUNDS: u64 = 1_000_000;
/// Sleeping tasks of `timers_100k`.
const TIMER_TASKS: u64 = 100_000;

/// Spawns a `!Send`-capable task on the runtime this runs in, and returns the runtime's own join
/// handle (unwrapped to the task's output).
trait Spawner: Clone + 'static {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;
}

/// Morgana: the free `spawn`, which finds the executor running `block_on` on this thread.
#[derive(Clone, Copy)]
struct MorganaSpawner;

impl Spawner for MorganaSpawner {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        morgana_executor::spawn(future)
    }
}

/// tokio: `spawn_local` onto the `LocalSet` that runs the workload.
#[derive(Clone, Copy)]
struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        tokio::task::spawn_local(future).map(|r| r.expect("tokio task failed"))
    }
}

/// LocalPool: `spawn_local_with_handle` on the pool's spawner.
#[derive(Clone)]
struct PoolSpawner(LocalSpawner);

impl Spawner for PoolSpawner {
    fn spawn<F>(&self, future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.0
            .spawn_local_with_handle(future)
            .expect("LocalPool is gone")
    }
}

/// Spawns `n` trivial tasks (task `i` returns `i`) and awaits all their handles; returns the sum.
async fn spawn_many<S: Spawner>(spawner: S, n: u64) -> u64 {
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(spawner.spawn(async move { i }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// Two tasks, `rounds` round trips: A puts `i` into `ping`, B takes it and puts `i + 1` into
/// `pong`, A takes it from `pong`. Returns the sum of what A took.
async fn pingpong<S: Spawner>(spawner: S, rounds: u64) -> u64 {
    let ping = Mvar::new_empty();
    let pong = Mvar::new_empty();
    let b = spawner.spawn({
        let (ping, pong) = (ping.clone(), pong.clone());
        async move {
            for _ in 0..rounds {
                let v: u64 = ping.take().await;
                pong.put(v + 1).await;
            }
        }
    });
    let a = spawner.spawn(async move {
        let mut sum = 0;
        for i in 0..rounds {
            ping.put(i).await;
            sum += pong.take().await;
        }
        sum
    });
    let sum = a.await;
    b.await;
    sum
}

/// Spawns `n` tasks, task `i` sleeping `((i * 7919) % n) + 1` ms (a permutation of 1..=n ms,
/// inserted in scattered order: every deadline is distinct), and awaits them all; returns the sum
/// of the tasks' outputs (`i`).
///
/// Whole milliseconds because tokio's timer wheel has a 1 ms resolution: finer, distinct
/// deadlines would be rounded together and fired in batches by tokio but one by one by Morgana
/// (nanosecond deadlines). With whole milliseconds both runtimes advance their virtual clock and
/// fire a timer `n` times.
async fn sleep_many<S, Z, Sl>(spawner: S, n: u64, sleep: Z) -> u64
where
    S: Spawner,
    Z: Fn(Duration) -> Sl + Copy + 'static,
    Sl: Future<Output = ()> + 'static,
{
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        let d = Duration::from_millis((i * 7919) % n + 1);
        handles.push(spawner.spawn(async move {
            sleep(d).await;
            i
        }));
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// `0 + 1 + ... + (n - 1)`.
fn triangle(n: u64) -> u64 {
    n * (n - 1) / 2
}

/// A Morgana executor on the simulator platform.
///
/// The executor crate has no hosted platform, so every Morgana bench runs on `SimPlatform`. For
/// `spawn_100k` and `mvar_pingpong_1m` that changes nothing: those workloads always have a task
/// runnable, so the run loop never idles and the platform is never asked for anything but the
/// (virtual) clock. For `timers_100k` the simulator's virtual clock, which jumps to the next
/// deadline when idle, is the point: it measures the timer structure, not waiting.
fn morgana() -> Executor {
    Executor::new(Rc::new(SimPlatform::new(0)))
}

/// A tokio current-thread runtime, with the time driver (as Morgana always has timers);
/// `paused` starts its clock paused, which auto-advances to the next timer when idle (test-util).
fn tokio_rt(paused: bool) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(paused)
        .build()
        .expect("tokio runtime")
}

/// Small samples: every iteration is a whole workload (milliseconds to a few hundred), and the
/// whole run must fit in about two minutes on two cores. Flat sampling (the same number of
/// iterations in every sample) suits such long iterations: linear sampling would need 55 of them
/// per bench.
fn config<M: criterion::measurement::Measurement>(group: &mut criterion::BenchmarkGroup<'_, M>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn spawn_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_100k");
    config(&mut group);
    let want = triangle(SPAWN_TASKS);

    group.bench_function("morgana", |b| {
        let ex = morgana();
        b.iter(|| {
            let sum = ex.block_on(spawn_many(MorganaSpawner, black_box(SPAWN_TASKS)));
            assert_eq!(sum, want);
        });
    });

    group.bench_function("tokio", |b| {
        let rt = tokio_rt(false);
        let local = tokio::task::LocalSet::new();
        b.iter(|| {
            let sum = local.block_on(&rt, spawn_many(TokioSpawner, black_box(SPAWN_TASKS)));
            assert_eq!(sum, want);
        });
    });

    group.bench_function("localpool", |b| {
        let mut pool = LocalPool::new();
        let spawner = PoolSpawner(pool.spawner());
        b.iter(|| {
            let sum = pool.run_until(spawn_many(spawner.clone(), black_box(SPAWN_TASKS)));
            assert_eq!(sum, want);
        });
    });

    group.finish();
}

fn mvar_pingpong_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("mvar_pingpong_1m");
    config(&mut group);
    // A takes i + 1 for i in 0..rounds.
    let want = triangle(PINGPONG_ROUNDS + 1);

    group.bench_function("morgana", |b| {
        let ex = morgana();
        b.iter(|| {
            let sum = ex.block_on(pingpong(MorganaSpawner, black_box(PINGPONG_ROUNDS)));
            assert_eq!(sum, want);
        });
    });

    group.bench_function("tokio", |b| {
        let rt = tokio_rt(false);
        let local = tokio::task::LocalSet::new();
        b.iter(|| {
            let sum = local.block_on(&rt, pingpong(TokioSpawner, black_box(PINGPONG_ROUNDS)));
            assert_eq!(sum, want);
        });
    });

    group.bench_function("localpool", |b| {
        let mut pool = LocalPool::new();
        let spawner = PoolSpawner(pool.spawner());
        b.iter(|| {
            let sum = pool.run_until(pingpong(spawner.clone(), black_box(PINGPONG_ROUNDS)));
            assert_eq!(sum, want);
        });
    });

    group.finish();
}

fn timers_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers_100k");
    config(&mut group);
    let want = triangle(TIMER_TASKS);

    // Both clocks are virtual and only move forward, so reusing a runtime across iterations is
    // fine: each iteration's sleeps are relative to wherever the previous one left the clock.
    group.bench_function("morgana", |b| {
        let ex = morgana();
        b.iter(|| {
            let sum = ex.block_on(sleep_many(
                MorganaSpawner,
                black_box(TIMER_TASKS),
                morgana_executor::sleep,
            ));
            assert_eq!(sum, want);
        });
    });

    group.bench_function("tokio", |b| {
        let rt = tokio_rt(true);
        let local = tokio::task::LocalSet::new();
        b.iter(|| {
            let sum = local.block_on(
                &rt,
                sleep_many(TokioSpawner, black_box(TIMER_TASKS), tokio::time::sleep),
            );
            assert_eq!(sum, want);
        });
    });

    // No "localpool" function: LocalPool has no timer (nor clock) of its own, so there is
    // nothing of it to measure here.

    group.finish();
}

criterion_group!(benches, spawn_100k, mvar_pingpong_1m, timers_100k);
criterion_main!(benches);
