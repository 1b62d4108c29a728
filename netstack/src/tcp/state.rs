//! The states of a TCP connection (RFC 9293 §3.3.2, figure 5).
//!
//! ```text
//!                              +---------+ ---------\      active OPEN
//!                              |  CLOSED |            \    -----------
//!                              +---------+<---------\   \   create TCB
//!                                |     ^              \   \  snd SYN
//!                   passive OPEN |     |   CLOSE        \   \
//!                   ------------ |     | ----------       \   \
//!                    create TCB  |     | delete TCB         \   \
//!                                V     |                      \   \
//!            rcv RST (note 1)  +---------+            CLOSE    |    \
//!         -------------------->|  LISTEN |          ---------- |     |
//!        /                     +---------+          delete TCB |     |
//!       /           rcv SYN      |     |     SEND              |     |
//!      /           -----------   |     |    -------            |     V
//! +--------+      snd SYN,ACK  /       \   snd SYN          +--------+
//! |        |<-----------------           ------------------>|        |
//! |  SYN   |                    rcv SYN                     |  SYN   |
//! |  RCVD  |<-----------------------------------------------|  SENT  |
//! |        |                  snd SYN,ACK                   |        |
//! |        |------------------           -------------------|        |
//! +--------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +--------+
//!    |         --------------   |     |   -----------
//!    |                x         |     |     snd ACK
//!    |                          V     V
//!    |  CLOSE                 +---------+
//!    | -------                |  ESTAB  |
//!    | snd FIN                +---------+
//!    |                 CLOSE    |     |    rcv FIN
//!    V                -------   |     |    -------
//! +---------+         snd FIN  /       \   snd ACK         +---------+
//! |  FIN    |<----------------          ------------------>|  CLOSE  |
//! | WAIT-1  |------------------                            |   WAIT  |
//! +---------+          rcv FIN  \                          +---------+
//!   | rcv ACK of FIN   -------   |                          CLOSE  |
//!   | --------------   snd ACK   |                         ------- |
//!   V        x                   V                         snd FIN V
//! +---------+               +---------+                    +---------+
//! |FINWAIT-2|               | CLOSING |                    | LAST-ACK|
//! +---------+               +---------+                    +---------+
//!   |                rcv ACK of FIN |                 rcv ACK of FIN |
//!   |  rcv FIN       -------------- |    Timeout=2MSL -------------- |
//!   |  -------              x       V    ------------        x       V
//!    \ snd ACK              +---------+delete TCB          +---------+
//!      -------------------->|TIME-WAIT|------------------->| CLOSED  |
//!                           +---------+                    +---------+
//! ```
//!
//! A [`crate::tcp::Tcb`] is never in LISTEN: the listener (a layer above) keeps the half-open
//! queue and creates a `Tcb` in SYN-RECEIVED from the SYN with [`crate::tcp::Tcb::accept`]. The
//! state is here so that a socket table can report it.

use core::fmt;

/// A TCP connection state (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection: never opened, or finished (reset, timed out, TIME-WAIT expired, aborted).
    Closed,
    /// Waiting for a SYN (listeners only; a `Tcb` never is).
    Listen,
    /// Our SYN sent, waiting for the peer's SYN and the ACK of ours.
    SynSent,
    /// The peer's SYN received and ours sent, waiting for the ACK of ours.
    SynReceived,
    /// Open both ways.
    Established,
    /// We closed (FIN queued or sent), our FIN not yet acknowledged, the peer still open.
    FinWait1,
    /// Our FIN acknowledged, the peer still open.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once: our FIN not yet acknowledged, the peer's received.
    Closing,
    /// The peer closed, then we did: waiting for the ACK of our FIN.
    LastAck,
    /// Both closed and acknowledged; lingering 2·MSL so that a lost final ACK can be repeated
    /// and old duplicates die out.
    TimeWait,
}

impl State {
    /// Whether the handshake is complete (RFC 9293's "synchronized states").
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// Whether we may still queue data to send.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        )
    }

    /// Whether data from the peer is still accepted (RFC 9293 §3.10.7.4, "seventh").
    pub fn can_receive(self) -> bool {
        matches!(self, State::Established | State::FinWait1 | State::FinWait2)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        })
    }
}
