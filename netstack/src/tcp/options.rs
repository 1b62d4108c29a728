//! What the two SYNs negotiated: MSS (RFC 9293 §3.7.1, RFC 6691), window scaling (RFC 7323 §2),
//! timestamps (RFC 7323 §3) and SACK-permitted (RFC 2018 §2).
//!
//! Window scaling, timestamps and SACK hold only if *both* SYNs carried the option; a SYN-ACK
//! carries one only if the SYN did. The MSS is each side's own: the peer's (536 when it sent
//! none, RFC 9293 §3.7.1) bounds what we send.

use crate::wire::TcpRepr;

/// The MSS assumed when the peer sends none (RFC 9293 §3.7.1, RFC 1122 4.2.2.6).
pub const DEFAULT_MSS: u16 = 536;

/// The largest window scale shift (RFC 7323 §2.3).
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// The options offered in our SYN (or SYN-ACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Our MSS: the largest segment we will receive.
    pub mss: u16,
    /// Our window shift, if we offer scaling.
    pub window_shift: Option<u8>,
    /// Whether we offer timestamps.
    pub timestamps: bool,
    /// Whether we offer SACK.
    pub sack: bool,
}

/// The result of negotiation, fixed once the peer's SYN is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's MSS: the most payload we put in a segment (before options).
    pub send_mss: u16,
    /// The shift applied to windows the peer advertises.
    pub send_shift: u8,
    /// The shift applied to windows we advertise.
    pub recv_shift: u8,
    /// Both sides send timestamps on every segment.
    pub timestamps: bool,
    /// Both may use SACK.
    pub sack: bool,
}

impl Negotiated {
    /// What our `offer` and the peer's SYN agree on. With an offer made in a SYN-ACK, pass the
    /// offer already reduced by [`Offer::answer`].
    pub fn new(offer: &Offer, peer_syn: &TcpRepr<'_>) -> Self {
        let scaling = offer.window_shift.zip(peer_syn.window_scale);
        Negotiated {
            // RFC 6691: the MSS option counts neither IP nor TCP options; a zero or tiny MSS
            // from a hostile peer is raised to a floor that keeps the machine moving.
            send_mss: peer_syn.max_seg_size.unwrap_or(DEFAULT_MSS).max(64),
            send_shift: scaling.map_or(0, |(_, theirs)| theirs.min(MAX_WINDOW_SHIFT)),
            recv_shift: scaling.map_or(0, |(ours, _)| ours),
            timestamps: offer.timestamps && peer_syn.timestamp.is_some(),
            sack: offer.sack && peer_syn.sack_permitted,
        }
    }
}

impl Offer {
    /// The offer of a SYN-ACK: only what the peer's SYN offered too (RFC 7323 §2.2, §3.2;
    /// RFC 2018 §2).
    pub fn answer(mut self, peer_syn: &TcpRepr<'_>) -> Self {
        if peer_syn.window_scale.is_none() {
            self.window_shift = None;
        }
        if peer_syn.timestamp.is_none() {
            self.timestamps = false;
        }
        if !peer_syn.sack_permitted {
            self.sack = false;
        }
        self
    }
}

/// The smallest shift that lets a 16-bit window field describe `capacity` bytes.
pub fn window_shift_for(capacity: usize) -> u8 {
    let mut shift = 0;
    while shift < MAX_WINDOW_SHIFT && (capacity >> shift) > usize::from(u16::MAX) {
        shift += 1;
    }
    shift
}
