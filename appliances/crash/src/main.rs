//! An appliance that fails on purpose, to test what failing looks like: `panic` panics,
//! `fault` reads an unmapped address (a page fault and its crash report), `oom` allocates
//! until the heap is exhausted.
#![no_std]
#![no_main]

use morgana::prelude::*;

#[morgana::main]
async fn main(env: Env) -> i32 {
    match env.args().next() {
        Some("panic") => panic!("deliberate panic"),
        Some("fault") => {
            let unmapped = 0x4000_0000_0000u64 as *const u64; // canonical, never mapped
            // SAFETY: not sound, on purpose: the read must fault. A volatile read keeps the
            // compiler from reasoning about it.
            let v = unsafe { unmapped.read_volatile() };
            println!("read {v:#x} from an unmapped address?");
            1
        }
        Some("oom") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![0xa5u8; 1 << 20]);
                if hoard.len().is_multiple_of(16) {
                    println!("holding {} MiB", hoard.len());
                }
            }
        }
        other => {
            println!("usage: crash panic|fault|oom (got {other:?})");
            2
        }
    }
}
