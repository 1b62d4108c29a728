//! The connection's timers, as deadlines on the caller's clock: the machine never sleeps; the
//! adapter asks [`crate::tcp::Tcb::poll_at`] for the earliest deadline, waits until then (or
//! for a segment), and calls [`crate::tcp::Tcb::poll_transmit`], which fires what has expired.
//!
//! - retransmission (RFC 6298 §5): runs while sequence space is outstanding;
//! - RACK's reordering timer (RFC 8985 §6.3): a segment sent before one already delivered
//!   is deemed lost once its reordering window has passed;
//! - delayed ACK (RFC 1122 4.2.3.2, RFC 5681 §4.2): at most one pending ACK's deadline;
//! - persist (RFC 9293 §3.8.6.1): the peer advertised a zero window while we have data;
//! - keepalive (RFC 1122 4.2.3.6): optional, off by default;
//! - TIME-WAIT (RFC 9293 §3.10.7.4): 2·MSL after the last FIN was acknowledged.

use morgana_executor::Instant;

/// Which timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission.
    Retransmit,
    /// RACK's reordering window ran out.
    Rack,
    /// Delayed ACK.
    DelayedAck,
    /// Zero-window probe.
    Persist,
    /// Keepalive probe.
    Keepalive,
    /// End of TIME-WAIT.
    TimeWait,
}

/// The deadlines, each `None` when its timer is stopped.
#[derive(Debug, Clone, Default)]
pub struct Timers {
    /// Retransmission.
    pub retransmit: Option<Instant>,
    /// RACK's reordering timer.
    pub rack: Option<Instant>,
    /// Delayed ACK.
    pub delayed_ack: Option<Instant>,
    /// Zero-window probe.
    pub persist: Option<Instant>,
    /// Keepalive probe.
    pub keepalive: Option<Instant>,
    /// End of TIME-WAIT.
    pub time_wait: Option<Instant>,
}

impl Timers {
    /// The earliest deadline of all.
    pub fn next(&self) -> Option<Instant> {
        [
            self.retransmit,
            self.rack,
            self.delayed_ack,
            self.persist,
            self.keepalive,
            self.time_wait,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The first timer that has expired at `now` (stopping it), in a fixed priority.
    pub fn expired(&mut self, now: Instant) -> Option<Timer> {
        let slots: [(&mut Option<Instant>, Timer); 6] = [
            (&mut self.time_wait, Timer::TimeWait),
            (&mut self.retransmit, Timer::Retransmit),
            (&mut self.rack, Timer::Rack),
            (&mut self.persist, Timer::Persist),
            (&mut self.keepalive, Timer::Keepalive),
            (&mut self.delayed_ack, Timer::DelayedAck),
        ];
        for (slot, timer) in slots {
            if slot.is_some_and(|at| at <= now) {
                *slot = None;
                return Some(timer);
            }
        }
        None
    }

    /// Stops every timer.
    pub fn clear(&mut self) {
        *self = Timers::default();
    }
}
