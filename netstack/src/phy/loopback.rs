//! [`Loopback`]: every frame sent comes back as received, in order.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::task::{Context, Waker};

use morgana_drivers::net::{Capabilities, LinkState, NetDevice};

use super::{OutboxTx, OwnedRx};

/// A device whose transmitted frames are its received frames. Holds at most `capacity`
/// frames; more are dropped, as a full ring would.
#[derive(Debug)]
pub struct Loopback {
    queue: VecDeque<Vec<u8>>,
    outbox: Vec<Vec<u8>>,
    capacity: usize,
    waker: Option<Waker>,
    /// Frames dropped because the queue was full.
    pub dropped: u64,
}

impl Loopback {
    /// A loopback holding up to `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        Loopback {
            queue: VecDeque::new(),
            outbox: Vec::new(),
            capacity,
            waker: None,
            dropped: 0,
        }
    }

    /// Moves sent frames to the receive queue, waking a waiting receiver.
    fn absorb(&mut self) {
        for frame in self.outbox.drain(..) {
            if self.queue.len() < self.capacity {
                self.queue.push_back(frame);
            } else {
                self.dropped += 1;
            }
        }
        if !self.queue.is_empty()
            && let Some(w) = self.waker.take()
        {
            w.wake();
        }
    }
}

impl NetDevice for Loopback {
    type RxToken<'a> = OwnedRx;
    type TxToken<'a> = OutboxTx<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(OwnedRx, OutboxTx<'_>)> {
        self.absorb();
        match self.queue.pop_front() {
            Some(frame) => Some((OwnedRx(frame), OutboxTx(&mut self.outbox))),
            None => {
                self.waker = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context<'_>) -> Option<OutboxTx<'_>> {
        Some(OutboxTx(&mut self.outbox))
    }

    fn flush(&mut self) {
        self.absorb();
    }

    fn hardware_address(&self) -> [u8; 6] {
        [0x02, 0, 0, 0, 0, 0x01]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn link_state(&mut self, _cx: &mut Context<'_>) -> LinkState {
        LinkState::Up
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use morgana_drivers::net::{RxToken, TxToken};

    #[test]
    fn frames_come_back_in_order_and_a_waiting_receiver_is_woken() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut lo = Loopback::new(2);
        assert!(lo.receive(&mut cx).is_none());
        for b in [1u8, 2, 3] {
            lo.transmit(&mut cx).unwrap().consume(3, |f| f.fill(b));
        }
        lo.flush();
        assert_eq!(lo.dropped, 1, "the third frame found the queue full");
        let (rx, _) = lo.receive(&mut cx).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), [1, 1, 1]);
        let (rx, _) = lo.receive(&mut cx).unwrap();
        assert_eq!(rx.consume(|f| f.to_vec()), [2, 2, 2]);
        assert!(lo.receive(&mut cx).is_none());
    }
}
