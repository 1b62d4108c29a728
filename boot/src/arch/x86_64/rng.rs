//! Entropy from the CPU's random number generator: RDSEED, else RDRAND.
//!
//! References: Intel SDM vol. 2 (RDRAND, RDSEED; `CPUID.1:ECX[30]` and
//! `CPUID.(EAX=7,ECX=0):EBX[18]` enumerate them) and the Intel Digital Random Number Generator
//! (DRNG) Software Implementation Guide: §5.2.1 (RDRAND can fail transiently under heavy load;
//! retry up to 10 times, and treat ten failures in a row as a hardware fault) and §5.3.1 (RDSEED
//! fails more often, when its conditioner is drained; retry after a PAUSE).
//!
//! RDSEED comes straight from the entropy conditioner and is preferred; RDRAND (a DRBG reseeded
//! from it) is the fallback for a word that RDSEED would not give in its retries. A value of all
//! ones counts as a failure: some AMD processors returned it, with success, after a resume.

use core::arch::x86_64::{__cpuid, __cpuid_count, _rdrand64_step, _rdseed64_step};
use core::sync::atomic::{AtomicU8, Ordering};

use morgana_executor::EntropyError;

/// DRNG guide §5.2.1: ten attempts per RDRAND value.
const RDRAND_RETRIES: u32 = 10;
/// RDSEED attempts (each after a PAUSE) before a word falls back to RDRAND, or fails.
const RDSEED_RETRIES: u32 = 100;

const HAS_RDRAND: u8 = 1 << 0;
const HAS_RDSEED: u8 = 1 << 1;
const PROBED: u8 = 1 << 7;
/// What CPUID said, once asked (CPUID exits to the hypervisor; ask once).
static FEATURES: AtomicU8 = AtomicU8::new(0);

fn features() -> u8 {
    let cached = FEATURES.load(Ordering::Relaxed);
    if cached & PROBED != 0 {
        return cached;
    }
    let mut found = PROBED;
    if __cpuid(1).ecx & (1 << 30) != 0 {
        found |= HAS_RDRAND;
    }
    if __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & (1 << 18) != 0 {
        found |= HAS_RDSEED;
    }
    FEATURES.store(found, Ordering::Relaxed);
    found
}

/// The instruction [`fill`] uses: `"rdseed"`, `"rdrand"`, or `None` when the CPU has neither.
pub fn source() -> Option<&'static str> {
    let f = features();
    if f & HAS_RDSEED != 0 {
        Some("rdseed")
    } else if f & HAS_RDRAND != 0 {
        Some("rdrand")
    } else {
        None
    }
}

/// Fills `buf` with random bytes.
///
/// [`EntropyError::NoSource`] when CPUID advertises neither RDSEED nor RDRAND (the caller may
/// then try virtio-rng); [`EntropyError::Failed`] when the instructions keep failing past their
/// retries, in which case `buf` may be partly written and must not be used.
pub fn fill(buf: &mut [u8]) -> Result<(), EntropyError> {
    let f = features();
    let (rdseed, rdrand) = (f & HAS_RDSEED != 0, f & HAS_RDRAND != 0);
    if !rdseed && !rdrand {
        return Err(EntropyError::NoSource);
    }
    let next = || -> Result<[u8; 8], EntropyError> {
        let mut word = None;
        if rdseed {
            // SAFETY: CPUID enumerated RDSEED, the `#[target_feature]` the callee needs.
            word = unsafe { rdseed64() };
        }
        if word.is_none() && rdrand {
            // SAFETY: CPUID enumerated RDRAND, the `#[target_feature]` the callee needs.
            word = unsafe { rdrand64() };
        }
        word.map(u64::to_ne_bytes).ok_or(EntropyError::Failed)
    };
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&next()?);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let word = next()?;
        rest.copy_from_slice(&word[..rest.len()]);
    }
    Ok(())
}

/// One RDSEED value, with retries; `None` if every attempt failed.
#[target_feature(enable = "rdseed")]
fn rdseed64() -> Option<u64> {
    for _ in 0..RDSEED_RETRIES {
        let mut value = 0;
        if _rdseed64_step(&mut value) == 1 && value != u64::MAX {
            return Some(value);
        }
        core::hint::spin_loop();
    }
    None
}

/// One RDRAND value, with the DRNG guide's ten attempts; `None` if all failed.
#[target_feature(enable = "rdrand")]
fn rdrand64() -> Option<u64> {
    for _ in 0..RDRAND_RETRIES {
        let mut value = 0;
        if _rdrand64_step(&mut value) == 1 && value != u64::MAX {
            return Some(value);
        }
    }
    None
}
