//! The split virtqueue: descriptor table, driver (available) ring, device (used) ring.
//!
//! The driver puts a chain of buffers into free descriptors, publishes the chain's head in the
//! available ring and bumps its index; the device processes the chain, writes the head and the
//! number of bytes it wrote into the used ring and bumps that index. Ref: virtio 1.2, 2.7.
//!
//! What the device can touch is not trusted: the driver keeps its own copy of everything it
//! needs (free list, chain lengths, writable capacity) outside DMA memory, never reads the
//! descriptor table back, and checks every used-ring entry (id in range and the head of a chain
//! in flight, length within the chain's writable bytes, index not running ahead of the chains in
//! flight). A bad entry is an [`Error`], not a panic.
//!
//! Notifications go both ways and both can be suppressed (2.7.7, 2.7.10): with
//! VIRTIO_F_EVENT_IDX through `used_event` / `avail_event`, otherwise through the rings' flags.
//! [`VirtQueue::kick`] notifies the device only when it asked; [`VirtQueue::enable_interrupts`]
//! and [`VirtQueue::disable_interrupts`] steer the device's used-buffer notifications.
//!
//! Memory ordering (2.7.13): descriptors and the ring entry are written before the available
//! index is published with release ordering; a full fence separates that store from reading the
//! device's suppression fields; the used index is read with acquire ordering before the entries
//! it covers. DMA is assumed coherent (see [`Hal`]), so these CPU fences are all it takes.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, Ordering, fence};

use super::Error;
use super::dma::Dma;
use super::hal::{Hal, PAGE_SIZE};
use super::transport::Transport;

/// The largest split-queue size (virtio 1.2, 2.7: "The maximum Queue Size value is 32768").
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// `virtq_desc.flags`: the chain continues at `next`.
const DESC_F_NEXT: u16 = 1;
/// `virtq_desc.flags`: the device writes this buffer (else it reads it).
const DESC_F_WRITE: u16 = 2;
/// `virtq_avail.flags`: the driver does not need used-buffer notifications.
const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// `virtq_used.flags`: the device does not need available-buffer notifications.
const USED_F_NO_NOTIFY: u16 = 1;
/// The used ring's alignment. The spec asks for 4; a cache line keeps the device's writes off
/// the lines the driver writes.
const USED_ALIGN: usize = 64;

/// Whether an event index asks for a notification: the other side wants one when its event
/// index lies in `[old_idx, new_idx)`, the entries published since the last decision.
///
/// This is `vring_need_event` (virtio 1.2, 2.7.10 and the `virtq_need_event` helper of its
/// appendix "virtio_queue.h"), correct across the 16-bit wrap.
pub fn vring_need_event(event_idx: u16, new_idx: u16, old_idx: u16) -> bool {
    new_idx.wrapping_sub(event_idx).wrapping_sub(1) < new_idx.wrapping_sub(old_idx)
}

/// One device-visible buffer of a chain: where the device finds it and which way it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The device's address of the first byte.
    pub phys: u64,
    /// The length in bytes (non-zero).
    pub len: u32,
    /// Whether the device writes the buffer (else it reads it).
    pub device_writable: bool,
}

/// `struct virtq_desc`, little-endian. Ref: virtio 1.2, 2.7.5.
#[repr(C)]
#[derive(Clone, Copy)]
struct Descriptor {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

/// Where the three parts of a queue of `size` entries sit in its one DMA allocation.
/// Ref: virtio 1.2, 2.7 (alignment and size table).
#[derive(Clone, Copy, Debug)]
struct Layout {
    size: usize,
    /// Driver area: `virtq_avail` (flags, idx, `ring[size]`, used_event).
    avail: usize,
    /// Device area: `virtq_used` (flags, idx, `ring[size]` of (id, len), avail_event).
    used: usize,
    total: usize,
}

impl Layout {
    fn new(size: u16) -> Self {
        let size = usize::from(size);
        // The descriptor table starts the (page-aligned) allocation: 16-byte alignment.
        let avail = 16 * size;
        let used = (avail + 6 + 2 * size).next_multiple_of(USED_ALIGN);
        Layout {
            size,
            avail,
            used,
            total: used + 6 + 8 * size,
        }
    }

    fn avail_flags(&self) -> usize {
        self.avail
    }

    fn avail_idx(&self) -> usize {
        self.avail + 2
    }

    fn avail_ring(&self, slot: u16) -> usize {
        self.avail + 4 + 2 * usize::from(slot)
    }

    fn used_event(&self) -> usize {
        self.avail + 4 + 2 * self.size
    }

    fn used_flags(&self) -> usize {
        self.used
    }

    fn used_idx(&self) -> usize {
        self.used + 2
    }

    fn used_elem(&self, slot: u16) -> usize {
        self.used + 4 + 8 * usize::from(slot)
    }

    fn avail_event(&self) -> usize {
        self.used + 4 + 8 * self.size
    }
}

/// The driver's private record of one descriptor.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The next descriptor of the free list or of the chain this one is in. A chain is a run of
    /// the free list taken whole, so one link serves both.
    next: u16,
    /// For the head of a chain in flight, the chain's length; else 0.
    chain_len: u16,
    /// For the head of a chain in flight, its device-writable bytes.
    writable: u32,
}

/// A split virtqueue in DMA memory from `H`.
///
/// Dropping it frees the rings: reset the device first (the drivers in this module do in
/// their `Drop`), or the device may write into freed memory.
pub struct VirtQueue<H: Hal> {
    dma: Dma<H>,
    layout: Layout,
    index: u16,
    size: u16,
    slots: Vec<Slot>,
    free_head: u16,
    num_free: u16,
    /// Chains published and not yet returned.
    in_flight: u16,
    /// Our copy of `avail.idx` (never read back from DMA memory).
    avail_idx: u16,
    /// The used index up to which entries have been consumed.
    last_used_idx: u16,
    /// Chains published since the last notification decision.
    added_since_kick: u32,
    event_idx: bool,
    /// Whether used-buffer notifications are wanted.
    interrupts: bool,
}

impl<H: Hal> VirtQueue<H> {
    /// Sets up queue `index` of the device with `size` entries (a power of two, lowered to the
    /// device's maximum if larger), in zeroed DMA memory, and enables it.
    ///
    /// `event_idx` says VIRTIO_F_EVENT_IDX was negotiated. Call between
    /// [`begin_init`](Transport::begin_init) and [`finish_init`](Transport::finish_init)
    /// (virtio 1.2, 3.1.1 step 7). Ref: 4.1.5.1.3 (PCI) and 4.2.3.2 (MMIO).
    pub fn new<T: Transport>(
        transport: &mut T,
        index: u16,
        size: u16,
        event_idx: bool,
    ) -> Result<Self, Error> {
        if !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(Error::InvalidQueueSize(size));
        }
        if transport.queue_used(index) {
            return Err(Error::QueueInUse(index));
        }
        let max = transport.max_queue_size(index);
        if !max.is_power_of_two() {
            // 0 (no such queue), or a size the split ring cannot use.
            return Err(Error::QueueUnavailable(index));
        }
        let size = size.min(max);
        let layout = Layout::new(size);
        let dma = Dma::<H>::new(layout.total.div_ceil(PAGE_SIZE))?;

        let mut slots = vec![Slot::default(); usize::from(size)];
        for (i, slot) in slots.iter_mut().enumerate() {
            // Wraps to 0 for the last: never followed, as `num_free` runs out first.
            slot.next = (i + 1) as u16 & (size - 1);
        }
        let base = dma.phys();
        transport.queue_set(
            index,
            size,
            base,
            base + layout.avail as u64,
            base + layout.used as u64,
        )?;
        Ok(VirtQueue {
            dma,
            layout,
            index,
            size,
            slots,
            free_head: 0,
            num_free: size,
            in_flight: 0,
            avail_idx: 0,
            last_used_idx: 0,
            added_since_kick: 0,
            event_idx,
            interrupts: true,
        })
    }

    /// The queue's index on its device.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// The number of entries (descriptors, ring slots).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Free descriptors: the longest chain [`add`](Self::add) can take now.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Chains added and not yet popped.
    pub fn in_flight(&self) -> u16 {
        self.in_flight
    }

    /// Whether VIRTIO_F_EVENT_IDX is in use.
    pub fn event_idx(&self) -> bool {
        self.event_idx
    }

    /// Adds a chain of device-readable buffers followed by device-writable ones and publishes
    /// it to the device. Returns the chain's token (its head descriptor's index), which
    /// [`pop_used`](Self::pop_used) hands back when the device is done. Call
    /// [`kick`](Self::kick) after a batch of adds.
    ///
    /// A chain is 1 to [`num_free`](Self::num_free) non-empty buffers, at most 4 GiB in all
    /// (virtio 1.2, 2.7.5.2); otherwise [`Error::InvalidBuffers`] or [`Error::QueueFull`], and
    /// nothing is published. Ref: 2.7.13.
    ///
    /// # Safety
    ///
    /// The device reads the `readable` buffers and writes the `writable` ones at any time until
    /// the token comes back from [`pop_used`](Self::pop_used) (or the device is reset). Until
    /// then the buffers must stay allocated, the `writable` ones must not be read or written by
    /// the program, and the `readable` ones must not be written. Each buffer must be seen by the
    /// device at [`Hal::virt_to_phys`] of its start, contiguously.
    pub unsafe fn add(
        &mut self,
        readable: &[&[u8]],
        writable: &mut [&mut [u8]],
    ) -> Result<u16, Error> {
        let shape = readable
            .iter()
            .map(|buf| (buf.len(), false))
            .chain(writable.iter().map(|buf| (buf.len(), true)));
        let count = self.check_chain(shape)?;
        // The device writes through the writable buffers' addresses, so those come from
        // mutable borrows.
        let segment = |buf: NonNull<[u8]>, device_writable: bool| Segment {
            phys: H::virt_to_phys(buf.cast()),
            // `check_chain` bounded each length by the chain's, at most u32::MAX.
            len: buf.len() as u32,
            device_writable,
        };
        let chain = readable
            .iter()
            .map(|buf| segment(NonNull::from(*buf), false))
            .chain(
                writable
                    .iter_mut()
                    .map(|buf| segment(NonNull::from(&mut **buf), true)),
            );
        Ok(self.place_chain(count, chain))
    }

    /// [`add`](Self::add) for buffers given by their device addresses (buffers inside a
    /// [`Dma`] region, say). Device-readable segments must come before device-writable ones.
    ///
    /// # Safety
    ///
    /// Each segment is memory the device may read (or, if `device_writable`, write) at any time
    /// until the token comes back from [`pop_used`](Self::pop_used) (or the device is reset);
    /// the program does not access written segments, nor write read ones, until then.
    pub unsafe fn add_segments(&mut self, segments: &[Segment]) -> Result<u16, Error> {
        let shape = segments.iter().map(|s| (s.len as usize, s.device_writable));
        let count = self.check_chain(shape)?;
        Ok(self.place_chain(count, segments.iter().copied()))
    }

    /// Checks a chain given as (length, device-writable) pairs; returns its length in
    /// descriptors.
    fn check_chain(&self, shape: impl Iterator<Item = (usize, bool)>) -> Result<usize, Error> {
        let mut count = 0usize;
        let mut total = 0usize;
        let mut seen_writable = false;
        for (len, device_writable) in shape {
            if len == 0 {
                return Err(Error::InvalidBuffers("an empty buffer"));
            }
            if seen_writable && !device_writable {
                return Err(Error::InvalidBuffers(
                    "a device-readable buffer after a device-writable one",
                ));
            }
            seen_writable |= device_writable;
            count += 1;
            total = total.saturating_add(len);
        }
        if count == 0 {
            return Err(Error::InvalidBuffers("no buffers"));
        }
        if count > usize::from(self.size) {
            return Err(Error::InvalidBuffers("a chain longer than the queue"));
        }
        if total > u32::MAX as usize {
            return Err(Error::InvalidBuffers("a chain longer than 4 GiB"));
        }
        if count > usize::from(self.num_free) {
            return Err(Error::QueueFull);
        }
        Ok(count)
    }

    /// Places a checked chain of `count` segments and publishes it. Ref: virtio 1.2,
    /// 2.7.13.1-3.
    fn place_chain(&mut self, count: usize, chain: impl Iterator<Item = Segment>) -> u16 {
        // 2.7.13.1: each buffer into the next free descriptor, linked by `next`.
        let head = self.free_head;
        let mut desc = head;
        let mut writable = 0u32;
        for (i, segment) in chain.take(count).enumerate() {
            let next = self.slots[usize::from(desc)].next;
            let last = i + 1 == count;
            let mut flags = if segment.device_writable {
                DESC_F_WRITE
            } else {
                0
            };
            if !last {
                flags |= DESC_F_NEXT;
            }
            if segment.device_writable {
                writable += segment.len;
            }
            self.write_desc(
                desc,
                Descriptor {
                    addr: segment.phys.to_le(),
                    len: segment.len.to_le(),
                    flags: flags.to_le(),
                    next: if last { 0 } else { next.to_le() },
                },
            );
            desc = next;
        }
        self.free_head = desc;
        self.num_free -= count as u16;
        self.slots[usize::from(head)].chain_len = count as u16;
        self.slots[usize::from(head)].writable = writable;

        // 2.7.13.2: the head into the next ring entry; 2.7.13.3: idx, after a barrier (the
        // release store orders the descriptor and ring writes before it).
        self.write_avail_ring(self.avail_idx & (self.size - 1), head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.field(self.layout.avail_idx())
            .store(self.avail_idx.to_le(), Ordering::Release);
        self.in_flight += 1;
        self.added_since_kick = self.added_since_kick.saturating_add(1);
        head
    }

    /// Whether the device wants an available-buffer notification for the chains added since
    /// the last call; the answer covers them, so call it once per batch. Prefer
    /// [`kick`](Self::kick).
    ///
    /// With VIRTIO_F_EVENT_IDX: whether the device's `avail_event` lies among those chains
    /// ([`vring_need_event`]); otherwise whether the device left VIRTQ_USED_F_NO_NOTIFY clear.
    /// Ref: virtio 1.2, 2.7.10 and 2.7.13.4.
    pub fn should_notify(&mut self) -> bool {
        // 2.7.13.4.1: a barrier between publishing idx and reading flags or avail_event, or a
        // device going to sleep could miss the new buffers.
        fence(Ordering::SeqCst);
        let added = core::mem::take(&mut self.added_since_kick);
        if added == 0 {
            return false;
        }
        if self.event_idx {
            let Ok(added) = u16::try_from(added) else {
                // 2^16 or more since the last decision: the window covers every index.
                return true;
            };
            let event = u16::from_le(
                self.field(self.layout.avail_event())
                    .load(Ordering::Relaxed),
            );
            vring_need_event(event, self.avail_idx, self.avail_idx.wrapping_sub(added))
        } else {
            let flags = u16::from_le(self.field(self.layout.used_flags()).load(Ordering::Relaxed));
            flags & USED_F_NO_NOTIFY == 0
        }
    }

    /// Notifies the device if it wants to know about the chains added since the last call
    /// ([`should_notify`](Self::should_notify)); returns whether it did.
    pub fn kick<T: Transport>(&mut self, transport: &mut T) -> bool {
        let notify = self.should_notify();
        if notify {
            transport.notify(self.index);
        }
        notify
    }

    /// Whether the device has returned chains not yet popped.
    pub fn has_used(&self) -> bool {
        u16::from_le(self.field(self.layout.used_idx()).load(Ordering::Acquire))
            != self.last_used_idx
    }

    /// Takes the next chain the device returned: its token and the number of bytes the device
    /// wrote into its device-writable buffers. `Ok(None)` when there is none.
    ///
    /// Checks the device's entry: [`Error::BadUsedId`] if its id is not the head of a chain in
    /// flight (the entry is skipped); [`Error::BadUsedLen`] if it claims more bytes than the
    /// chain can hold (the chain is returned anyway: its token is in the error);
    /// [`Error::UsedRingOverrun`] if the device's index runs ahead of the chains in flight.
    /// Ref: virtio 1.2, 2.7.8 and 2.7.14.
    pub fn pop_used(&mut self) -> Result<Option<(u16, u32)>, Error> {
        // Acquire: the entries up to this index were written before it.
        let used_idx = u16::from_le(self.field(self.layout.used_idx()).load(Ordering::Acquire));
        let pending = used_idx.wrapping_sub(self.last_used_idx);
        if pending == 0 {
            return Ok(None);
        }
        if pending > self.in_flight {
            return Err(Error::UsedRingOverrun {
                pending,
                in_flight: self.in_flight,
            });
        }
        let (id, len) = self.read_used_elem(self.last_used_idx & (self.size - 1));
        self.last_used_idx = self.last_used_idx.wrapping_add(1);
        if self.event_idx && self.interrupts {
            // Interrupt again for the next entry; the fence orders this store before the next
            // read of the used index (2.7.14's re-check).
            self.set_used_event(self.last_used_idx);
        }

        let head = u16::try_from(id)
            .ok()
            .filter(|&h| h < self.size && self.slots[usize::from(h)].chain_len != 0)
            .ok_or(Error::BadUsedId(id))?;
        let capacity = self.slots[usize::from(head)].writable;
        self.recycle(head);
        if len > capacity {
            return Err(Error::BadUsedLen {
                token: head,
                len,
                capacity,
            });
        }
        Ok(Some((head, len)))
    }

    /// Asks the device not to send used-buffer notifications (a hint: spurious ones can still
    /// come). Ref: virtio 1.2, 2.7.7: VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX a
    /// `used_event` as far behind the device as it can be.
    pub fn disable_interrupts(&mut self) {
        self.interrupts = false;
        if self.event_idx {
            self.field(self.layout.used_event()).store(
                self.last_used_idx.wrapping_sub(1).to_le(),
                Ordering::Relaxed,
            );
        } else {
            self.field(self.layout.avail_flags())
                .store(AVAIL_F_NO_INTERRUPT.to_le(), Ordering::Relaxed);
        }
    }

    /// Asks the device to notify when it next returns a chain, then checks whether chains
    /// came back meanwhile: `true` means poll again (with [`pop_used`](Self::pop_used)) before
    /// waiting for an interrupt, which may not come for those. Ref: virtio 1.2, 2.7.14 (the
    /// note's re-check after re-enabling).
    pub fn enable_interrupts(&mut self) -> bool {
        self.interrupts = true;
        if self.event_idx {
            self.field(self.layout.used_event())
                .store(self.last_used_idx.to_le(), Ordering::Relaxed);
        } else {
            self.field(self.layout.avail_flags())
                .store(0, Ordering::Relaxed);
        }
        fence(Ordering::SeqCst);
        self.has_used()
    }

    /// Sets `used_event`: with EVENT_IDX the device notifies once it writes the used entry
    /// with this index (so `last popped + n` delays the interrupt until n more chains are
    /// back). Ref: virtio 1.2, 2.7.7.
    pub fn set_used_event(&mut self, idx: u16) {
        self.field(self.layout.used_event())
            .store(idx.to_le(), Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Returns the chain at `head` to the free list.
    fn recycle(&mut self, head: u16) {
        let len = self.slots[usize::from(head)].chain_len;
        let mut last = head;
        for _ in 1..len {
            last = self.slots[usize::from(last)].next;
        }
        self.slots[usize::from(last)].next = self.free_head;
        self.free_head = head;
        self.num_free += len;
        self.slots[usize::from(head)].chain_len = 0;
        self.slots[usize::from(head)].writable = 0;
        self.in_flight -= 1;
    }

    fn at(&self, offset: usize) -> *mut u8 {
        self.dma.virt().as_ptr().wrapping_add(offset)
    }

    /// One of the rings' 16-bit index, flags and event fields.
    fn field(&self, offset: usize) -> &AtomicU16 {
        // SAFETY: `offset` is one of `Layout`'s u16 fields, so it is inside the DMA region
        // (which lives as long as `self`) and 2-aligned (the region is page-aligned). The driver
        // accesses these fields only atomically; the device accesses them concurrently, which is
        // what atomics are for.
        unsafe { AtomicU16::from_ptr(self.at(offset).cast()) }
    }

    fn write_desc(&mut self, index: u16, desc: Descriptor) {
        let p = self.at(16 * usize::from(index)).cast::<Descriptor>();
        // SAFETY: `index < size`, so the 16 bytes are inside the descriptor table at the start
        // of the DMA region, 16-aligned. The descriptor is free: in no chain the device can
        // see, so the device does not read it concurrently.
        unsafe { p.write_volatile(desc) }
    }

    fn write_avail_ring(&mut self, slot: u16, head: u16) {
        let p = self.at(self.layout.avail_ring(slot)).cast::<u16>();
        // SAFETY: `slot < size`: inside the available ring, 2-aligned. Its previous content
        // was published `size` additions ago, and the device read it before returning that
        // chain, which it has (else no descriptor would be free for this one).
        unsafe { p.write_volatile(head.to_le()) }
    }

    fn read_used_elem(&self, slot: u16) -> (u32, u32) {
        let p = self.at(self.layout.used_elem(slot)).cast::<u32>();
        // SAFETY: `slot < size`: the 8 bytes are inside the used ring, 4-aligned. The device
        // wrote them before publishing the used index this caller read with acquire ordering,
        // and does not rewrite them until the driver publishes more chains.
        let (id, len) = unsafe { (p.read_volatile(), p.add(1).read_volatile()) };
        (u32::from_le(id), u32::from_le(len))
    }
}

impl<H: Hal> fmt::Debug for VirtQueue<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtQueue")
            .field("index", &self.index)
            .field("size", &self.size)
            .field("dma", &self.dma)
            .field("num_free", &self.num_free)
            .field("in_flight", &self.in_flight)
            .field("avail_idx", &self.avail_idx)
            .field("last_used_idx", &self.last_used_idx)
            .field("event_idx", &self.event_idx)
            .field("interrupts", &self.interrupts)
            .finish()
    }
}

#[cfg(test)]
mod tests;
