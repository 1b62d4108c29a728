//! `struct virtio_net_hdr`: the 12 bytes in front of every frame, both ways, and the reading of
//! a frame's IP header that decides which transmitted frames the device checksums.
//!
//! Ref: virtio 1.2, 5.1.6 (the layout; 12 bytes once VIRTIO_F_VERSION_1 is negotiated, whatever
//! MRG_RXBUF says), 5.1.6.2 (transmission: NEEDS_CSUM), 5.1.6.4 (reception: NEEDS_CSUM,
//! DATA_VALID, num_buffers).

/// The header's size with VIRTIO_F_VERSION_1 (virtio 1.2, 5.1.6: `num_buffers` is always there).
pub const HEADER_LEN: usize = 12;

/// `flags`: the checksum from `csum_start` to the end is left to the other side; the field at
/// `csum_start + csum_offset` holds the pseudo-header sum.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags` (receive only): the device validated the frame's checksum.
pub const F_DATA_VALID: u8 = 2;
/// `gso_type`: no segmentation offload (the only kind this driver negotiates).
pub const GSO_NONE: u8 = 0;

/// The largest frame carried, without FCS: a 1500-byte MTU, the Ethernet header and one
/// 802.1Q tag. Longer frames (the device negotiated no GSO, 5.1.6.4) are dropped and counted.
pub const MAX_FRAME: usize = 1500 + 14 + 4;
/// The largest frame the stack may hand to `TxToken::consume`: MTU plus Ethernet header.
pub const MAX_TX_FRAME: usize = 1500 + 14;

/// The fields of a `virtio_net_hdr` this driver uses, decoded (little-endian on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetHeader {
    /// NEEDS_CSUM, DATA_VALID.
    pub flags: u8,
    /// GSO_NONE here.
    pub gso_type: u8,
    /// Where checksumming starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
    /// How many receive buffers the frame spans (MRG_RXBUF); 0 on transmit.
    pub num_buffers: u16,
}

impl NetHeader {
    /// Decodes the first [`HEADER_LEN`] bytes of `bytes` (zeros for missing bytes).
    pub fn read(bytes: &[u8]) -> Self {
        let mut raw = [0u8; HEADER_LEN];
        let n = bytes.len().min(HEADER_LEN);
        raw[..n].copy_from_slice(&bytes[..n]);
        let le = |at: usize| u16::from_le_bytes([raw[at], raw[at + 1]]);
        NetHeader {
            flags: raw[0],
            gso_type: raw[1],
            // hdr_len (2) and gso_size (4) only matter for GSO.
            csum_start: le(6),
            csum_offset: le(8),
            num_buffers: le(10),
        }
    }

    /// Encodes into the first [`HEADER_LEN`] bytes of `out` (all of them are written).
    pub fn write(&self, out: &mut [u8]) {
        let mut raw = [0u8; HEADER_LEN];
        raw[0] = self.flags;
        raw[1] = self.gso_type;
        raw[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        raw[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        raw[10..12].copy_from_slice(&self.num_buffers.to_le_bytes());
        let n = out.len().min(HEADER_LEN);
        out[..n].copy_from_slice(&raw[..n]);
    }

    /// Checks a received frame of `frame_len` bytes against its header and says whether the
    /// device vouches for its TCP/UDP checksum. `Err` is a device misbehaving: a frame empty or
    /// longer than [`MAX_FRAME`], a GSO type that was not negotiated, or checksum offsets past
    /// the frame. `guest_csum` says VIRTIO_NET_F_GUEST_CSUM was negotiated; without it the
    /// flags must be 0 (5.1.6.4.1) and are ignored.
    pub fn check_rx(&self, frame_len: usize, guest_csum: bool) -> Result<bool, ()> {
        if frame_len == 0 || frame_len > MAX_FRAME || self.gso_type != GSO_NONE {
            return Err(());
        }
        if !guest_csum {
            return Ok(false);
        }
        if self.flags & F_NEEDS_CSUM != 0 {
            // 5.1.6.4: the checksum is partial, to be completed from csum_start; the data came
            // from a sender the device trusts (a local socket on the host), so it is as good as
            // verified. The field it names must lie inside the frame.
            let field_end = usize::from(self.csum_start) + usize::from(self.csum_offset) + 2;
            return if field_end <= frame_len {
                Ok(true)
            } else {
                Err(())
            };
        }
        Ok(self.flags & F_DATA_VALID != 0)
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// Where TCP (RFC 9293, 3.1) and UDP (RFC 768) keep their checksum.
const TCP_CSUM_OFFSET: u16 = 16;
const UDP_CSUM_OFFSET: u16 = 6;

/// For a frame to transmit with VIRTIO_NET_F_CSUM negotiated: `(csum_start, csum_offset)` when
/// the device is to complete its TCP or UDP checksum, else `None`.
///
/// That is the tx-checksum contract with the stack (see the [module docs](super)): an Ethernet
/// frame carrying an unfragmented IPv4 datagram, or an IPv6 packet whose first next header is
/// TCP or UDP, whose transport header is whole in the frame. Anything else (ARP, ICMP, an IPv4
/// fragment, IPv6 extension headers) is sent as is.
pub fn tx_checksum(frame: &[u8]) -> Option<(u16, u16)> {
    let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    let (start, proto) = match be16(12)? {
        ETHERTYPE_IPV4 => {
            let ver_ihl = *frame.get(14)?;
            let ihl = usize::from(ver_ihl & 0x0f) * 4;
            if ver_ihl >> 4 != 4 || ihl < 20 {
                return None;
            }
            // More fragments, or a fragment offset: the checksum covers the whole datagram,
            // which this frame is not.
            if be16(14 + 6)? & 0x3fff != 0 {
                return None;
            }
            (14 + ihl, *frame.get(14 + 9)?)
        }
        ETHERTYPE_IPV6 => {
            if *frame.get(14)? >> 4 != 6 {
                return None;
            }
            (14 + 40, *frame.get(14 + 6)?)
        }
        _ => return None,
    };
    let (offset, header_len) = match proto {
        PROTO_TCP => (TCP_CSUM_OFFSET, 20),
        PROTO_UDP => (UDP_CSUM_OFFSET, 8),
        _ => return None,
    };
    if start + header_len > frame.len() {
        return None;
    }
    Some((u16::try_from(start).ok()?, offset))
}
