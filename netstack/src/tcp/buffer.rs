//! A bounded byte ring, for the send and the receive side of a connection.
//!
//! The ring holds `len` bytes from its head, and its free space after them can also be written
//! *ahead* of the tail ([`RingBuffer::write_ahead`]) and later made part of the contents
//! ([`RingBuffer::commit`]). That is how out-of-order data is kept: it is written at its offset
//! from `RCV.NXT` into the free space, and [`crate::tcp::reassembly`] remembers which ranges
//! hold data. The capacity (the limit) is fixed at creation, so a peer cannot make a connection
//! use more memory than its two buffers.
//!
//! Memory follows use, not the limit: the storage starts empty, grows (doubling, from
//! [`MIN_STORAGE`]) when bytes are written beyond it, and is given back whenever the ring holds
//! nothing and nothing was written ahead. An idle connection costs no buffer memory at all;
//! one moving data holds what its windows need. (With storage fixed at the limit, 64 KiB each
//! way, 200 idle connections were 26 MB: a slowloris attack ran a 32 MiB guest out of memory.)
//!
//! Every method clamps to what fits and returns how much it did; none panics.

use alloc::vec::Vec;

/// The storage a ring takes the first time it holds anything.
pub const MIN_STORAGE: usize = 2048;

/// A byte ring of fixed capacity whose storage grows on demand.
#[derive(Debug)]
pub struct RingBuffer {
    /// The bytes, as a ring of `storage.len()` (at most `limit`).
    storage: Vec<u8>,
    /// The capacity.
    limit: usize,
    /// Index in `storage` of the first byte.
    head: usize,
    /// Number of bytes held from `head`.
    len: usize,
    /// One past the highest offset from `head` ever written and not yet consumed: the bytes a
    /// growth must keep (the contents and what was written ahead of them).
    high: usize,
}

impl RingBuffer {
    /// An empty ring that holds up to `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        RingBuffer {
            storage: Vec::new(),
            limit: capacity,
            head: 0,
            len: 0,
            high: 0,
        }
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.limit
    }

    /// The memory the ring holds now.
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }

    /// The bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The room left after the contents.
    pub fn free(&self) -> usize {
        self.limit - self.len
    }

    /// Makes the storage at least `needed` bytes (at most the limit), keeping the bytes at
    /// offsets `0..high` from the head where they are relative to it.
    fn reserve(&mut self, needed: usize) {
        let phys = self.storage.len();
        if needed <= phys {
            return;
        }
        let size = needed
            .max(MIN_STORAGE)
            .max(phys.saturating_mul(2))
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .min(self.limit);
        let mut grown = Vec::with_capacity(size);
        let (a, b) = self.spans(0, self.high);
        grown.extend_from_slice(&self.storage[a]);
        grown.extend_from_slice(&self.storage[b]);
        grown.resize(size, 0);
        self.storage = grown;
        self.head = 0;
    }

    /// The storage index of the byte `offset` bytes after the head (`offset` below the
    /// storage's size).
    fn index(&self, offset: usize) -> usize {
        let phys = self.storage.len();
        let i = self.head + offset;
        if i >= phys { i - phys } else { i }
    }

    /// The two storage slices of `len` bytes starting `offset` bytes after the head, clamped to
    /// the storage.
    fn spans(
        &self,
        offset: usize,
        len: usize,
    ) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
        let phys = self.storage.len();
        if offset >= phys || len == 0 {
            return (0..0, 0..0);
        }
        let len = len.min(phys - offset);
        let start = self.index(offset);
        let first = len.min(phys - start);
        (start..start + first, 0..len - first)
    }

    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = self.write_ahead(0, data);
        self.len += n;
        n
    }

    /// Writes `data` into the free space, `offset` bytes after the contents' end, clamped to
    /// the free space; returns how many bytes were written. The contents do not change.
    pub fn write_ahead(&mut self, offset: usize, data: &[u8]) -> usize {
        let free = self.free();
        if offset >= free {
            return 0;
        }
        let n = data.len().min(free - offset);
        if n == 0 {
            return 0;
        }
        let end = self.len + offset + n;
        self.reserve(end);
        let (a, b) = self.spans(self.len + offset, n);
        let split = a.len();
        self.storage[a].copy_from_slice(&data[..split]);
        self.storage[b].copy_from_slice(&data[split..n]);
        self.high = self.high.max(end);
        n
    }

    /// Makes `n` bytes of the free space (written by [`RingBuffer::write_ahead`]) part of the
    /// contents, clamped to the free space.
    pub fn commit(&mut self, n: usize) {
        self.len += n.min(self.free());
        // Committed bytes were written ahead (so are stored); clamp for a careless caller.
        self.len = self.len.min(self.storage.len());
        self.high = self.high.max(self.len);
    }

    /// Copies up to `buf.len()` bytes from `offset` bytes into the contents; returns how many.
    pub fn peek(&self, offset: usize, buf: &mut [u8]) -> usize {
        let (a, b) = self.slices(offset, buf.len());
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// The contents from `offset`, at most `len` bytes, as two slices (the ring may wrap).
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let (a, b) = self.spans(offset, len.min(self.len - offset));
        (&self.storage[a], &self.storage[b])
    }

    /// Drops up to `n` bytes from the head; returns how many.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        // The head moves even when the ring empties: bytes written ahead of the tail must stay
        // where they are.
        if !self.storage.is_empty() {
            self.head = self.index(n);
        }
        self.len -= n;
        self.high -= n;
        if self.high == 0 && !self.storage.is_empty() {
            // Nothing held, nothing ahead: give the memory back.
            self.storage = Vec::new();
            self.head = 0;
        }
        n
    }

    /// Moves up to `buf.len()` bytes from the head into `buf`; returns how many.
    pub fn pop(&mut self, buf: &mut [u8]) -> usize {
        let n = self.peek(0, buf);
        self.consume(n)
    }
}
