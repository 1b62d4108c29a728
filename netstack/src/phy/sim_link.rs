//! [`SimLink`]: two devices joined by a simulated wire that loses, duplicates, corrupts,
//! delays and reorders frames, all decided by a seeded generator, on the executor's clock (so
//! on the simulator the same seed gives the same run).
//!
//! Reordering comes two ways: jitter (each frame's delay is `delay + uniform(0..=jitter)`, so
//! frames overtake each other when the jitter exceeds their spacing, which reorders most of a
//! burst) and, closer to what real paths do, a chance that one frame is held back by
//! `reorder_by` while the frames behind it overtake it.

use alloc::collections::BinaryHeap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::cmp::Reverse;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Waker};
use core::time::Duration;

use morgana_drivers::net::{Capabilities, LinkState, NetDevice};
use morgana_executor::time::Sleep;
use morgana_executor::{Instant, sleep_until};

use super::{OutboxTx, OwnedRx};

/// How the wire misbehaves. Probabilities are in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimLinkConfig {
    /// The generator's seed.
    pub seed: u64,
    /// Chance a frame is lost.
    pub loss_ppm: u32,
    /// Chance a frame is delivered twice.
    pub duplicate_ppm: u32,
    /// Chance a delivered frame has one byte flipped (checksums must catch it).
    pub corrupt_ppm: u32,
    /// One-way delay.
    pub delay: Duration,
    /// Extra random delay, up to this much, per frame.
    pub jitter: Duration,
    /// Chance a frame is held back by [`reorder_by`](Self::reorder_by).
    pub reorder_ppm: u32,
    /// How long a reordered frame is held back.
    pub reorder_by: Duration,
    /// Frames in flight each way before new ones are dropped (a queue limit).
    pub capacity: usize,
    /// MTU of both ends.
    pub mtu: usize,
}

impl Default for SimLinkConfig {
    /// A perfect wire with 1 ms of delay.
    fn default() -> Self {
        SimLinkConfig {
            seed: 0,
            loss_ppm: 0,
            duplicate_ppm: 0,
            corrupt_ppm: 0,
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            reorder_ppm: 0,
            reorder_by: Duration::ZERO,
            capacity: 1024,
            mtu: 1500,
        }
    }
}

/// What the wire did, both ways together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames handed to the wire.
    pub sent: u64,
    /// Frames delivered (duplicates included).
    pub delivered: u64,
    /// Frames lost on purpose.
    pub lost: u64,
    /// Frames dropped because too many were in flight.
    pub overflowed: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Frames delivered with a flipped byte.
    pub corrupted: u64,
    /// Frames held back to be overtaken.
    pub reordered: u64,
}

struct InFlight {
    at: Instant,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Wire {
    config: SimLinkConfig,
    rng: u64,
    seq: u64,
    /// Frames travelling towards side 0 and side 1.
    toward: [BinaryHeap<Reverse<InFlight>>; 2],
    /// Who waits for a frame on each side.
    wakers: [Option<Waker>; 2],
    stats: LinkStats,
}

impl Wire {
    fn next(&mut self) -> u64 {
        // xorshift64*: enough for fault injection, reproducible from the seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.next() % 1_000_000 < u64::from(ppm)
    }

    fn send(&mut self, to: usize, mut frame: Vec<u8>, now: Instant) {
        self.stats.sent += 1;
        if self.chance(self.config.loss_ppm) {
            self.stats.lost += 1;
            return;
        }
        if !frame.is_empty() && self.chance(self.config.corrupt_ppm) {
            let i = (self.next() % frame.len() as u64) as usize;
            frame[i] ^= 1 << (self.next() % 8);
            self.stats.corrupted += 1;
        }
        let copies = if self.chance(self.config.duplicate_ppm) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for copy in 0..copies {
            if self.toward[to].len() >= self.config.capacity {
                self.stats.overflowed += 1;
                continue;
            }
            let jitter = u64::try_from(self.config.jitter.as_nanos()).unwrap_or(u64::MAX);
            let extra = if jitter == 0 {
                0
            } else {
                self.next() % (jitter + 1)
            };
            let mut at = now + self.config.delay + Duration::from_nanos(extra);
            if self.chance(self.config.reorder_ppm) {
                at += self.config.reorder_by;
                self.stats.reordered += 1;
            }
            self.seq += 1;
            let frame = if copy + 1 == copies {
                core::mem::take(&mut frame)
            } else {
                frame.clone()
            };
            self.toward[to].push(Reverse(InFlight {
                at,
                seq: self.seq,
                frame,
            }));
        }
        if let Some(w) = self.wakers[to].take() {
            w.wake();
        }
    }
}

/// One end of a simulated wire.
pub struct SimLink {
    wire: Rc<RefCell<Wire>>,
    side: usize,
    outbox: Vec<Vec<u8>>,
    /// Armed for the next frame's arrival while `receive` waits.
    timer: Option<Sleep>,
    mac: [u8; 6],
}

impl core::fmt::Debug for SimLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimLink")
            .field("side", &self.side)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A non-zero xorshift state from any seed, distinct seeds giving distinct states (SplitMix64's
/// finaliser, a bijection, so no two seeds collide as `seed | 1` would make 2k and 2k+1 do).
fn seed_state(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z == 0 { 0x2545_f491_4f6c_dd1d } else { z }
}

impl SimLink {
    /// The two ends of a new wire (MAC addresses 02:00:00:00:00:01 and :02).
    pub fn pair(config: SimLinkConfig) -> (SimLink, SimLink) {
        let wire = Rc::new(RefCell::new(Wire {
            config,
            rng: seed_state(config.seed),
            seq: 0,
            toward: [BinaryHeap::new(), BinaryHeap::new()],
            wakers: [None, None],
            stats: LinkStats::default(),
        }));
        let end = |side: usize| SimLink {
            wire: wire.clone(),
            side,
            outbox: Vec::new(),
            timer: None,
            mac: [0x02, 0, 0, 0, 0, side as u8 + 1],
        };
        (end(0), end(1))
    }

    /// What the wire did so far (both directions).
    pub fn stats(&self) -> LinkStats {
        self.wire.borrow().stats
    }

    fn send_outbox(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut wire = self.wire.borrow_mut();
        for frame in self.outbox.drain(..) {
            wire.send(1 - self.side, frame, now);
        }
    }
}

impl NetDevice for SimLink {
    type RxToken<'a> = OwnedRx;
    type TxToken<'a> = OutboxTx<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(OwnedRx, OutboxTx<'_>)> {
        self.send_outbox();
        let now = Instant::now();
        let mut wire = self.wire.borrow_mut();
        let side = self.side;
        let due = wire.toward[side].peek().map(|Reverse(f)| f.at);
        match due {
            Some(at) if at <= now => {
                let Reverse(frame) = wire.toward[side].pop().expect("peeked");
                wire.stats.delivered += 1;
                drop(wire);
                self.timer = None;
                Some((OwnedRx(frame.frame), OutboxTx(&mut self.outbox)))
            }
            next => {
                wire.wakers[side] = Some(cx.waker().clone());
                drop(wire);
                // Wake when the earliest frame in flight lands (a new, earlier frame wakes us
                // through the waker above, and we re-arm then).
                if let Some(at) = next {
                    let timer = self.timer.get_or_insert_with(|| sleep_until(at));
                    if timer.deadline() != at {
                        timer.reset(at);
                    }
                    if Pin::new(timer).poll(cx).is_ready() {
                        cx.waker().wake_by_ref();
                    }
                }
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context<'_>) -> Option<OutboxTx<'_>> {
        Some(OutboxTx(&mut self.outbox))
    }

    fn flush(&mut self) {
        self.send_outbox();
    }

    fn hardware_address(&self) -> [u8; 6] {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: self.wire.borrow().config.mtu,
            ..Capabilities::default()
        }
    }

    fn link_state(&mut self, _cx: &mut Context<'_>) -> LinkState {
        LinkState::Up
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::future::poll_fn;
    use core::task::Poll;
    use morgana_drivers::net::{RxToken, TxToken};
    use morgana_executor::Executor;
    use morgana_executor::sim::SimPlatform;

    /// Sends 1,000 numbered frames one way; returns what arrived, in arrival order, and the
    /// wire's counters.
    fn run(config: SimLinkConfig) -> (Vec<u32>, LinkStats) {
        let sim = Rc::new(SimPlatform::new(config.seed));
        let ex = Executor::new(sim);
        ex.block_on(async move {
            let (mut a, mut b) = SimLink::pair(config);
            let sender = morgana_executor::spawn(async move {
                for i in 0..1000u32 {
                    poll_fn(|cx| {
                        a.transmit(cx)
                            .unwrap()
                            .consume(4, |f| f.copy_from_slice(&i.to_be_bytes()));
                        Poll::Ready(())
                    })
                    .await;
                    a.flush();
                    morgana_executor::sleep(Duration::from_micros(100)).await;
                }
                a
            });
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let frame = morgana_executor::timeout(
                    Duration::from_millis(50),
                    poll_fn(|cx| match b.receive(cx) {
                        Some((rx, _)) => Poll::Ready(rx.consume(|f| f.to_vec())),
                        None => Poll::Pending,
                    }),
                )
                .await;
                match frame {
                    Ok(f) if f.len() == 4 => got.push(u32::from_be_bytes([f[0], f[1], f[2], f[3]])),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let a = sender.await;
            (got, a.stats())
        })
    }

    #[test]
    fn a_perfect_wire_delivers_everything_in_order_after_its_delay() {
        let (got, stats) = run(SimLinkConfig::default());
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(stats.delivered, 1000);
    }

    #[test]
    fn faults_happen_at_their_rates_and_one_seed_gives_one_run() {
        let config = SimLinkConfig {
            seed: 7,
            loss_ppm: 50_000,
            duplicate_ppm: 20_000,
            corrupt_ppm: 0,
            jitter: Duration::from_micros(500),
            ..SimLinkConfig::default()
        };
        let (got, stats) = run(config);
        assert_eq!((got.clone(), stats), run(config), "same seed, same run");
        assert!((20..=80).contains(&stats.lost), "{stats:?}");
        assert!((5..=40).contains(&stats.duplicated), "{stats:?}");
        assert_eq!(got.len() as u64, 1000 - stats.lost + stats.duplicated);
        let reordered = got.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(
            reordered > 10,
            "jitter of 5x the spacing reorders ({reordered})"
        );
        assert_ne!(run(SimLinkConfig { seed: 8, ..config }).0, got);
        // Neighbouring seeds are different wires too (a `seed | 1` once made 6 and 7 one).
        assert_ne!(run(SimLinkConfig { seed: 6, ..config }).0, got);
    }

    #[test]
    fn held_back_frames_are_overtaken_by_those_behind() {
        let config = SimLinkConfig {
            seed: 3,
            reorder_ppm: 100_000,
            reorder_by: Duration::from_millis(5),
            ..SimLinkConfig::default()
        };
        let (got, stats) = run(config);
        assert!((50..=150).contains(&stats.reordered), "{stats:?}");
        assert_eq!(got.len(), 1000, "nothing lost");
        let late = got.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(
            late > 40,
            "held-back frames arrive after later ones ({late})"
        );
    }
}
