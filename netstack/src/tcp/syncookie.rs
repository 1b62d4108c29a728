//! SYN cookies: a SYN-ACK whose ISN carries what the listener would have kept, so that a full
//! half-open queue costs no memory (D. J. Bernstein, 1996; RFC 4987 §3.6).
//!
//! ```text
//!  ISN = [ t: 5 bits | mss index: 3 bits | MAC: 24 bits ]
//!  MAC = SipHash-2-4(key; local addr, local port, remote addr, remote port, peer ISN, t, index)
//! ```
//!
//! `t` counts 64-second ticks (modulo 32); a cookie is accepted in its own tick and the next, so
//! it lives 64 to 128 s. The MSS is one of [`MSS_TABLE`], the largest not above the peer's. The
//! key is derived from the ISN secret (platform entropy), so a peer can neither forge a cookie
//! nor learn the secret from one; a blind forger has one chance in 2^24 per ACK, and the
//! interface only checks cookies while a listener has recently sent some.
//!
//! What a cookie loses: window scaling, SACK and timestamps (the SYN-ACK offers none of them, so
//! the connection runs without; Linux hides them in the timestamp, which is not done here), and
//! the data of the SYN, which the peer retransmits.

use core::time::Duration;

use morgana_executor::Instant;

use super::Endpoint;
use super::isn::siphash24;
use crate::wire::SeqNumber;

/// The MSS values a cookie can carry (Linux's IPv4 table, plus jumbo).
pub const MSS_TABLE: [u16; 8] = [536, 1024, 1220, 1300, 1400, 1440, 1460, 8960];
/// One tick of the cookie clock.
pub const TICK: Duration = Duration::from_secs(64);

/// Makes and checks cookies for one boot's secret.
#[derive(Clone)]
pub struct SynCookies {
    key: [u8; 16],
}

impl core::fmt::Debug for SynCookies {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SynCookies { .. }")
    }
}

fn tick(now: Instant) -> u32 {
    (now.as_nanos() / TICK.as_nanos() as u64) as u32 & 0x1f
}

impl SynCookies {
    /// Cookies keyed from `secret` (the ISN secret; the key differs from the ISNs').
    pub fn new(secret: [u8; 16]) -> Self {
        let mut key = secret;
        for (k, b) in key.iter_mut().enumerate() {
            *b ^= 0x5c ^ (k as u8).wrapping_mul(0x3b);
        }
        SynCookies { key }
    }

    fn mac(
        &self,
        local: Endpoint,
        remote: Endpoint,
        peer_isn: SeqNumber,
        t: u32,
        index: u32,
    ) -> u32 {
        let mut data = [0u8; 18];
        data[..4].copy_from_slice(&local.addr.octets());
        data[4..6].copy_from_slice(&local.port.to_be_bytes());
        data[6..10].copy_from_slice(&remote.addr.octets());
        data[10..12].copy_from_slice(&remote.port.to_be_bytes());
        data[12..16].copy_from_slice(&peer_isn.0.to_be_bytes());
        data[16] = t as u8;
        data[17] = index as u8;
        siphash24(&self.key, &data) as u32 & 0x00ff_ffff
    }

    /// The ISN of a SYN-ACK answering a SYN with sequence number `peer_isn` and MSS option
    /// `peer_mss`, and the MSS the cookie encodes (to offer... and to use).
    pub fn make(
        &self,
        local: Endpoint,
        remote: Endpoint,
        peer_isn: SeqNumber,
        peer_mss: Option<u16>,
        now: Instant,
    ) -> (SeqNumber, u16) {
        let mss = peer_mss.unwrap_or(super::options::DEFAULT_MSS);
        let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
        let t = tick(now);
        let mac = self.mac(local, remote, peer_isn, t, index);
        (
            SeqNumber((t << 27) | (index << 24) | mac),
            MSS_TABLE[index as usize],
        )
    }

    /// Checks the ACK completing a cookie handshake: `ack` is its acknowledgment number, `seq`
    /// its sequence number. Returns the MSS the cookie carried, or `None` for a stale or forged
    /// cookie.
    pub fn check(
        &self,
        local: Endpoint,
        remote: Endpoint,
        seq: SeqNumber,
        ack: SeqNumber,
        now: Instant,
    ) -> Option<u16> {
        let cookie = (ack - 1u32).0;
        let peer_isn = seq - 1u32;
        let t = cookie >> 27;
        let index = (cookie >> 24) & 7;
        let current = tick(now);
        if t != current && t != (current.wrapping_sub(1) & 0x1f) {
            return None;
        }
        (self.mac(local, remote, peer_isn, t, index) == cookie & 0x00ff_ffff)
            .then(|| MSS_TABLE[index as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv4Address;

    const L: Endpoint = Endpoint::new(Ipv4Address::new(10, 0, 0, 1), 80);
    const R: Endpoint = Endpoint::new(Ipv4Address::new(10, 0, 0, 2), 40000);

    #[test]
    fn a_cookie_checks_within_two_ticks_and_only_for_its_connection() {
        let c = SynCookies::new([9; 16]);
        let now = Instant::from_nanos(1000 * 1_000_000_000);
        let (isn, mss) = c.make(L, R, SeqNumber(77), Some(1460), now);
        assert_eq!(mss, 1460);
        let (seq, ack) = (SeqNumber(78), isn + 1);
        assert_eq!(c.check(L, R, seq, ack, now), Some(1460));
        assert_eq!(c.check(L, R, seq, ack, now + TICK), Some(1460));
        assert_eq!(c.check(L, R, seq, ack, now + TICK * 2), None, "stale");
        assert_eq!(
            c.check(L, R, SeqNumber(79), ack, now),
            None,
            "another peer ISN"
        );
        let other = Endpoint::new(R.addr, 40001);
        assert_eq!(c.check(L, other, seq, ack, now), None, "another port");
        assert_eq!(c.check(L, R, seq, ack + 1, now), None, "off by one");
        assert_eq!(
            SynCookies::new([8; 16]).check(L, R, seq, ack, now),
            None,
            "another key"
        );
        // MSS: the largest entry not above the peer's; 536 without the option.
        assert_eq!(c.make(L, R, SeqNumber(1), Some(1459), now).1, 1440);
        assert_eq!(c.make(L, R, SeqNumber(1), None, now).1, 536);
        assert_eq!(c.make(L, R, SeqNumber(1), Some(100), now).1, 536);
        assert_eq!(c.make(L, R, SeqNumber(1), Some(9000), now).1, 8960);
    }

    #[test]
    fn forged_cookies_almost_never_pass() {
        let c = SynCookies::new([1; 16]);
        let now = Instant::from_nanos(5_000_000_000);
        let mut x = 0x1234_5678_9abc_def0_u64;
        let mut passed = 0;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if c.check(L, R, SeqNumber(x as u32), SeqNumber((x >> 32) as u32), now)
                .is_some()
            {
                passed += 1;
            }
        }
        // 2^-24 per try for the right tick (2 of 32): the expectation is 0.0004.
        assert_eq!(passed, 0);
    }
}
