//! [`Pcap`]: records every frame a device sends or receives, in the classic pcap format with
//! nanosecond timestamps (magic `0xa1b23c4d`, link type 1 = Ethernet), so that any run can be
//! opened in tcpdump or Wireshark. Timestamps are the executor's monotonic clock.
//!
//! Ref: <https://www.tcpdump.org/manpages/pcap-savefile.5.html>.

use alloc::vec::Vec;
use core::cell::RefCell;
use core::task::Context;

use morgana_drivers::net::{Capabilities, LinkState, NetDevice, RxToken, TxToken};
use morgana_executor::Instant;

/// Where a [`Pcap`] writes: a `Vec<u8>`, or a file on the hosted platform.
pub trait PcapSink {
    /// Appends `bytes`. A sink that fails drops them; a capture never stops the traffic.
    fn write(&mut self, bytes: &[u8]);
}

impl PcapSink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The longest part of a frame recorded.
const SNAPLEN: u32 = 65_535;

/// A device that records its frames into a [`PcapSink`].
#[derive(Debug)]
pub struct Pcap<D, S> {
    device: D,
    sink: RefCell<S>,
}

impl<D: NetDevice, S: PcapSink> Pcap<D, S> {
    /// Wraps `device`, writing the pcap file header to `sink` now.
    pub fn new(device: D, mut sink: S) -> Self {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond timestamps
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs: 0
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        sink.write(&header);
        Pcap {
            device,
            sink: RefCell::new(sink),
        }
    }

    /// The wrapped device and the sink.
    pub fn into_parts(self) -> (D, S) {
        (self.device, self.sink.into_inner())
    }

    /// The wrapped device.
    pub fn device(&mut self) -> &mut D {
        &mut self.device
    }
}

fn record<S: PcapSink>(sink: &RefCell<S>, frame: &[u8]) {
    let nanos = Instant::now().as_nanos();
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let kept = len.min(SNAPLEN);
    let mut header = [0u8; 16];
    header[0..4].copy_from_slice(&((nanos / 1_000_000_000) as u32).to_le_bytes());
    header[4..8].copy_from_slice(&((nanos % 1_000_000_000) as u32).to_le_bytes());
    header[8..12].copy_from_slice(&kept.to_le_bytes());
    header[12..16].copy_from_slice(&len.to_le_bytes());
    let mut sink = sink.borrow_mut();
    sink.write(&header);
    sink.write(&frame[..kept as usize]);
}

/// A received frame, recorded when consumed.
#[derive(Debug)]
pub struct PcapRx<'a, R, S> {
    inner: R,
    sink: &'a RefCell<S>,
}

impl<R: RxToken, S: PcapSink> RxToken for PcapRx<'_, R, S> {
    fn consume<T>(self, f: impl FnOnce(&mut [u8]) -> T) -> T {
        let sink = self.sink;
        self.inner.consume(|frame| {
            record(sink, frame);
            f(frame)
        })
    }
}

/// Room for a frame, recorded once filled.
#[derive(Debug)]
pub struct PcapTx<'a, T, S> {
    inner: T,
    sink: &'a RefCell<S>,
}

impl<T: TxToken, S: PcapSink> TxToken for PcapTx<'_, T, S> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let sink = self.sink;
        self.inner.consume(len, |frame| {
            let r = f(frame);
            record(sink, frame);
            r
        })
    }
}

impl<D: NetDevice, S: PcapSink> NetDevice for Pcap<D, S> {
    type RxToken<'a>
        = PcapRx<'a, D::RxToken<'a>, S>
    where
        Self: 'a;
    type TxToken<'a>
        = PcapTx<'a, D::TxToken<'a>, S>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let sink = &self.sink;
        self.device
            .receive(cx)
            .map(|(rx, tx)| (PcapRx { inner: rx, sink }, PcapTx { inner: tx, sink }))
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<Self::TxToken<'_>> {
        let sink = &self.sink;
        self.device
            .transmit(cx)
            .map(|tx| PcapTx { inner: tx, sink })
    }

    fn flush(&mut self) {
        self.device.flush();
    }

    fn hardware_address(&self) -> [u8; 6] {
        self.device.hardware_address()
    }

    fn capabilities(&self) -> Capabilities {
        self.device.capabilities()
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        self.device.link_state(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::Loopback;
    use alloc::rc::Rc;
    use core::task::Waker;
    use morgana_executor::Executor;
    use morgana_executor::sim::SimPlatform;

    #[test]
    fn a_looped_frame_is_recorded_twice_with_its_timestamp() {
        let sim = Rc::new(SimPlatform::new(1));
        sim.advance(core::time::Duration::from_nanos(1_500_000_123));
        let ex = Executor::new(sim);
        let bytes = ex.block_on(async {
            let mut cx = Context::from_waker(Waker::noop());
            let mut dev = Pcap::new(Loopback::new(4), Vec::new());
            dev.transmit(&mut cx)
                .unwrap()
                .consume(4, |f| f.copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]));
            dev.flush();
            let (rx, _) = dev.receive(&mut cx).unwrap();
            rx.consume(|_| ());
            dev.into_parts().1
        });
        #[rustfmt::skip]
        let record: [u8; 20] = [
            1, 0, 0, 0,                 // 1 s
            0x7b, 0x65, 0xcd, 0x1d,     // 500,000,123 ns
            4, 0, 0, 0, 4, 0, 0, 0,     // 4 bytes kept of 4
            0xde, 0xad, 0xbe, 0xef,
        ];
        assert_eq!(&bytes[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(&bytes[20..24], &[1, 0, 0, 0]);
        assert_eq!(bytes.len(), 24 + 2 * 20);
        assert_eq!(&bytes[24..44], &record);
        assert_eq!(&bytes[44..64], &record);
    }
}
