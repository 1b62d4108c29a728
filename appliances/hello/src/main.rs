//! The smallest appliance: a greeting, a 100 ms sleep, and the time it measured.
#![no_std]
#![no_main]

use morgana::prelude::*;

#[morgana::main]
async fn main(env: Env) {
    println!("Hello from Morgana");
    let start = Instant::now();
    sleep(Duration::from_millis(100)).await;
    let slept = start.elapsed();
    println!(
        "slept {}.{:03} ms on {} (asked for 100 ms)",
        slept.as_micros() / 1000,
        slept.as_micros() % 1000,
        env.platform()
    );
}
