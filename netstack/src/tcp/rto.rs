//! The retransmission timeout (RFC 6298): a smoothed RTT and its variation, exponential backoff,
//! and bounds.
//!
//! Samples come from timestamps (RFC 7323 §4: any ACK that advances `SND.UNA` and echoes one of
//! our TSvals) or, without timestamps, from one timed segment at a time; either way never from a
//! retransmitted segment's ACK without timestamps (Karn's rule, RFC 6298 §3), which the caller
//! enforces by dropping the timed segment when it retransmits.

use core::time::Duration;

/// RFC 6298 §2's `G`: the clock granularity the RTO adds at least, 1 ms here.
const GRANULARITY: Duration = Duration::from_millis(1);

/// The RTO estimator.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    /// SRTT, `None` before the first sample.
    srtt: Option<Duration>,
    /// RTTVAR.
    rttvar: Duration,
    /// The RTO before backoff.
    rto: Duration,
    /// How many times the timer expired in a row: the RTO used is `rto << backoff`.
    backoff: u32,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    /// An estimator before any sample: RTO is `initial` (RFC 6298 §2.1: 1 s).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max.max(min)),
            backoff: 0,
            min,
            max: max.max(min),
        }
    }

    /// The smoothed RTT, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The current retransmission timeout, backoff included, within the bounds.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        self.rto.saturating_mul(factor).min(self.max)
    }

    /// Folds in one RTT measurement (RFC 6298 §2.2, §2.3), which also ends the backoff
    /// (§5, "note that ... a new RTT sample ... collapses the backoff").
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt + (self.rttvar * 4).max(GRANULARITY);
        self.rto = rto.clamp(self.min, self.max);
        self.backoff = 0;
    }

    /// The timer expired: double the RTO (RFC 6298 §5.5), up to the maximum.
    pub fn back_off(&mut self) {
        if self.rto() < self.max {
            self.backoff += 1;
        }
    }

    /// New data was acknowledged: stop backing off (as Linux does; the next sample refines).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }
}
