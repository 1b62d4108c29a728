//! transmitq1: a pool of buffers, each the 12-byte header and room for one frame, lent to the
//! stack to write in place and queued without a notification. Ref: virtio 1.2, 5.1.6.2
//! (packet transmission).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::task::Waker;

use super::header::{F_NEEDS_CSUM, GSO_NONE, HEADER_LEN, MAX_TX_FRAME, NetHeader, tx_checksum};
use super::pool::BufferPool;
use crate::net::TxToken;
use crate::virtio::hal::Hal;
use crate::virtio::queue::VirtQueue;
use crate::virtio::{Error, Transport};

/// The transmit side's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TxStats {
    pub frames: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub device_errors: u64,
}

/// The transmit queue and its buffers.
pub(super) struct TxQueue<H: Hal> {
    pub queue: VirtQueue<H>,
    pool: BufferPool<H>,
    /// The buffer sent under each chain token (head descriptor).
    in_flight: Vec<Option<u16>>,
    /// Buffers held by the driver and not lent to a token.
    free: Vec<u16>,
    /// VIRTIO_NET_F_CSUM: the device completes TCP/UDP checksums marked NEEDS_CSUM.
    csum: bool,
    /// Where a frame that cannot be sent is written, then forgotten.
    discard: Vec<u8>,
    /// Frames queued since the last notification decision.
    pub unkicked: u16,
    /// Whether used-buffer notifications are asked for.
    pub interrupts: bool,
    pub waker: Option<Waker>,
    pub stats: TxStats,
    /// The device ran its used index past the chains in flight.
    pub broken: bool,
}

impl<H: Hal> TxQueue<H> {
    /// Sets up transmitq `index` with up to `size` entries and one buffer per entry, with
    /// used-buffer notifications off: completions are collected lazily, and asked for only
    /// when the pool runs dry.
    pub fn new<T: Transport>(
        transport: &mut T,
        index: u16,
        size: u16,
        event_idx: bool,
        csum: bool,
    ) -> Result<Self, Error> {
        let mut queue = VirtQueue::new(transport, index, size, event_idx)?;
        queue.disable_interrupts();
        let count = queue.size();
        Ok(TxQueue {
            pool: BufferPool::new(count)?,
            in_flight: vec![None; usize::from(count)],
            // Popped from the end: buffer 0 first.
            free: (0..count).rev().collect(),
            csum,
            discard: Vec::new(),
            unkicked: 0,
            interrupts: false,
            waker: None,
            stats: TxStats::default(),
            broken: false,
            queue,
        })
    }

    /// Takes back the buffers of every frame the device has sent.
    pub fn reclaim(&mut self) {
        loop {
            let token = match self.queue.pop_used() {
                Ok(None) => return,
                Ok(Some((token, _))) => token,
                // A transmit chain has nothing for the device to write, so any length is
                // "too long"; the frame was sent all the same and the chain is back.
                Err(Error::BadUsedLen { token, .. }) => {
                    self.stats.device_errors += 1;
                    token
                }
                Err(Error::UsedRingOverrun { .. }) => {
                    self.broken = true;
                    self.stats.device_errors += 1;
                    return;
                }
                Err(_) => {
                    self.stats.device_errors += 1;
                    continue;
                }
            };
            if let Some(buf) = self
                .in_flight
                .get_mut(usize::from(token))
                .and_then(Option::take)
            {
                self.pool.reclaim(buf);
                self.free.push(buf);
            }
        }
    }

    /// A free buffer, reclaiming sent ones if none is.
    pub fn take_buffer(&mut self) -> Option<u16> {
        if self.free.is_empty() {
            self.reclaim();
        }
        self.free.pop()
    }

    /// Fills in the header of buffer `buf`, whose first `len` frame bytes the stack wrote, and
    /// queues it (no notification).
    fn send(&mut self, buf: u16, len: usize) {
        let mut header = NetHeader {
            gso_type: GSO_NONE,
            // 5.1.6.2.1: "The driver MUST set num_buffers to zero."
            num_buffers: 0,
            ..NetHeader::default()
        };
        if self.csum {
            let frame = self.pool.bytes(buf).get(HEADER_LEN..HEADER_LEN + len);
            if let Some((start, offset)) = frame.and_then(tx_checksum) {
                // 5.1.6.2: the device checksums from csum_start to the end of the frame and
                // stores the result at csum_start + csum_offset; the stack left the
                // pseudo-header sum there.
                header.flags = F_NEEDS_CSUM;
                header.csum_start = start;
                header.csum_offset = offset;
            }
        }
        header.write(self.pool.bytes_mut(buf));
        let Some(segment) = self.pool.lend(buf, HEADER_LEN + len, false) else {
            self.free.push(buf);
            self.stats.dropped += 1;
            return;
        };
        // SAFETY: the segment is the start of a buffer of `self.pool`, DMA memory freed only
        // after the device is reset (`VirtioNet::drop`). The pool marked it lent, so the driver
        // does not touch it until `reclaim` takes the token back from `pop_used`.
        match unsafe { self.queue.add_segments(&[segment]) } {
            Ok(token) => {
                if let Some(slot) = self.in_flight.get_mut(usize::from(token)) {
                    *slot = Some(buf);
                }
                self.unkicked = self.unkicked.saturating_add(1);
                self.stats.frames += 1;
                self.stats.bytes += len as u64;
            }
            Err(_) => {
                self.pool.reclaim(buf);
                self.free.push(buf);
                self.stats.dropped += 1;
            }
        }
    }
}

impl<H: Hal> fmt::Debug for TxQueue<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxQueue")
            .field("queue", &self.queue)
            .field("pool", &self.pool)
            .field("free", &self.free.len())
            .field("csum", &self.csum)
            .field("unkicked", &self.unkicked)
            .field("interrupts", &self.interrupts)
            .field("stats", &self.stats)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// Room for one frame: a transmit buffer lent to the stack, which writes the frame in place
/// after the virtio-net header (zero copy). Consuming it queues the frame; the device hears of
/// it at the next flush.
///
/// The token that comes with a received frame holds no buffer yet: it takes one when
/// consumed, and if none is free then, the reply is dropped and counted.
pub struct VirtioTxToken<'a, H: Hal> {
    pub(super) tx: &'a mut TxQueue<H>,
    pub(super) buf: Option<u16>,
}

impl<H: Hal> TxToken for VirtioTxToken<'_, H> {
    fn consume<R>(mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let buf = self.buf.take().or_else(|| self.tx.take_buffer());
        let tx = &mut *self.tx;
        match buf {
            Some(buf) if (1..=MAX_TX_FRAME).contains(&len) => {
                let frame = tx
                    .pool
                    .bytes_mut(buf)
                    .get_mut(HEADER_LEN..HEADER_LEN + len)
                    .unwrap_or_default();
                let r = f(frame);
                tx.send(buf, len);
                r
            }
            buf => {
                // No room, or a length no frame has: the caller still gets its `len` bytes,
                // and the frame goes nowhere.
                if let Some(buf) = buf {
                    tx.free.push(buf);
                }
                tx.stats.dropped += 1;
                tx.discard.clear();
                tx.discard.resize(len, 0);
                let r = f(&mut tx.discard);
                if tx.discard.capacity() > 2 * MAX_TX_FRAME {
                    tx.discard = Vec::new();
                }
                r
            }
        }
    }
}

impl<H: Hal> Drop for VirtioTxToken<'_, H> {
    fn drop(&mut self) {
        // Not consumed: the buffer is free again.
        if let Some(buf) = self.buf.take() {
            self.tx.free.push(buf);
        }
    }
}

impl<H: Hal> fmt::Debug for VirtioTxToken<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioTxToken")
            .field("buf", &self.buf)
            .finish()
    }
}
