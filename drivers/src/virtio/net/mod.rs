//! The virtio network device (virtio-net): a [`NetDevice`] over two virtqueues, receiveq1 and
//! transmitq1, with zero-copy tokens, batched notifications and checksum offload.
//! Ref: virtio 1.2, 5.1.
//!
//! # Features (5.1.3)
//!
//! Required: VIRTIO_F_VERSION_1 (a legacy device is [`Error::Legacy`]). Taken when offered:
//! MAC (the device's address, else a locally administered one from [`Config::mac_seed`]),
//! STATUS (the link state, config offset 6), MRG_RXBUF (a frame may span several receive
//! buffers), CSUM (the device completes TCP/UDP checksums of frames we mark), GUEST_CSUM (the
//! device may hand over frames whose checksum it validated, or left partial), and
//! VIRTIO_F_EVENT_IDX. Nothing else: no GSO/TSO, no control queue, one queue pair.
//!
//! # Receive
//!
//! One 2 KiB DMA buffer per receive descriptor (header and frame), all posted at start-up.
//! [`NetDevice::receive`] pops a used buffer and lends the frame in place, after the 12-byte
//! header. When the token is consumed or dropped the buffer is posted again; re-posts are
//! announced at the next [`NetDevice::flush`], or by `receive` itself once a quarter of the ring
//! awaits announcing. The one copy: with MRG_RXBUF, a frame the device spread over several
//! buffers is put together in a driver-owned scratch buffer (every buffer goes straight back
//! to the ring). With 2 KiB buffers and no GSO, QEMU never does that for a 1514-byte frame;
//! the copy is the rare path.
//!
//! # Transmit
//!
//! A pool of 2 KiB DMA buffers, one per transmit descriptor. [`NetDevice::transmit`] first
//! collects the buffers of sent frames, then lends a free one; the stack writes the frame after
//! the header, and consuming the token queues it without a notification. [`NetDevice::flush`]
//! notifies each queue once, if the device asked (event index, or NO_NOTIFY clear). Transmit
//! completions raise no interrupt unless `transmit` ran out of buffers.
//!
//! # The tx-checksum contract
//!
//! When [`Capabilities::checksum`]`.tx_fills` is set (CSUM negotiated), the stack writes, in
//! every TCP or UDP segment it sends in an unfragmented IPv4 datagram (or an IPv6 packet whose
//! first next header is TCP or UDP), only the pseudo-header sum, uncomplemented, in the
//! checksum field (netstack's `TxChecksum::Partial`), and pads the frame, if at all, with zero
//! bytes. The driver recognizes such frames from their headers and sets NEEDS_CSUM with
//! `csum_start` at the TCP/UDP header and `csum_offset` 16 (TCP) or 6 (UDP); the device sums
//! from there to the frame's end (5.1.6.2), which zero padding does not change. The stack
//! computes in full, in software, everything else: the IPv4 header checksum, ICMP, and the
//! TCP/UDP checksum of a datagram it fragments (fragments are never marked). No per-frame
//! signal crosses the [`TxToken`](crate::net::TxToken) interface.
//!
//! On receive, with GUEST_CSUM, [`RxToken::checksum_verified`](crate::net::RxToken) is true for
//! frames the device marked DATA_VALID or NEEDS_CSUM (5.1.6.4): the stack skips their TCP/UDP
//! checksum, which for NEEDS_CSUM holds only a partial sum.
//!
//! # Interrupts
//!
//! The driver owns no task. The netstack's task polls it; `receive` and `transmit` follow the
//! waker rule of [`crate::net`]: before returning `None` they store the waker, re-enable the
//! queue's used-buffer notifications (with event index: `used_event` = the next entry) and
//! re-check the ring, closing the race with a device that used a buffer meanwhile (2.7.14).
//! While frames flow, receive interrupts are off (suppressed on the first frame popped).
//!
//! Whatever task awaits the device's interrupt event calls [`VirtioNet::handle_interrupt`]
//! (INTx, virtio-mmio), or [`VirtioNet::handle_queue_interrupt`] and
//! [`VirtioNet::handle_config_interrupt`] (MSI-X vectors). They acknowledge at the device and
//! wake the stored wakers. On a level-triggered line the platform's interrupt handler masks
//! the line and marks the event; the task unmasks it after `handle_interrupt` returns, once
//! the device has deasserted it, so the line never storms.
//!
//! The device is live once [`VirtioNet::new`] returns, and frames waiting for it fill the
//! receive buffers at once: a platform that routes the interrupt after `new` calls
//! `handle_interrupt` once when it has. A virtio-mmio line stays high until acknowledged, so
//! an edge-triggered input (QEMU's `virt` describes them so) routed while it was high would
//! never see another interrupt.
//!
//! # A misbehaving device
//!
//! Bad used ids, lengths past a buffer, frames shorter than the header or longer than
//! [`MAX_FRAME`], a GSO type never negotiated, checksum offsets past the frame, a `num_buffers`
//! of 0 or larger than the ring: each such frame is dropped and counted ([`Stats::rx_dropped`],
//! [`Stats::device_errors`]); nothing panics. A used index that runs past the chains in flight
//! leaves the ring unusable: the device is marked FAILED, the link reads down, and `receive` /
//! `transmit` return `None` for good; [`VirtioNet::failure`] says why, for the platform's
//! console.

mod header;
mod pool;
mod rx;
mod tx;

pub use header::{HEADER_LEN, MAX_FRAME, MAX_TX_FRAME};
pub use rx::VirtioRxToken;
pub use tx::VirtioTxToken;

use core::fmt;
use core::mem::ManuallyDrop;
use core::task::{Context, Waker};

use self::rx::RxQueue;
use self::tx::TxQueue;
use super::hal::Hal;
use super::transport::{DeviceType, Transport};
use super::{Error, features as common};
use crate::net::{Capabilities, ChecksumOffload, LinkState, NetDevice};

/// virtio-net feature bits. Ref: virtio 1.2, 5.1.3.
pub mod features {
    /// The device completes checksums of frames the driver marks NEEDS_CSUM.
    pub const CSUM: u64 = 1 << 0;
    /// The driver accepts frames with partial (NEEDS_CSUM) or validated (DATA_VALID)
    /// checksums.
    pub const GUEST_CSUM: u64 = 1 << 1;
    /// The device has a MAC address in its configuration.
    pub const MAC: u64 = 1 << 5;
    /// The driver can merge receive buffers: `num_buffers` in the header.
    pub const MRG_RXBUF: u64 = 1 << 15;
    /// The configuration's `status` field is valid (link up, announce).
    pub const STATUS: u64 = 1 << 16;
    /// What this driver accepts when offered.
    pub const SUPPORTED: u64 =
        CSUM | GUEST_CSUM | MAC | MRG_RXBUF | STATUS | crate::virtio::features::EVENT_IDX;
}

/// receiveq1 and transmitq1 (virtio 1.2, 5.1.2; no VIRTIO_NET_F_MQ, no control queue).
const RECEIVE_QUEUE: u16 = 0;
const TRANSMIT_QUEUE: u16 = 1;
/// `struct virtio_net_config`: `mac` at 0, `status` at 6 (5.1.4).
const CONFIG_MAC: usize = 0;
const CONFIG_STATUS: usize = 6;
/// `status`: VIRTIO_NET_S_LINK_UP.
const S_LINK_UP: u16 = 1;

/// How to set up the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Receive ring entries (and 2 KiB buffers), lowered to what the device supports.
    pub rx_queue_size: u16,
    /// Transmit ring entries (and 2 KiB buffers), lowered to what the device supports.
    pub tx_queue_size: u16,
    /// Seeds the locally administered MAC address used when the device has none (no
    /// VIRTIO_NET_F_MAC): give it something that differs between machines (platform entropy).
    pub mac_seed: u64,
    /// The features to accept when offered, within [`features::SUPPORTED`] (clear bits to
    /// turn an offload off). VIRTIO_F_VERSION_1 is always required.
    pub features: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rx_queue_size: 256,
            tx_queue_size: 256,
            mac_seed: 0,
            features: features::SUPPORTED,
        }
    }
}

/// What the driver has seen, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to the stack.
    pub rx_frames: u64,
    /// Their bytes (Ethernet header on, virtio header off).
    pub rx_bytes: u64,
    /// Received frames dropped: the device got something wrong.
    pub rx_dropped: u64,
    /// Frames queued for the device.
    pub tx_frames: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Frames the stack wrote that were not sent: no free buffer for a reply, or a bad length.
    pub tx_dropped: u64,
    /// Available-buffer notifications sent to the device (both queues).
    pub notifications: u64,
    /// Interrupts handled (`handle_*` calls).
    pub interrupts: u64,
    /// Device misbehaviour seen: bad used entries, bad headers, bad configuration reads.
    pub device_errors: u64,
}

/// One line for a log: `rx N frames N bytes N dropped, tx N frames N bytes N dropped, N
/// notifications, N interrupts, N device errors`. Shorter in the image than the derived
/// `Debug`'s struct printing, which a log line would otherwise link in.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rx {} frames {} bytes {} dropped, tx {} frames {} bytes {} dropped, \
             {} notifications, {} interrupts, {} device errors",
            self.rx_frames,
            self.rx_bytes,
            self.rx_dropped,
            self.tx_frames,
            self.tx_bytes,
            self.tx_dropped,
            self.notifications,
            self.interrupts,
            self.device_errors
        )
    }
}

/// A virtio network device. See the [module docs](self).
pub struct VirtioNet<H: Hal, T: Transport> {
    transport: T,
    features: u64,
    mac: [u8; 6],
    link: LinkState,
    link_waker: Option<Waker>,
    // Freed in `drop` only once the device is reset.
    rx: ManuallyDrop<RxQueue<H>>,
    tx: ManuallyDrop<TxQueue<H>>,
    notifications: u64,
    interrupts: u64,
    config_errors: u64,
    broken: bool,
}

impl<H: Hal, T: Transport> VirtioNet<H, T> {
    /// Initializes the device behind `transport` (virtio 1.2, 3.1.1 and 5.1.5): negotiates
    /// features, sets up receiveq1 and transmitq1, reads the MAC address and link state, posts
    /// every receive buffer, makes the device live and tells it about the buffers.
    pub fn new(mut transport: T, config: Config) -> Result<Self, Error> {
        let found = transport.device_type();
        if found != DeviceType::Network {
            return Err(Error::WrongDeviceType {
                expected: DeviceType::Network,
                found,
            });
        }
        let features = transport.begin_init(config.features & features::SUPPORTED)?;
        let has = |bit: u64| features & bit != 0;
        let event_idx = has(common::EVENT_IDX);
        let setup = (|| {
            let rx = RxQueue::new(
                &mut transport,
                RECEIVE_QUEUE,
                config.rx_queue_size,
                event_idx,
                has(features::MRG_RXBUF),
                has(features::GUEST_CSUM),
            )?;
            let tx = TxQueue::new(
                &mut transport,
                TRANSMIT_QUEUE,
                config.tx_queue_size,
                event_idx,
                has(features::CSUM),
            )?;
            let mut mac = [0; 6];
            if has(features::MAC) {
                transport.read_config_bytes(CONFIG_MAC, &mut mac)?;
            } else {
                // 5.1.5: without VIRTIO_NET_F_MAC "the driver would typically generate a
                // random local MAC address".
                mac = local_mac(config.mac_seed);
            }
            Ok((rx, tx, mac))
        })();
        let (mut rx, tx, mac) = match setup {
            Ok(parts) => parts,
            Err(e) => {
                // No DRIVER_OK: the device never touched the memory just freed (2.1.2).
                transport.fail();
                return Err(e);
            }
        };
        rx.post_all();
        transport.finish_init();
        let mut net = VirtioNet {
            transport,
            features,
            mac,
            link: LinkState::Up,
            link_waker: None,
            rx: ManuallyDrop::new(rx),
            tx: ManuallyDrop::new(tx),
            notifications: 0,
            interrupts: 0,
            config_errors: 0,
            broken: false,
        };
        net.link = net.read_link();
        // Notifications only after DRIVER_OK (3.1.1).
        net.kick_rx();
        Ok(net)
    }

    /// The negotiated feature bits (common and [`features`]).
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The driver's counters.
    pub fn stats(&self) -> Stats {
        let (rx, tx) = (&self.rx.stats, &self.tx.stats);
        Stats {
            rx_frames: rx.frames,
            rx_bytes: rx.bytes,
            rx_dropped: rx.dropped,
            tx_frames: tx.frames,
            tx_bytes: tx.bytes,
            tx_dropped: tx.dropped,
            notifications: self.notifications,
            interrupts: self.interrupts,
            device_errors: rx.device_errors + tx.device_errors + self.config_errors,
        }
    }

    /// Why the driver gave up on the device, once it has: a queue's used index ran past the
    /// chains in flight, so nothing the device says can be trusted. The device is then marked
    /// FAILED, the link reads down, and `receive` / `transmit` return `None` for good. The
    /// driver logs nothing: the platform should say this on its console, or the network just
    /// goes quiet.
    pub fn failure(&self) -> Option<&'static str> {
        if !self.broken {
            None
        } else if self.rx.broken {
            Some("receiveq1's used index ran past the buffers in flight")
        } else {
            Some("transmitq1's used index ran past the buffers in flight")
        }
    }

    /// The transport, for the platform's interrupt set-up (MSI-X vectors, say).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// For an INTx or virtio-mmio interrupt line: acknowledges at the device (reading the
    /// interrupt status deasserts a level-triggered line, 4.1.4.5 / 4.2.3.4), re-reads the link
    /// state on a configuration change, and wakes the tasks waiting to receive or transmit.
    /// Returns whether the device had an interrupt pending (false: spurious, or another
    /// device's on a shared line). The caller unmasks the line afterwards.
    pub fn handle_interrupt(&mut self) -> bool {
        self.interrupts += 1;
        let status = self.transport.ack_interrupt_status();
        if status.config() {
            self.refresh_link();
        }
        if status.queue() {
            self.wake_queues();
        }
        !status.is_empty()
    }

    /// For an MSI-X queue vector: wakes the tasks waiting to receive or transmit, without
    /// reading the ISR status (4.1.4.5.2: the driver SHOULD NOT with MSI-X).
    pub fn handle_queue_interrupt(&mut self) {
        self.interrupts += 1;
        self.wake_queues();
    }

    /// For the MSI-X configuration vector: re-reads the link state.
    pub fn handle_config_interrupt(&mut self) {
        self.interrupts += 1;
        self.refresh_link();
    }

    fn wake_queues(&mut self) {
        if let Some(waker) = self.rx.waker.take() {
            waker.wake();
        }
        if let Some(waker) = self.tx.waker.take() {
            waker.wake();
        }
    }

    /// The link state from the configuration (5.1.4), up without VIRTIO_NET_F_STATUS
    /// (5.1.4.2: the driver "SHOULD assume the link is active").
    fn read_link(&mut self) -> LinkState {
        if self.broken {
            return LinkState::Down;
        }
        if self.features & features::STATUS == 0 {
            return LinkState::Up;
        }
        match self.transport.read_config_u16(CONFIG_STATUS) {
            Ok(status) if status & S_LINK_UP != 0 => LinkState::Up,
            Ok(_) => LinkState::Down,
            Err(_) => {
                self.config_errors += 1;
                self.link
            }
        }
    }

    fn refresh_link(&mut self) {
        let link = self.read_link();
        if link != self.link {
            self.link = link;
            if let Some(waker) = self.link_waker.take() {
                waker.wake();
            }
        }
    }

    fn kick_rx(&mut self) {
        if self.rx.queue.kick(&mut self.transport) {
            self.notifications += 1;
        }
        self.rx.unkicked = 0;
    }

    fn kick_tx(&mut self) {
        if self.tx.queue.kick(&mut self.transport) {
            self.notifications += 1;
        }
        self.tx.unkicked = 0;
    }

    /// After a queue found the device's used index running past its chains: give up on the
    /// device (3.1.1: FAILED), report the link down.
    fn check_broken(&mut self) -> bool {
        if (self.rx.broken || self.tx.broken) && !self.broken {
            self.broken = true;
            self.transport.fail();
            self.refresh_link();
        }
        self.broken
    }
}

/// Keeps `slot` holding a waker that wakes `waker`'s task, cloning only when it changed.
fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(stored) if stored.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// A locally administered unicast MAC address from `seed` (splitmix64's finalizer).
fn local_mac(seed: u64) -> [u8; 6] {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let b = z.to_le_bytes();
    // IEEE 802: bit 1 of the first byte is "locally administered", bit 0 "group".
    [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

impl<H: Hal, T: Transport> NetDevice for VirtioNet<H, T> {
    type RxToken<'a>
        = VirtioRxToken<'a, H>
    where
        Self: 'a;
    type TxToken<'a>
        = VirtioTxToken<'a, H>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.broken {
            store_waker(&mut self.rx.waker, cx.waker());
            return None;
        }
        self.rx.retry_unposted();
        if self.rx.low() {
            self.kick_rx();
        }
        loop {
            if let Some(popped) = self.rx.pop_frame() {
                if self.rx.interrupts {
                    // Frames are flowing: no interrupt per frame until the ring is drained.
                    self.rx.interrupts = false;
                    self.rx.queue.disable_interrupts();
                }
                let tx = VirtioTxToken {
                    tx: &mut self.tx,
                    buf: None,
                };
                return Some((self.rx.token(popped), tx));
            }
            if self.check_broken() {
                store_waker(&mut self.rx.waker, cx.waker());
                return None;
            }
            // Nothing: announce re-posted buffers, arm the interrupt, and look once more.
            if self.rx.unkicked > 0 {
                self.kick_rx();
            }
            store_waker(&mut self.rx.waker, cx.waker());
            self.rx.interrupts = true;
            if !self.rx.queue.enable_interrupts() {
                return None;
            }
        }
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<Self::TxToken<'_>> {
        loop {
            if self.broken {
                store_waker(&mut self.tx.waker, cx.waker());
                return None;
            }
            if let Some(buf) = self.tx.take_buffer() {
                if self.tx.interrupts {
                    self.tx.interrupts = false;
                    self.tx.queue.disable_interrupts();
                }
                return Some(VirtioTxToken {
                    tx: &mut self.tx,
                    buf: Some(buf),
                });
            }
            if self.check_broken() {
                continue;
            }
            // No room: make sure the device knows of the queued frames, then wait for it to
            // send some (a used-buffer interrupt for the next completion).
            if self.tx.unkicked > 0 {
                self.kick_tx();
            }
            store_waker(&mut self.tx.waker, cx.waker());
            self.tx.interrupts = true;
            if !self.tx.queue.enable_interrupts() {
                return None;
            }
        }
    }

    fn flush(&mut self) {
        if self.broken {
            return;
        }
        if self.tx.unkicked > 0 {
            self.kick_tx();
        }
        if self.rx.unkicked > 0 {
            self.kick_rx();
        }
    }

    fn hardware_address(&self) -> [u8; 6] {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: 1500,
            max_burst: Some(usize::from(self.tx.queue.size())),
            checksum: ChecksumOffload {
                rx_verified: self.features & features::GUEST_CSUM != 0,
                tx_fills: self.features & features::CSUM != 0,
            },
        }
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        store_waker(&mut self.link_waker, cx.waker());
        if self.broken {
            LinkState::Down
        } else {
            self.link
        }
    }
}

impl<H: Hal, T: Transport> Drop for VirtioNet<H, T> {
    fn drop(&mut self) {
        // The device must stop using the rings and buffers before they are freed. If it will
        // not reset, leak them rather than free memory a device may still write.
        if self.transport.reset().is_ok() {
            // SAFETY: each field is dropped once, here, and not used after.
            unsafe {
                ManuallyDrop::drop(&mut self.rx);
                ManuallyDrop::drop(&mut self.tx);
            }
        }
    }
}

impl<H: Hal, T: Transport + fmt::Debug> fmt::Debug for VirtioNet<H, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioNet")
            .field("transport", &self.transport)
            .field("features", &format_args!("{:#x}", self.features))
            .field("mac", &self.mac)
            .field("link", &self.link)
            .field("rx", &*self.rx)
            .field("tx", &*self.tx)
            .field("stats", &self.stats())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
