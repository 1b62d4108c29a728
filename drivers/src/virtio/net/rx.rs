//! receiveq1: a full ring of posted buffers, frames lent in place, buffers re-posted when the
//! stack is done with them. Ref: virtio 1.2, 5.1.6.3 (setting up receive buffers) and 5.1.6.4
//! (processing incoming packets).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::task::Waker;

use super::header::{HEADER_LEN, MAX_FRAME, NetHeader};
use super::pool::{BUFFER_SIZE, BufferPool};
use crate::net::RxToken;
use crate::virtio::hal::Hal;
use crate::virtio::queue::VirtQueue;
use crate::virtio::{Error, Transport};

/// The receive side's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RxStats {
    pub frames: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub device_errors: u64,
}

/// Where a received frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// In place, after the header of buffer `buf`: the common case, no copy.
    Single { buf: u16, len: usize },
    /// Copied into the scratch buffer: a MRG_RXBUF frame that spanned several buffers.
    Merged { len: usize },
}

/// What one used-ring entry gave.
enum Used {
    /// Nothing (or a broken ring).
    Empty,
    /// Buffer `buf`, `len` bytes written (header included), back in the driver's hands.
    Buffer { buf: u16, len: usize },
    /// A bad entry, counted and skipped.
    Bad,
}

/// The receive queue and its buffers.
pub(super) struct RxQueue<H: Hal> {
    pub queue: VirtQueue<H>,
    pool: BufferPool<H>,
    /// The buffer posted under each chain token (head descriptor).
    posted: Vec<Option<u16>>,
    /// Buffers the queue would not take (cannot happen: one descriptor each); retried.
    unposted: Vec<u16>,
    /// Buffers re-posted since the last notification decision.
    pub unkicked: u16,
    /// VIRTIO_NET_F_MRG_RXBUF: `num_buffers` counts.
    mergeable: bool,
    /// VIRTIO_NET_F_GUEST_CSUM: the header's checksum flags count.
    guest_csum: bool,
    /// Where a frame spanning several buffers is put together.
    scratch: Vec<u8>,
    /// Whether used-buffer notifications are asked for.
    pub interrupts: bool,
    pub waker: Option<Waker>,
    pub stats: RxStats,
    /// The device ran its used index past the chains in flight: nothing more can be trusted.
    pub broken: bool,
}

impl<H: Hal> RxQueue<H> {
    /// Sets up receiveq `index` with up to `size` entries and one buffer per entry.
    pub fn new<T: Transport>(
        transport: &mut T,
        index: u16,
        size: u16,
        event_idx: bool,
        mergeable: bool,
        guest_csum: bool,
    ) -> Result<Self, Error> {
        let queue = VirtQueue::new(transport, index, size, event_idx)?;
        let count = queue.size();
        Ok(RxQueue {
            pool: BufferPool::new(count)?,
            posted: vec![None; usize::from(count)],
            unposted: Vec::new(),
            unkicked: 0,
            mergeable,
            guest_csum,
            scratch: Vec::new(),
            interrupts: true,
            waker: None,
            stats: RxStats::default(),
            broken: false,
            queue,
        })
    }

    /// Posts every buffer (5.1.6.3: "the driver SHOULD populate the receive queue(s)"): each
    /// one whole 2 KiB buffer, header and frame, which is at least the 1526 bytes 5.1.6.3.1
    /// asks for without MRG_RXBUF and GSO.
    pub fn post_all(&mut self) {
        for buf in 0..self.pool.count() {
            self.post(buf);
        }
    }

    /// Posts buffer `buf` (held by the driver) for the device to write a frame into.
    pub fn post(&mut self, buf: u16) {
        let Some(segment) = self.pool.lend(buf, BUFFER_SIZE, true) else {
            return;
        };
        // SAFETY: the segment is a whole buffer of `self.pool`, DMA memory that lives as long
        // as the queue and is freed only after the device is reset (`VirtioNet::drop`). The
        // pool marked it lent, so the driver neither reads nor writes it until the token comes
        // back from `pop_used` and `take_used` reclaims it.
        match unsafe { self.queue.add_segments(&[segment]) } {
            Ok(token) => {
                if let Some(slot) = self.posted.get_mut(usize::from(token)) {
                    *slot = Some(buf);
                }
                self.unkicked = self.unkicked.saturating_add(1);
            }
            Err(_) => {
                self.pool.reclaim(buf);
                self.unposted.push(buf);
            }
        }
    }

    /// Retries buffers the queue did not take.
    pub fn retry_unposted(&mut self) {
        while let Some(buf) = self.unposted.pop() {
            if self.queue.num_free() == 0 {
                self.unposted.push(buf);
                return;
            }
            self.post(buf);
        }
    }

    /// Whether enough buffers were re-posted without a notification decision that the device
    /// may run short: a quarter of the ring.
    pub fn low(&self) -> bool {
        self.unkicked > 0 && self.unkicked >= (self.queue.size() / 4).max(1)
    }

    /// Pops one used entry, validating what the queue cannot know.
    fn take_used(&mut self) -> Used {
        match self.queue.pop_used() {
            Ok(None) => Used::Empty,
            Ok(Some((token, len))) => {
                match self
                    .posted
                    .get_mut(usize::from(token))
                    .and_then(Option::take)
                {
                    Some(buf) => {
                        self.pool.reclaim(buf);
                        Used::Buffer {
                            buf,
                            len: len as usize,
                        }
                    }
                    // The queue vouched for the token, so a buffer was posted under it.
                    None => self.bad(),
                }
            }
            Err(Error::BadUsedLen { token, .. }) => {
                // The chain came back with a length it cannot hold: drop its contents and
                // post the buffer again.
                if let Some(buf) = self
                    .posted
                    .get_mut(usize::from(token))
                    .and_then(Option::take)
                {
                    self.pool.reclaim(buf);
                    self.post(buf);
                }
                self.bad()
            }
            Err(Error::UsedRingOverrun { .. }) => {
                self.broken = true;
                self.stats.device_errors += 1;
                Used::Empty
            }
            Err(_) => self.bad(),
        }
    }

    fn bad(&mut self) -> Used {
        self.stats.dropped += 1;
        self.stats.device_errors += 1;
        Used::Bad
    }

    /// Drops a frame the device got wrong, its buffer going back to the ring.
    fn reject(&mut self, buf: Option<u16>) {
        if let Some(buf) = buf {
            self.post(buf);
        }
        self.bad();
    }

    /// The next received frame, bad ones dropped and counted on the way: where it is and
    /// whether its checksum is vouched for.
    pub fn pop_frame(&mut self) -> Option<(Frame, bool)> {
        loop {
            let (buf, len) = match self.take_used() {
                Used::Empty => return None,
                Used::Bad => continue,
                Used::Buffer { buf, len } => (buf, len),
            };
            if len < HEADER_LEN {
                self.reject(Some(buf));
                continue;
            }
            let header = NetHeader::read(self.pool.bytes(buf));
            // Without MRG_RXBUF every frame is one buffer (5.1.6.4: num_buffers is then 1 or
            // ignored).
            let count = if self.mergeable {
                header.num_buffers
            } else {
                1
            };
            if count == 1 {
                let frame_len = len - HEADER_LEN;
                match header.check_rx(frame_len, self.guest_csum) {
                    Ok(verified) => {
                        self.count(frame_len);
                        return Some((
                            Frame::Single {
                                buf,
                                len: frame_len,
                            },
                            verified,
                        ));
                    }
                    Err(()) => {
                        self.reject(Some(buf));
                        continue;
                    }
                }
            }
            // 5.1.6.4.2: a frame in `num_buffers` buffers, the header in the first. 0, or more
            // buffers than the ring holds, is a lie; drop just this buffer.
            if count == 0 || count > self.queue.size() {
                self.reject(Some(buf));
                continue;
            }
            if let Some(frame) = self.merge(buf, len, header, count) {
                return Some(frame);
            }
        }
    }

    /// Puts a frame spanning `count` buffers together in the scratch buffer; the first (`buf`,
    /// `len` bytes) is popped already. Every buffer goes straight back to the ring. `None`
    /// (counted) when parts are missing, bad, or add up to too long a frame.
    fn merge(
        &mut self,
        buf: u16,
        len: usize,
        header: NetHeader,
        count: u16,
    ) -> Option<(Frame, bool)> {
        self.scratch.clear();
        let first = self.pool.bytes(buf).get(HEADER_LEN..len).unwrap_or(&[]);
        let mut ok = first.len() <= MAX_FRAME;
        if ok {
            self.scratch.extend_from_slice(first);
        }
        self.post(buf);
        for _ in 1..count {
            match self.take_used() {
                Used::Buffer { buf, len } => {
                    let part = self.pool.bytes(buf).get(..len).unwrap_or(&[]);
                    if ok && self.scratch.len() + part.len() <= MAX_FRAME {
                        self.scratch.extend_from_slice(part);
                    } else {
                        ok = false;
                    }
                    self.post(buf);
                }
                // Linux's driver does the same with a frame whose buffers are not all
                // there: drops what it has.
                Used::Empty | Used::Bad => {
                    ok = false;
                    break;
                }
            }
        }
        let frame_len = self.scratch.len();
        match header.check_rx(frame_len, self.guest_csum) {
            Ok(verified) if ok => {
                self.count(frame_len);
                Some((Frame::Merged { len: frame_len }, verified))
            }
            _ => {
                self.reject(None);
                None
            }
        }
    }

    fn count(&mut self, frame_len: usize) {
        self.stats.frames += 1;
        self.stats.bytes += frame_len as u64;
    }

    /// Lends a frame [`pop_frame`](Self::pop_frame) returned.
    pub fn token(&mut self, (frame, verified): (Frame, bool)) -> VirtioRxToken<'_, H> {
        VirtioRxToken {
            rx: self,
            frame,
            verified,
        }
    }
}

impl<H: Hal> fmt::Debug for RxQueue<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RxQueue")
            .field("queue", &self.queue)
            .field("pool", &self.pool)
            .field("unkicked", &self.unkicked)
            .field("mergeable", &self.mergeable)
            .field("guest_csum", &self.guest_csum)
            .field("interrupts", &self.interrupts)
            .field("stats", &self.stats)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// A received frame, lent in place from the driver's DMA buffer (zero copy), or from its
/// scratch buffer for a MRG_RXBUF frame that spanned several buffers (the one case that
/// copies). Consuming or dropping it posts the buffer again, to be announced to the device at
/// the next flush (or sooner, when the ring runs low).
pub struct VirtioRxToken<'a, H: Hal> {
    rx: &'a mut RxQueue<H>,
    frame: Frame,
    verified: bool,
}

impl<H: Hal> RxToken for VirtioRxToken<'_, H> {
    fn consume<R>(self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let rx = &mut *self.rx;
        let frame = match self.frame {
            Frame::Single { buf, len } => rx
                .pool
                .bytes_mut(buf)
                .get_mut(HEADER_LEN..HEADER_LEN + len)
                .unwrap_or_default(),
            Frame::Merged { len } => rx.scratch.get_mut(..len).unwrap_or_default(),
        };
        f(frame)
        // `drop` posts the buffer again.
    }

    fn checksum_verified(&self) -> bool {
        self.verified
    }
}

impl<H: Hal> Drop for VirtioRxToken<'_, H> {
    fn drop(&mut self) {
        if let Frame::Single { buf, .. } = self.frame {
            self.rx.post(buf);
        }
    }
}

impl<H: Hal> fmt::Debug for VirtioRxToken<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioRxToken")
            .field("frame", &self.frame)
            .field("verified", &self.verified)
            .finish()
    }
}
