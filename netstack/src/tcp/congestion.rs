//! Congestion control: the congestion window and slow-start threshold (RFC 5681), behind a
//! [`Congestion`] trait so that CUBIC (RFC 9438) can join NewReno.
//!
//! The trait sees only window arithmetic. The loss-recovery state machine (three duplicate ACKs,
//! NewReno's recovery point and partial ACKs, RFC 6582) lives in the connection, which tells the
//! controller what happened; a SACK-based recovery (RFC 6675) would drive the same calls.

use core::fmt;

/// A congestion controller: owns `cwnd` and `ssthresh`, in bytes.
pub trait Congestion: fmt::Debug {
    /// The congestion window.
    fn window(&self) -> usize;
    /// The slow-start threshold.
    fn ssthresh(&self) -> usize;
    /// `acked` new bytes were acknowledged outside loss recovery (RFC 5681 §3.1).
    fn on_ack(&mut self, acked: usize, mss: usize);
    /// Three duplicate ACKs: fast retransmit begins (RFC 5681 §3.2 steps 2 and 3).
    fn on_fast_retransmit(&mut self, flight: usize, mss: usize);
    /// Another duplicate ACK during recovery: inflate the window (RFC 6582 §3.2 step 3).
    fn on_recovery_dup_ack(&mut self, mss: usize);
    /// A partial ACK of `acked` bytes during recovery: deflate (RFC 6582 §3.2 step 5).
    fn on_partial_ack(&mut self, acked: usize, mss: usize);
    /// A full ACK ends recovery (RFC 6582 §3.2 step 4), `flight` bytes still outstanding.
    fn on_recovery_exit(&mut self, flight: usize, mss: usize);
    /// The retransmission timer expired (RFC 5681 §3.1, equation 4 and the loss window).
    fn on_timeout(&mut self, flight: usize, mss: usize);
}

/// The initial window of RFC 6928: `min(10·MSS, max(2·MSS, 14600))`.
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14600))
}

/// NewReno's window arithmetic (RFC 5681 with RFC 6582's recovery adjustments).
#[derive(Debug, Clone)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since `cwnd` last grew (RFC 5681 §3.1's
    /// appropriate byte counting: one MSS per window of data acknowledged).
    bytes_acked: usize,
}

impl NewReno {
    /// A controller starting at the initial window, with an "arbitrarily high" ssthresh
    /// (RFC 5681 §3.1).
    pub fn new(mss: usize) -> Self {
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            bytes_acked: 0,
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

    fn on_ack(&mut self, acked: usize, mss: usize) {
        if self.cwnd < self.ssthresh {
            // Slow start, with RFC 3465's limit of L = 2·MSS per ACK.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        } else {
            self.bytes_acked += acked;
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn on_fast_retransmit(&mut self, flight: usize, mss: usize) {
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh + 3 * mss;
        self.bytes_acked = 0;
    }

    fn on_recovery_dup_ack(&mut self, mss: usize) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }

    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        self.cwnd = self.cwnd.saturating_sub(acked);
        if acked >= mss {
            self.cwnd += mss;
        }
        self.cwnd = self.cwnd.max(mss);
    }

    fn on_recovery_exit(&mut self, flight: usize, mss: usize) {
        // RFC 6582 §3.2 step 4, option 1, guarded against a burst.
        self.cwnd = self.ssthresh.min(flight.max(mss) + mss);
        self.bytes_acked = 0;
    }

    fn on_timeout(&mut self, flight: usize, mss: usize) {
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.bytes_acked = 0;
    }
}
