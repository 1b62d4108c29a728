//! The virtio entropy device (virtio-rng): random bytes from the host.
//!
//! One queue; the driver posts a device-writable buffer and the device fills some or all of
//! it (virtio 1.2, 5.4). This driver is synchronous and polls: it serves the platform's entropy
//! call, which is itself synchronous and rare (seeding at boot, when RDSEED/RDRAND are absent),
//! so it needs no interrupt and asks the device for none.
//!
//! The device writes into a page of DMA memory the driver owns, never into the caller's
//! buffer: a request still in flight when [`VirtioRng::fill`] runs out of polls stays
//! harmlessly pending and is collected by the next call.

use core::fmt;
use core::mem::ManuallyDrop;

use super::Error;
use super::dma::Dma;
use super::hal::Hal;
use super::queue::{Segment, VirtQueue};
use super::transport::{DeviceType, Transport};

/// requestq, the entropy device's only queue (virtio 1.2, 5.4.2).
const REQUEST_QUEUE: u16 = 0;
/// One request is in flight at a time; a small ring is plenty.
const QUEUE_SIZE: u16 = 4;
/// The DMA buffer: one page, so each request asks for at most 4096 bytes.
const BUFFER_PAGES: usize = 1;

/// A virtio entropy device.
pub struct VirtioRng<H: Hal, T: Transport> {
    transport: T,
    // Freed in `drop` only once the device is reset.
    queue: ManuallyDrop<VirtQueue<H>>,
    buffer: ManuallyDrop<Dma<H>>,
    /// The request in flight: its token and the bytes asked for.
    pending: Option<(u16, usize)>,
}

impl<H: Hal, T: Transport> VirtioRng<H, T> {
    /// Initializes the device behind `transport`: negotiates VERSION_1 and nothing else (the
    /// device has no feature bits, 5.4.3), sets up requestq without interrupts, and makes the
    /// device live. Ref: virtio 1.2, 3.1.1 and 5.4.5.
    pub fn new(mut transport: T) -> Result<Self, Error> {
        let found = transport.device_type();
        if found != DeviceType::Entropy {
            return Err(Error::WrongDeviceType {
                expected: DeviceType::Entropy,
                found,
            });
        }
        transport.begin_init(0)?;
        let rings = Dma::new(BUFFER_PAGES).and_then(|buffer| {
            let queue = VirtQueue::new(&mut transport, REQUEST_QUEUE, QUEUE_SIZE, false)?;
            Ok((queue, buffer))
        });
        let (mut queue, buffer) = match rings {
            Ok(rings) => rings,
            Err(e) => {
                // The device never went live (no DRIVER_OK), so it did not touch the memory
                // just freed (virtio 1.2, 2.1.2).
                transport.fail();
                return Err(e);
            }
        };
        queue.disable_interrupts();
        transport.finish_init();
        Ok(VirtioRng {
            transport,
            queue: ManuallyDrop::new(queue),
            buffer: ManuallyDrop::new(buffer),
            pending: None,
        })
    }

    /// Fills `buf` with random bytes from the device, returning how many it got.
    ///
    /// Posts a request (at most a page), notifies the device, and checks the used ring up to
    /// `max_polls` times in all, posting again while the device returns fewer bytes than
    /// needed (5.4.6.2: it MAY). Returns early with fewer than `buf.len()` bytes when the polls
    /// run out; a request still in flight then is collected by the next call. Errors are the
    /// device misbehaving ([`Error::BadUsedLen`] and the like).
    pub fn fill(&mut self, buf: &mut [u8], max_polls: u32) -> Result<usize, Error> {
        let mut filled = 0;
        let mut polls = 0;
        while filled < buf.len() {
            let (token, asked) = match self.pending {
                Some(pending) => pending,
                None => self.submit(buf.len() - filled)?,
            };
            if polls == max_polls {
                break;
            }
            polls += 1;
            match self.queue.pop_used() {
                Ok(None) => core::hint::spin_loop(),
                Ok(Some((done, len))) => {
                    self.pending = None;
                    // Used-buffer interrupts were asked off, but that is only a hint: clear any
                    // the device raised anyway, so a level-triggered line does not stay
                    // asserted. (Leave MSI-X off for this device: then the ISR is not read.)
                    self.transport.ack_interrupt();
                    if done != token {
                        // Only one request is ever in flight; the queue vouched for `done`.
                        return Err(Error::BadUsedId(done.into()));
                    }
                    // `len` is within the request (checked by the queue); take what fits.
                    let n = (len as usize).min(asked).min(buf.len() - filled);
                    self.copy_out(&mut buf[filled..filled + n]);
                    filled += n;
                }
                Err(e) => {
                    if let Error::BadUsedLen { .. } = e {
                        // The chain came back, bytes and all untrusted.
                        self.pending = None;
                    }
                    return Err(e);
                }
            }
        }
        Ok(filled)
    }

    /// Posts a request for up to `want` bytes into the DMA buffer.
    fn submit(&mut self, want: usize) -> Result<(u16, usize), Error> {
        let asked = want.min(self.buffer.size());
        let segment = Segment {
            phys: self.buffer.phys(),
            len: asked as u32,
            device_writable: true,
        };
        // SAFETY: the segment is the start of `self.buffer`, DMA memory this driver owns and
        // frees only after resetting the device (`drop`). The driver reads it only once the
        // request is popped (`pending` is cleared then), and never writes it.
        let token = unsafe { self.queue.add_segments(&[segment]) }?;
        self.pending = Some((token, asked));
        self.queue.kick(&mut self.transport);
        Ok((token, asked))
    }

    /// Copies the first `out.len()` bytes of the DMA buffer (`out.len()` is at most the length
    /// the device reported for the request just popped).
    fn copy_out(&self, out: &mut [u8]) {
        let n = out.len().min(self.buffer.size());
        // SAFETY: the buffer is `size()` bytes of DMA memory owned by `self`; no request is in
        // flight (just popped), so the device no longer writes it, and the used index was read
        // with acquire ordering after the device wrote these bytes.
        unsafe { core::ptr::copy_nonoverlapping(self.buffer.virt().as_ptr(), out.as_mut_ptr(), n) };
    }
}

impl<H: Hal, T: Transport> Drop for VirtioRng<H, T> {
    fn drop(&mut self) {
        // The device must stop using the ring and buffer before they are freed. If it will not
        // reset, leak them rather than free memory a device may still write.
        if self.transport.reset().is_ok() {
            // SAFETY: each field is dropped once, here, and not used after.
            unsafe {
                ManuallyDrop::drop(&mut self.queue);
                ManuallyDrop::drop(&mut self.buffer);
            }
        }
    }
}

impl<H: Hal, T: Transport + fmt::Debug> fmt::Debug for VirtioRng<H, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioRng")
            .field("transport", &self.transport)
            .field("queue", &*self.queue)
            .field("pending", &self.pending)
            .finish()
    }
}

#[cfg(test)]
mod tests;
