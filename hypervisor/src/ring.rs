//! Index arithmetic of Xen's byte rings (xenstore, console): free-running 32-bit producer and
//! consumer indexes over a power-of-two buffer; the position of index `i` is `i & (size - 1)`.
//!
//! Ref: `io/xs_wire.h` (`MASK_XENSTORE_IDX`), `io/console.h` (`MASK_XENCONS_IDX`). The other
//! end is not trusted: an index pair that claims more bytes than the ring holds is reported,
//! not followed.

/// Bytes between `cons` and `prod` (what the consumer may read), or `None` if the pair is
/// impossible (more than `size`).
pub fn used(prod: u32, cons: u32, size: usize) -> Option<usize> {
    let n = prod.wrapping_sub(cons) as usize;
    (n <= size).then_some(n)
}

/// Room for the producer, or `None` if the pair is impossible.
pub fn free(prod: u32, cons: u32, size: usize) -> Option<usize> {
    used(prod, cons, size).map(|n| size - n)
}

/// The (at most two) contiguous pieces of the ring that `len` bytes from index `at` occupy:
/// `(offset, len)` each; the second is empty unless the run wraps.
pub fn segments(at: u32, len: usize, size: usize) -> [(usize, usize); 2] {
    debug_assert!(size.is_power_of_two() && len <= size);
    let start = at as usize & (size - 1);
    let first = len.min(size - start);
    [(start, first), (0, len - first)]
}

/// Copies `data` into the ring of `size` bytes at `ring`, from producer index `prod` (the
/// caller has checked there is room).
///
/// # Safety
///
/// `ring` is valid for writes of `size` bytes, and the `data.len()` bytes from `prod` are the
/// producer's to write: the consumer does not read them until the producer index moves.
pub unsafe fn copy_in(ring: *mut u8, size: usize, prod: u32, data: &[u8]) {
    let mut from = 0;
    for (off, len) in segments(prod, data.len(), size) {
        // SAFETY: `off + len <= size`, in the caller's part of the ring; `data[from..from +
        // len]` is in bounds.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr().add(from), ring.add(off), len) };
        from += len;
    }
}

/// Copies `out.len()` bytes from the ring of `size` bytes at `ring`, from consumer index `cons`
/// (the caller has checked they are there).
///
/// # Safety
///
/// `ring` is valid for reads of `size` bytes, and the `out.len()` bytes from `cons` are
/// published: the producer leaves them alone until the consumer index moves.
pub unsafe fn copy_out(ring: *const u8, size: usize, cons: u32, out: &mut [u8]) {
    let mut to = 0;
    for (off, len) in segments(cons, out.len(), size) {
        // SAFETY: `off + len <= size`, in the published part of the ring; `out[to..to + len]`
        // is in bounds.
        unsafe { core::ptr::copy_nonoverlapping(ring.add(off), out.as_mut_ptr().add(to), len) };
        to += len;
    }
}

/// Copies as much of `data` as fits into `ring` at producer index `prod`; returns the count.
/// (The ring here is ordinary memory, so the copy is safe; a shared page is [`copy_in`]'s.)
pub fn produce(ring: &mut [u8], prod: u32, cons: u32, data: &[u8]) -> usize {
    let Some(room) = free(prod, cons, ring.len()) else {
        return 0;
    };
    let n = room.min(data.len());
    let mut from = 0;
    for (off, len) in segments(prod, n, ring.len()) {
        ring[off..off + len].copy_from_slice(&data[from..from + len]);
        from += len;
    }
    n
}

/// Copies up to `out.len()` bytes from `ring` at consumer index `cons`; returns the count.
pub fn consume(ring: &[u8], prod: u32, cons: u32, out: &mut [u8]) -> usize {
    let Some(avail) = used(prod, cons, ring.len()) else {
        return 0;
    };
    let n = avail.min(out.len());
    let mut to = 0;
    for (off, len) in segments(cons, n, ring.len()) {
        out[to..to + len].copy_from_slice(&ring[off..off + len]);
        to += len;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_the_u32_wrap() {
        assert_eq!(used(5, 1, 16), Some(4));
        assert_eq!(used(2, u32::MAX - 1, 16), Some(4));
        assert_eq!(free(2, u32::MAX - 1, 16), Some(12));
        assert_eq!(used(40, 1, 16), None, "hostile indexes");
        assert_eq!(free(1, 5, 16), None, "consumer ahead of producer");
    }

    #[test]
    fn segments_split_at_the_end() {
        assert_eq!(segments(14, 4, 16), [(14, 2), (0, 2)]);
        assert_eq!(segments(16 * 7 + 3, 5, 16), [(3, 5), (0, 0)]);
        assert_eq!(segments(u32::MAX, 2, 16), [(15, 1), (0, 1)]);
    }

    #[test]
    fn produce_then_consume_round_trips_through_a_wrap() {
        let mut ring = [0u8; 8];
        let (mut prod, mut cons) = (u32::MAX - 2, u32::MAX - 2);
        let mut out = [0u8; 16];
        for round in 0..10u8 {
            let data = [round, round + 1, round + 2, round + 3, round + 4];
            let n = produce(&mut ring, prod, cons, &data);
            assert_eq!(n, 5);
            prod = prod.wrapping_add(n as u32);
            assert_eq!(
                produce(&mut ring, prod, cons, &[9; 9]),
                3,
                "only 3 bytes of room"
            );
            let got = consume(&ring, prod, cons, &mut out[..4]);
            assert_eq!(&out[..got], &data[..4]);
            cons = cons.wrapping_add(got as u32);
            let got = consume(&ring, prod, cons, &mut out);
            assert_eq!(&out[..got], &data[4..]);
            cons = cons.wrapping_add(got as u32);
        }
    }
}
