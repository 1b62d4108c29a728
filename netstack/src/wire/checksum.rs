//! The Internet checksum (RFC 1071), its incremental update (RFC 1624), the IPv4 pseudo-header
//! that TCP (RFC 9293 §3.1) and UDP (RFC 768) sum over, and [`ChecksumCaps`], which says which
//! checksums software computes and which a device has offloaded.
//!
//! A *sum* here is the 16-bit one's-complement sum of a run of bytes taken as big-endian words,
//! folded but not complemented; the *checksum* written in a header is its complement. Sums of
//! consecutive runs combine with [`combine`] as long as every run but the last has an even length.
//! A header whose checksum is right sums, checksum field included, to `0xffff`.

use super::ipv4::{IpProtocol, Ipv4Address};

/// Folds a wide one's-complement accumulator to 16 bits (RFC 1071 §4.1's end-around carry).
const fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The one's-complement sum of `data` as big-endian 16-bit words, an odd last byte padded with a
/// zero (RFC 1071 §4.1).
///
/// Sums 32-bit words into a 64-bit accumulator and folds at the end, which gives the same result
/// (RFC 1071 §2 (C), "parallel summation").
pub fn sum(data: &[u8]) -> u16 {
    let mut total: u64 = 0;
    // A block of 2^20 bytes adds at most 2^18 32-bit words: far below the accumulator's limit.
    for block in data.chunks(1 << 20) {
        let mut acc: u64 = 0;
        let mut words = block.chunks_exact(4);
        for word in &mut words {
            acc += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
        }
        let rest = words.remainder();
        let mut pairs = rest.chunks_exact(2);
        for pair in &mut pairs {
            acc += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = pairs.remainder() {
            acc += u64::from(*last) << 8;
        }
        total += u64::from(fold(acc));
    }
    fold(total)
}

/// The one's-complement sum of several sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The sum of the IPv4 pseudo-header that TCP and UDP prefix to their segment: source and
/// destination addresses, a zero byte, the protocol and the transport length (RFC 9293 §3.1,
/// RFC 768).
pub fn ipv4_pseudo_header(
    src_addr: Ipv4Address,
    dst_addr: Ipv4Address,
    protocol: IpProtocol,
    length: u16,
) -> u16 {
    let s = src_addr.octets();
    let d = dst_addr.octets();
    combine(&[
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(u8::from(protocol)),
        length,
    ])
}

/// The checksum to write after one 16-bit word of the covered data changes from `old` to `new`,
/// without summing the rest again: RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`. Unlike RFC 1141's
/// `HC + m + ~m'`, it always agrees with a full recomputation (which never gives `0xffff`, the
/// negative zero).
///
/// Decrementing a TTL, rewriting a port or an address (apply it once per word) are its uses.
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(&[!checksum, !old, new])
}

/// What to do with the checksum of a packet being emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxChecksum {
    /// Compute it in software.
    Compute,
    /// Write only the pseudo-header sum, uncomplemented, for a device that completes the checksum
    /// over the segment: virtio-net's `VIRTIO_NET_HDR_F_NEEDS_CSUM` contract (virtio 1.2
    /// §5.1.6.2). Only TCP and UDP have a pseudo-header; for IPv4 and ICMP this is
    /// [`TxChecksum::Compute`].
    Partial,
    /// Leave the field zero: the device computes the whole checksum.
    Offloaded,
}

/// What software does with one protocol's checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// Verify it on receive. `false` when the device has verified it (virtio-net's
    /// `VIRTIO_NET_HDR_F_DATA_VALID`) or may hand over a partial one (`NEEDS_CSUM` on receive).
    pub verify_rx: bool,
    /// What to write on transmit.
    pub tx: TxChecksum,
}

impl Checksum {
    /// Verified on receive and computed on transmit, in software.
    pub const SOFTWARE: Checksum = Checksum {
        verify_rx: true,
        tx: TxChecksum::Compute,
    };
    /// Neither verified nor computed: the device does both.
    pub const OFFLOADED: Checksum = Checksum {
        verify_rx: false,
        tx: TxChecksum::Offloaded,
    };
}

/// Which checksums software verifies and fills, per protocol. The default does everything in
/// software; a driver that negotiated checksum offload, or that learns per received packet that
/// the device has validated it, passes a copy with the offloaded ones changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChecksumCaps {
    /// The IPv4 header checksum (RFC 791 §3.1).
    pub ipv4: Checksum,
    /// The ICMP checksum (RFC 792).
    pub icmp: Checksum,
    /// The UDP checksum (RFC 768).
    pub udp: Checksum,
    /// The TCP checksum (RFC 9293 §3.1).
    pub tcp: Checksum,
}

impl ChecksumCaps {
    /// Every checksum verified and computed in software.
    pub const SOFTWARE: ChecksumCaps = ChecksumCaps {
        ipv4: Checksum::SOFTWARE,
        icmp: Checksum::SOFTWARE,
        udp: Checksum::SOFTWARE,
        tcp: Checksum::SOFTWARE,
    };

    /// No checksum verified or computed: for a device that does them all, and for fuzzing, where
    /// random bytes would rarely get past a checksum.
    pub const OFFLOADED: ChecksumCaps = ChecksumCaps {
        ipv4: Checksum::OFFLOADED,
        icmp: Checksum::OFFLOADED,
        udp: Checksum::OFFLOADED,
        tcp: Checksum::OFFLOADED,
    };
}

impl Default for ChecksumCaps {
    fn default() -> Self {
        ChecksumCaps::SOFTWARE
    }
}
