//! A bounded byte ring, for the send and the receive side of a connection.
//!
//! The ring holds `len` bytes from its head, and its free space after them can also be written
//! *ahead* of the tail ([`RingBuffer::write_ahead`]) and later made part of the contents
//! ([`RingBuffer::commit`]). That is how out-of-order data is kept: it is written at its offset
//! from `RCV.NXT` into the free space, and [`crate::tcp::reassembly`] remembers which ranges
//! hold data. The capacity is fixed at creation; nothing grows, so a peer cannot make a
//! connection use more memory than its two buffers.
//!
//! Every method clamps to what fits and returns how much it did; none panics.

use alloc::boxed::Box;
use alloc::vec;

/// A fixed-capacity ring of bytes.
#[derive(Debug)]
pub struct RingBuffer {
    storage: Box<[u8]>,
    /// Index of the first byte.
    head: usize,
    /// Number of bytes held from `head`.
    len: usize,
}

impl RingBuffer {
    /// An empty ring of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        RingBuffer {
            storage: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
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
        self.capacity() - self.len
    }

    /// The storage index of the byte `offset` bytes after the head (`offset < capacity`).
    fn index(&self, offset: usize) -> usize {
        let cap = self.capacity();
        let i = self.head + offset;
        if i >= cap { i - cap } else { i }
    }

    /// The two storage slices of `len` bytes starting `offset` bytes after the head, clamped to
    /// the capacity.
    fn spans(
        &self,
        offset: usize,
        len: usize,
    ) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
        let cap = self.capacity();
        if offset >= cap || len == 0 {
            return (0..0, 0..0);
        }
        let len = len.min(cap - offset);
        let start = self.index(offset);
        let first = len.min(cap - start);
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
        let (a, b) = self.spans(self.len + offset, n);
        let split = a.len();
        self.storage[a].copy_from_slice(&data[..split]);
        self.storage[b].copy_from_slice(&data[split..n]);
        n
    }

    /// Makes `n` bytes of the free space (written by [`RingBuffer::write_ahead`]) part of the
    /// contents, clamped to the free space.
    pub fn commit(&mut self, n: usize) {
        self.len += n.min(self.free());
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
        if self.capacity() > 0 {
            self.head = self.index(n);
        }
        self.len -= n;
        n
    }

    /// Moves up to `buf.len()` bytes from the head into `buf`; returns how many.
    pub fn pop(&mut self, buf: &mut [u8]) -> usize {
        let n = self.peek(0, buf);
        self.consume(n)
    }
}
