//! Entropy from the CPU: `RNDR` (FEAT_RNG), where `ID_AA64ISAR0_EL1.RNDR` says it exists.
//!
//! Ref: Arm ARM (DDI 0487) C5.2.15 (RNDR: a 64-bit random number from a DRBG reseeded from a
//! true random source; `PSTATE.Z` set means "no number this time", retried), D17.2.61
//! (`ID_AA64ISAR0_EL1` bits 63:60).

use morgana_executor::EntropyError;

/// Retries of a failed read before giving up (the architecture says failure is transient).
const RETRIES: usize = 100;

/// The instruction's name, for the boot line, if the CPU has it.
pub fn source() -> Option<&'static str> {
    let isar0: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe {
        core::arch::asm!("mrs {}, id_aa64isar0_el1", out(reg) isar0, options(nomem, nostack))
    };
    (isar0 >> 60 != 0).then_some("RNDR")
}

fn rndr() -> Option<u64> {
    let (value, ok): (u64, u64);
    // SAFETY: RNDR (S3_3_C2_C4_0) only reads a random number and sets NZCV; callers checked
    // that the CPU implements it.
    unsafe {
        core::arch::asm!(
            "mrs {v}, S3_3_C2_C4_0",
            "cset {ok}, ne",
            v = out(reg) value,
            ok = out(reg) ok,
            options(nomem, nostack)
        );
    }
    (ok != 0).then_some(value)
}

/// Fills `buf` from RNDR.
pub fn fill(buf: &mut [u8]) -> Result<(), EntropyError> {
    if source().is_none() {
        return Err(EntropyError::NoSource);
    }
    for chunk in buf.chunks_mut(8) {
        let v = (0..RETRIES)
            .find_map(|_| rndr())
            .ok_or(EntropyError::Failed)?;
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    Ok(())
}
