//! Initial sequence numbers (RFC 6528): `ISN = M + F(localip, localport, remoteip, remoteport,
//! secretkey)`, where `M` is a 4 µs timer and `F` a keyed pseudo-random function.
//!
//! `F` is SipHash-2-4 (Aumasson and Bernstein, 2012) under a 128-bit secret, over the four-tuple,
//! truncated to 32 bits. SipHash is a PRF for short inputs, which is what RFC 6528 §3 asks of
//! `F`; it is small enough to write here (no dependency) and is checked against the reference
//! vectors in the tests. The secret must come from the platform's entropy, once per boot; the
//! timer `M` makes successive connections on one four-tuple start at increasing numbers, so that
//! old duplicates of a previous incarnation fall outside the new window.

use morgana_executor::Instant;

use super::Endpoint;
use crate::wire::SeqNumber;

/// SipHash-2-4 of `data` under `key` (the 64-bit output of the reference implementation).
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&key[..8]);
    let k0 = u64::from_le_bytes(k);
    k.copy_from_slice(&key[8..]);
    let k1 = u64::from_le_bytes(k);
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        k.copy_from_slice(chunk);
        compress(&mut v, u64::from_le_bytes(k), 2);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    compress(&mut v, u64::from_le_bytes(last), 2);
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn compress(v: &mut [u64; 4], m: u64, rounds: usize) {
    v[3] ^= m;
    for _ in 0..rounds {
        sip_round(v);
    }
    v[0] ^= m;
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// Generates ISNs for one boot's secret.
#[derive(Clone)]
pub struct IsnGenerator {
    secret: [u8; 16],
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The secret stays out of logs.
        f.write_str("IsnGenerator { .. }")
    }
}

impl IsnGenerator {
    /// A generator keyed with `secret`, which must be unpredictable (platform entropy).
    pub fn new(secret: [u8; 16]) -> Self {
        IsnGenerator { secret }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`.
    pub fn isn(&self, local: Endpoint, remote: Endpoint, now: Instant) -> SeqNumber {
        let mut tuple = [0u8; 12];
        tuple[..4].copy_from_slice(&local.addr.octets());
        tuple[4..6].copy_from_slice(&local.port.to_be_bytes());
        tuple[6..10].copy_from_slice(&remote.addr.octets());
        tuple[10..].copy_from_slice(&remote.port.to_be_bytes());
        let f = siphash24(&self.secret, &tuple) as u32;
        // M: one tick every 4 µs (RFC 6528 §3), wrapping.
        let m = (now.as_nanos() / 4000) as u32;
        SeqNumber(m.wrapping_add(f))
    }
}
