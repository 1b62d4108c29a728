//! 1,000 tasks, each sleeping a random 0-50 ms; with `sleep200` on the command line, first a
//! 200 ms sleep that the host times. Without an entropy source the sleeps are spread
//! deterministically, unless `need-entropy` is on the command line: then that is an error.
#![no_std]
#![no_main]

use morgana::prelude::*;

#[morgana::main]
async fn main(env: Env) -> Result<(), morgana::executor::EntropyError> {
    if env.args().any(|a| a == "sleep200") {
        let t0 = Instant::now();
        sleep(Duration::from_millis(200)).await;
        println!("slept 200 ms (measured {} us)", t0.elapsed().as_micros());
    }
    let mut seeds = [0u8; 2000];
    if let Err(e) = env.entropy(&mut seeds) {
        if env.args().any(|a| a == "need-entropy") {
            return Err(e);
        }
        // No entropy source: spread the sleeps deterministically instead.
        for (i, b) in seeds.iter_mut().enumerate() {
            *b = (i * 37 % 251) as u8;
        }
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = seeds
        .chunks(2)
        .map(|pair| {
            let ms = u64::from(u16::from_le_bytes([pair[0], pair[1]]) % 51);
            spawn(async move {
                let start = Instant::now();
                sleep(Duration::from_millis(ms)).await;
                assert!(
                    start.elapsed() >= Duration::from_millis(ms),
                    "a timer fired early"
                );
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    if env.args().any(|a| a == "need-entropy") {
        println!("entropy: {:02x?}", &seeds[..8]);
    }
    let s = env.stats();
    println!(
        "1000 tasks done in {} ms ({} timers fired, {} polls)",
        t0.elapsed().as_millis(),
        s.timers_fired,
        s.polls
    );
    Ok(())
}
