//! The PV console: a page with an input ring (1 KiB) and an output ring (2 KiB), and an
//! event channel to tell `xenconsoled` in dom0 that there is output.
//!
//! Ref: `io/console.h`:
//!
//! ```text
//! struct xencons_interface {
//!     char in[1024]; char out[2048];
//!     XENCONS_RING_IDX in_cons, in_prod, out_cons, out_prod;   /* at 3072 */
//! };
//! ```
//!
//! We produce `out` and consume `in`. The page and port come from the HVM parameters
//! `HVM_PARAM_CONSOLE_PFN` and `HVM_PARAM_CONSOLE_EVTCHN`.

use core::sync::atomic::{AtomicU32, Ordering, fence};

use crate::ring;

const IN: usize = 0;
const IN_SIZE: usize = 1024;
const OUT: usize = 1024;
const OUT_SIZE: usize = 2048;
const IN_CONS: usize = 3072;
const IN_PROD: usize = 3076;
const OUT_CONS: usize = 3080;
const OUT_PROD: usize = 3084;

/// The console page.
#[derive(Debug)]
pub struct PvConsole {
    page: *mut u8,
}

impl PvConsole {
    /// The console interface at `page`.
    ///
    /// # Safety
    ///
    /// `page` points to the 4 KiB console page (or test memory), mapped for as long as the
    /// value lives, written by nothing but the console backend and this value.
    pub unsafe fn new(page: *mut u8) -> PvConsole {
        PvConsole { page }
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the index offsets lie in the page and are 4-aligned; only atomic access.
        unsafe { AtomicU32::from_ptr(self.page.add(offset).cast()) }
    }

    /// Copies as much of `data` as fits into the output ring; returns the count. The caller
    /// notifies the console's event channel afterwards.
    pub fn write(&self, data: &[u8]) -> usize {
        let cons = self.index(OUT_CONS).load(Ordering::Acquire);
        let prod = self.index(OUT_PROD).load(Ordering::Relaxed);
        let Some(room) = ring::free(prod, cons, OUT_SIZE) else {
            return 0;
        };
        let n = room.min(data.len());
        // SAFETY: the output ring lies in the page, and only we write it between `out_prod`
        // and `out_cons + size`, where the `n` bytes go.
        unsafe { ring::copy_in(self.page.add(OUT), OUT_SIZE, prod, &data[..n]) };
        // The bytes before the index that publishes them.
        fence(Ordering::Release);
        self.index(OUT_PROD)
            .store(prod.wrapping_add(n as u32), Ordering::Release);
        n
    }

    /// Bytes written but not yet taken by the backend.
    pub fn unsent(&self) -> usize {
        let cons = self.index(OUT_CONS).load(Ordering::Acquire);
        let prod = self.index(OUT_PROD).load(Ordering::Relaxed);
        ring::used(prod, cons, OUT_SIZE).unwrap_or(0)
    }

    /// Reads typed input into `out`; returns the count.
    pub fn read(&self, out: &mut [u8]) -> usize {
        let prod = self.index(IN_PROD).load(Ordering::Acquire);
        let cons = self.index(IN_CONS).load(Ordering::Relaxed);
        let Some(avail) = ring::used(prod, cons, IN_SIZE) else {
            return 0;
        };
        let n = avail.min(out.len());
        fence(Ordering::Acquire);
        // SAFETY: the input ring lies in the page; the `n` bytes are between `in_cons` and
        // `in_prod`, which the backend does not touch until we advance `in_cons`.
        unsafe { ring::copy_out(self.page.add(IN), IN_SIZE, cons, &mut out[..n]) };
        self.index(IN_CONS)
            .store(cons.wrapping_add(n as u32), Ordering::Release);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    #[test]
    fn output_wraps_and_stops_when_full() {
        let page = Box::leak(Box::new(Page([0; 4096])));
        let base = page.0.as_mut_ptr();
        // SAFETY: a leaked page of our own.
        let c = unsafe { PvConsole::new(base) };
        // Pretend the backend consumed 2040 bytes of an earlier run.
        c.index(OUT_PROD).store(2040, Ordering::SeqCst);
        c.index(OUT_CONS).store(2040, Ordering::SeqCst);
        assert_eq!(c.write(b"0123456789abcdef"), 16);
        assert_eq!(c.unsent(), 16);
        // SAFETY: reading our own page.
        let bytes = unsafe { core::slice::from_raw_parts(base, 4096) };
        assert_eq!(&bytes[OUT + 2040..OUT + 2048], b"01234567");
        assert_eq!(&bytes[OUT..OUT + 8], b"89abcdef");
        assert_eq!(c.write(&[b'x'; 4000]), 2048 - 16, "only what fits");
        assert_eq!(c.write(b"y"), 0);
        c.index(OUT_CONS).store(2040 + 2048, Ordering::SeqCst);
        assert_eq!(c.unsent(), 0);
        // Hostile indexes: nothing written.
        c.index(OUT_CONS).store(0, Ordering::SeqCst);
        assert_eq!(c.write(b"z"), 0);
    }

    #[test]
    fn input_is_read_once() {
        let page = Box::leak(Box::new(Page([0; 4096])));
        page.0[IN..IN + 3].copy_from_slice(b"hi\n");
        let base = page.0.as_mut_ptr();
        // SAFETY: a leaked page of our own.
        let c = unsafe { PvConsole::new(base) };
        c.index(IN_PROD).store(3, Ordering::SeqCst);
        let mut out = [0u8; 8];
        assert_eq!(c.read(&mut out), 3);
        assert_eq!(&out[..3], b"hi\n");
        assert_eq!(c.read(&mut out), 0);
    }
}
