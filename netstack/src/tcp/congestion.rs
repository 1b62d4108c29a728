//! Congestion control: the congestion window and slow-start threshold (RFC 5681), behind a
//! [`Congestion`] trait with two implementations, [`NewReno`] (RFC 5681's window arithmetic)
//! and [`Cubic`] (RFC 9438).
//!
//! The trait sees only the window: how it grows on an ACK outside recovery, how it is cut when
//! a loss is detected or the retransmission timer expires, and how a cut found spurious is
//! undone (RFC 4015's response to a spurious retransmission, as Linux does it: the window and
//! threshold from before the cut come back). Loss *recovery* lives in the connection: which
//! segments go again (RFC 6582 NewReno or RFC 6675 SACK), the window inflation of RFC 6582
//! (which the connection applies with [`Congestion::set_window`]) and when recovery ends.

use core::fmt;
use core::time::Duration;

use morgana_executor::Instant;

/// A congestion controller: owns `cwnd` and `ssthresh`, in bytes.
///
/// Not a `Debug` subtrait: a supertrait's `fmt` sits in every implementation's vtable, so each
/// controller's `Debug` (and the formatting it calls) would be linked into every image whether
/// or not anything prints a connection. `dyn Congestion` prints its window and threshold.
pub trait Congestion {
    /// The congestion window.
    fn window(&self) -> usize;
    /// The slow-start threshold.
    fn ssthresh(&self) -> usize;
    /// `acked` new bytes were acknowledged outside loss recovery at `now`; `rtt` is the
    /// smoothed RTT, once known.
    fn on_ack(&mut self, acked: usize, mss: usize, now: Instant, rtt: Option<Duration>);
    /// A loss was detected (fast retransmit, RFC 5681 §3.2, RFC 6675 §5 step 4): set
    /// `ssthresh` and set `cwnd` to it. `flight` bytes are outstanding.
    fn on_congestion_event(&mut self, flight: usize, mss: usize, now: Instant);
    /// The retransmission timer expired (RFC 5681 §3.1, equation 4 and the loss window).
    fn on_timeout(&mut self, flight: usize, mss: usize, now: Instant);
    /// Sets `cwnd` (RFC 6582's inflation and deflation during recovery, and its end).
    fn set_window(&mut self, cwnd: usize);
    /// The last cut ([`Congestion::on_congestion_event`] or [`Congestion::on_timeout`]) was
    /// for a spurious retransmission: restore the state from before the episode's first cut
    /// (RFC 4015 §3).
    fn undo(&mut self);
    /// The episode's cuts stand: forget what [`Congestion::undo`] would restore.
    fn commit(&mut self);
}

impl fmt::Debug for dyn Congestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Congestion")
            .field("cwnd", &self.window())
            .field("ssthresh", &self.ssthresh())
            .finish_non_exhaustive()
    }
}

/// The initial window of RFC 6928: `min(10·MSS, max(2·MSS, 14600))`.
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14600))
}

/// Slow start, with RFC 3465's limit of L = 2·MSS per ACK.
fn slow_start(cwnd: usize, acked: usize, mss: usize) -> usize {
    cwnd.saturating_add(acked.min(2 * mss))
}

/// NewReno's window arithmetic (RFC 5681).
#[derive(Debug, Clone)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since `cwnd` last grew (RFC 5681 §3.1's
    /// appropriate byte counting: one MSS per window of data acknowledged).
    bytes_acked: usize,
    /// `(cwnd, ssthresh)` before the last cut, for [`Congestion::undo`].
    prior: Option<(usize, usize)>,
}

impl NewReno {
    /// A controller starting at the initial window, with an "arbitrarily high" ssthresh
    /// (RFC 5681 §3.1).
    pub fn new(mss: usize) -> Self {
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            bytes_acked: 0,
            prior: None,
        }
    }
}

impl Congestion for NewReno {
    fn window(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, acked: usize, mss: usize, _now: Instant, _rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            self.cwnd = slow_start(self.cwnd, acked, mss);
        } else {
            self.bytes_acked += acked;
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn on_congestion_event(&mut self, flight: usize, mss: usize, _now: Instant) {
        if self.prior.is_none() {
            self.prior = Some((self.cwnd, self.ssthresh));
        }
        // RFC 5681 equation 4.
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_timeout(&mut self, flight: usize, mss: usize, now: Instant) {
        self.on_congestion_event(flight, mss, now);
        self.cwnd = mss;
    }

    fn set_window(&mut self, cwnd: usize) {
        self.cwnd = cwnd.max(1);
    }

    fn undo(&mut self) {
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = self.ssthresh.max(ssthresh);
        }
    }

    fn commit(&mut self) {
        self.prior = None;
    }
}

/// RFC 9438's constant C, in segments per second cubed.
const CUBIC_C: f64 = 0.4;
/// RFC 9438's multiplicative decrease factor.
const CUBIC_BETA: f64 = 0.7;

/// CUBIC (RFC 9438): the window grows as a cubic function of the time since the last
/// reduction, centred on the window where that loss happened (`W_max`), with the
/// Reno-friendly region (§4.3), fast convergence (§4.7) and β = 0.7 (§4.6). Windows are kept
/// in bytes as `f64`; the cubic itself is in segments, as the RFC writes it.
#[derive(Debug, Clone)]
pub struct Cubic {
    state: CubicState,
    prior: Option<CubicState>,
}

#[derive(Clone, Copy)]
struct CubicState {
    cwnd: f64,
    ssthresh: f64,
    /// `W_max`, bytes: the window before the last reduction.
    w_max: f64,
    /// `W_last_max` for fast convergence, bytes.
    w_last_max: f64,
    /// `cwnd_epoch`, bytes.
    cwnd_epoch: f64,
    /// `W_est`, bytes: the Reno-friendly estimate (§4.3).
    w_est: f64,
    /// `t_epoch`: when congestion avoidance began after the last reduction.
    epoch: Option<Instant>,
    /// `K`, seconds.
    k: f64,
}

/// Windows as whole bytes and K in microseconds: formatting an `f64` would link core's float
/// printing (~12 KiB) into every image, for a `Debug` that only diagnostics use.
impl fmt::Debug for CubicState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CubicState")
            .field("cwnd", &(self.cwnd as u64))
            .field("ssthresh", &(self.ssthresh as u64))
            .field("w_max", &(self.w_max as u64))
            .field("w_last_max", &(self.w_last_max as u64))
            .field("cwnd_epoch", &(self.cwnd_epoch as u64))
            .field("w_est", &(self.w_est as u64))
            .field("epoch", &self.epoch)
            .field("k_us", &((self.k * 1e6) as u64))
            .finish()
    }
}

impl Cubic {
    /// A controller starting at the initial window, in slow start.
    pub fn new(mss: usize) -> Self {
        let iw = initial_window(mss) as f64;
        Cubic {
            state: CubicState {
                cwnd: iw,
                ssthresh: f64::MAX,
                w_max: 0.0,
                w_last_max: 0.0,
                cwnd_epoch: iw,
                w_est: iw,
                epoch: None,
                k: 0.0,
            },
            prior: None,
        }
    }

    /// `W_max`, in bytes: the window at the last reduction (less under fast convergence).
    pub fn w_max(&self) -> usize {
        self.state.w_max as usize
    }

    /// `W_cubic(t)` in bytes, `t` in seconds since the epoch (RFC 9438 equation 1).
    fn w_cubic(&self, t: f64, mss: f64) -> f64 {
        let d = t - self.state.k;
        CUBIC_C * d * d * d * mss + self.state.w_max
    }

    fn reduce(&mut self, mss: usize) {
        let s = &mut self.state;
        let mss = mss as f64;
        // Fast convergence (§4.7): a flow whose W_max keeps falling yields bandwidth.
        s.w_max = if s.cwnd < s.w_last_max {
            s.cwnd * (1.0 + CUBIC_BETA) / 2.0
        } else {
            s.cwnd
        };
        s.w_last_max = s.cwnd;
        s.ssthresh = (s.cwnd * CUBIC_BETA).max(2.0 * mss);
        s.cwnd = s.ssthresh;
        s.cwnd_epoch = s.cwnd;
        s.w_est = s.cwnd;
        s.epoch = None;
        // Equation 2, in segments.
        s.k = cbrt(((s.w_max - s.cwnd_epoch) / mss / CUBIC_C).max(0.0));
    }
}

impl Congestion for Cubic {
    fn window(&self) -> usize {
        self.state.cwnd as usize
    }

    fn ssthresh(&self) -> usize {
        if self.state.ssthresh >= usize::MAX as f64 {
            usize::MAX
        } else {
            self.state.ssthresh as usize
        }
    }

    fn on_ack(&mut self, acked: usize, mss: usize, now: Instant, rtt: Option<Duration>) {
        let mssf = mss as f64;
        if self.state.cwnd < self.state.ssthresh {
            self.state.cwnd = slow_start(self.window(), acked, mss) as f64;
            return;
        }
        let s = &mut self.state;
        let epoch = match s.epoch {
            Some(epoch) => epoch,
            None => {
                // Congestion avoidance begins (§4.2): after slow start with no loss yet, the
                // curve starts at its plateau.
                s.epoch = Some(now);
                if s.w_max < s.cwnd {
                    s.w_max = s.cwnd;
                    s.k = 0.0;
                } else {
                    s.k = cbrt(((s.w_max - s.cwnd) / mssf / CUBIC_C).max(0.0));
                }
                s.cwnd_epoch = s.cwnd;
                s.w_est = s.cwnd;
                now
            }
        };
        let t = (now - epoch).as_secs_f64();
        let rtt = rtt.map_or(0.1, |r| r.as_secs_f64());
        let acked = acked as f64;
        // The Reno-friendly estimate (§4.3): α = 3(1-β)/(1+β) until W_max, then 1.
        let alpha = if s.w_est >= s.w_max {
            1.0
        } else {
            3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA)
        };
        s.w_est += alpha * acked / s.cwnd * mssf;
        let cubic_now = self.w_cubic(t, mssf);
        let s = &mut self.state;
        if cubic_now < s.w_est {
            // The Reno-friendly region.
            s.cwnd = s.w_est;
        } else {
            // Concave and convex regions (§4.4, §4.5): aim at W_cubic one RTT ahead, within
            // [cwnd, 1.5 cwnd].
            let d = t + rtt - s.k;
            // `max` then `min`, not `f64::clamp`: clamp's "min > max" panic formats floats,
            // which links ~12 KiB of float printing into every image.
            let target = (CUBIC_C * d * d * d * mssf + s.w_max)
                .max(s.cwnd)
                .min(1.5 * s.cwnd);
            s.cwnd += (target - s.cwnd) / s.cwnd * acked;
        }
    }

    fn on_congestion_event(&mut self, _flight: usize, mss: usize, _now: Instant) {
        if self.prior.is_none() {
            self.prior = Some(self.state);
        }
        self.reduce(mss);
    }

    fn on_timeout(&mut self, flight: usize, mss: usize, now: Instant) {
        // §4.8: a timeout is a congestion event (once: the window is already one segment on
        // a repeated timeout), then one segment.
        if self.state.cwnd > mss as f64 {
            self.on_congestion_event(flight, mss, now);
        }
        self.state.cwnd = mss as f64;
        self.state.cwnd_epoch = self.state.cwnd;
    }

    fn set_window(&mut self, cwnd: usize) {
        self.state.cwnd = cwnd.max(1) as f64;
    }

    fn undo(&mut self) {
        if let Some(prior) = self.prior.take() {
            // §4.9: back to the state before the spurious reduction.
            let cwnd = self.state.cwnd.max(prior.cwnd);
            let ssthresh = self.state.ssthresh.max(prior.ssthresh);
            self.state = prior;
            self.state.cwnd = cwnd;
            self.state.ssthresh = ssthresh;
            self.state.epoch = None;
        }
    }

    fn commit(&mut self) {
        self.prior = None;
    }
}

/// The real cube root of `x >= 0`, by Newton's method (`core` has no `cbrt`).
pub fn cbrt(x: f64) -> f64 {
    if x <= 0.0 || x.is_nan() {
        return 0.0;
    }
    if x.is_infinite() {
        return x;
    }
    let mut y = if x > 1.0 { x / 3.0 + 1.0 } else { 1.0 };
    for _ in 0..200 {
        let next = (2.0 * y + x / (y * y)) / 3.0;
        let step = if next > y { next - y } else { y - next };
        if step <= 1e-12 * y {
            return next;
        }
        y = next;
    }
    y
}
