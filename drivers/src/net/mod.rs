//! The network device interface: what the netstack asks of a NIC, and nothing more.
//!
//! A [`NetDevice`] lends its own buffers through tokens, so a frame goes from the device's DMA
//! buffer to the stack's parser, and from the stack's serializer to the device's DMA buffer,
//! without a copy:
//!
//! - [`NetDevice::receive`] returns a received frame ([`RxToken`]) together with a
//!   [`TxToken`] for an immediate reply (ARP, ICMP echo, a TCP ACK), or `None`;
//! - [`NetDevice::transmit`] returns room for one frame, or `None`.
//!
//! **The waker rule.** When `receive` or `transmit` returns `None`, the device has registered
//! `cx.waker()` and will wake it when a frame arrives or room frees up (from task context: the
//! driver's interrupt task, after the executor turned the interrupt into a wake). A device never
//! returns `None` without arranging that wake-up, so the stack can simply wait.
//!
//! **Batching.** Consuming a [`TxToken`] queues the frame; the device tells the hardware about
//! queued frames once per [`NetDevice::flush`] (the stack flushes after each round of work), so
//! a burst of frames costs one notification.
//!
//! Implementations: virtio-net and Xen netfront (this crate), a TAP device (the
//! hosted platform), and the netstack's test links (loopback, simulated lossy links, pcap).

use core::task::Context;

/// A received frame, lent by the device until consumed.
pub trait RxToken {
    /// Hands the frame (an Ethernet frame without FCS) to `f`, mutable so that the stack can
    /// rewrite it in place (say, an echo reply). The buffer returns to the device afterwards.
    fn consume<R>(self, f: impl FnOnce(&mut [u8]) -> R) -> R;

    /// Whether the device vouches for this frame's TCP/UDP checksum, so the stack need not verify
    /// it (only ever `true` on a device whose [`ChecksumOffload::rx_verified`] is set). The
    /// checksum field of such a frame may hold only a partial sum (virtio-net's `NEEDS_CSUM` on
    /// receive: the frame came from a sender on the host that left the checksum to "hardware").
    fn checksum_verified(&self) -> bool {
        false
    }
}

/// Room for one frame to transmit, lent by the device until consumed.
pub trait TxToken {
    /// Lends a buffer of exactly `len` bytes for `f` to fill with an Ethernet frame (no FCS);
    /// the frame is queued when `f` returns and sent at the next [`NetDevice::flush`] at the
    /// latest. `len` above the device's MTU (plus the Ethernet header) is the caller's bug: the
    /// device truncates nothing silently, it drops the frame and counts it.
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R;
}

/// Checksums the device computes or verifies so the stack need not (virtio-net's CSUM and
/// GUEST_CSUM features, a TAP device's offloads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChecksumOffload {
    /// The device verified the TCP/UDP checksums of received frames it marks as verified
    /// ([`RxToken::checksum_verified`]); the stack verifies the others.
    pub rx_verified: bool,
    /// The device fills in TCP/UDP checksums of transmitted frames (the stack still fills the
    /// IPv4 header checksum and the pseudo-header sum where the device asks for it).
    pub tx_fills: bool,
}

/// What the device can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The largest IP packet it carries (the Ethernet payload): 1500 on Ethernet.
    pub mtu: usize,
    /// How many frames it takes in one burst before `transmit` says "no room", if it knows.
    pub max_burst: Option<usize>,
    /// Checksum work it does.
    pub checksum: ChecksumOffload,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            mtu: 1500,
            max_burst: None,
            checksum: ChecksumOffload::default(),
        }
    }
}

/// Whether the link is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Frames can flow.
    Up,
    /// No carrier (cable out, backend gone): frames are dropped.
    Down,
}

/// A network interface card. See the [module docs](self) for the waker rule and batching.
pub trait NetDevice {
    /// A received frame.
    type RxToken<'a>: RxToken
    where
        Self: 'a;
    /// Room for a frame to send.
    type TxToken<'a>: TxToken
    where
        Self: 'a;

    /// A received frame and room for a reply, or `None` (and `cx`'s waker is woken when a
    /// frame arrives).
    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)>;

    /// Room for a frame, or `None` (and `cx`'s waker is woken when there is room).
    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<Self::TxToken<'_>>;

    /// Tells the hardware about every frame queued since the last flush: one notification.
    fn flush(&mut self);

    /// The device's MAC address.
    fn hardware_address(&self) -> [u8; 6];

    /// What the device can do.
    fn capabilities(&self) -> Capabilities;

    /// The link's state; when it changes, `cx`'s waker is woken.
    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState;
}
