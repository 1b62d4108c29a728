//! Two connections over a simulated link on a virtual clock.
//!
//! Segments are delivered after a one-way delay; the link can lose, duplicate and reorder them
//! with a seeded xorshift (a corrupted segment fails its checksum and is dropped by the IP
//! layer, so corruption is loss here). When nothing is due, the clock jumps to the earliest
//! delivery or timer deadline.

use alloc::vec::Vec;
use core::time::Duration;

use morgana_executor::Instant;

use crate::tcp::{Config, Endpoint, RecoveryStats, Segment, Tcb};
use crate::wire::{Ipv4Address, SeqNumber, TcpRepr};

pub const A: Endpoint = Endpoint::new(Ipv4Address::new(10, 0, 0, 1), 40000);
pub const B: Endpoint = Endpoint::new(Ipv4Address::new(10, 0, 0, 2), 80);
pub const MTU: usize = 1500;

/// Marsaglia's xorshift64.
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the link does to segments.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub delay: Duration,
    pub loss: f64,
    pub duplicate: f64,
    /// Probability that a segment is held back by up to `reorder_by`.
    pub reorder: f64,
    pub reorder_by: Duration,
}

impl LinkConfig {
    pub fn clean() -> Self {
        LinkConfig {
            delay: Duration::from_millis(10),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_by: Duration::ZERO,
        }
    }
    pub fn lossy(loss: f64) -> Self {
        LinkConfig {
            loss,
            duplicate: 0.01,
            reorder: 0.02,
            reorder_by: Duration::from_millis(4),
            ..LinkConfig::clean()
        }
    }
}

/// A segment as sent, with its payload copied out.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    /// From A to B.
    pub to_b: bool,
    pub seg: Segment,
    pub payload: Vec<u8>,
}

impl Sent {
    pub fn repr(&self) -> TcpRepr<'_> {
        self.seg.repr(&self.payload)
    }
}

struct InFlight {
    deliver_at: Instant,
    order: u64,
    sent: Sent,
}

/// Decides to drop a segment.
pub type Filter = alloc::boxed::Box<dyn FnMut(&Sent) -> bool>;

/// Two ends and the link between them.
pub struct Pair {
    pub now: Instant,
    pub a: Tcb,
    /// Created from A's SYN, unless a test made it.
    pub b: Option<Tcb>,
    pub config_b: Config,
    pub link: LinkConfig,
    pub rng: XorShift,
    flight: Vec<InFlight>,
    order: u64,
    /// Every segment sent, in order.
    pub log: Vec<Sent>,
    pub keep_log: bool,
    /// Drops a segment when it returns true (before the link's own faults).
    pub filter: Option<Filter>,
}

pub fn config() -> Config {
    Config::default()
}

pub fn copy_payload(tcb: &Tcb, seg: &Segment) -> Vec<u8> {
    let (x, y) = tcb.payload(seg);
    let mut v = Vec::with_capacity(x.len() + y.len());
    v.extend_from_slice(x);
    v.extend_from_slice(y);
    assert_eq!(
        v.len(),
        seg.payload_len,
        "payload available in the send buffer"
    );
    v
}

impl Pair {
    /// A connects to B; B is created by `accept` when A's SYN arrives.
    pub fn new(config_a: Config, config_b: Config, link: LinkConfig, seed: u64) -> Pair {
        let now = Instant::from_nanos(5_000_000_000);
        let a = Tcb::connect(A, B, SeqNumber(0xffff_f000), now, config_a);
        Pair {
            now,
            a,
            b: None,
            config_b,
            link,
            rng: XorShift::new(seed),
            flight: Vec::new(),
            order: 0,
            log: Vec::new(),
            keep_log: true,
            filter: None,
        }
    }

    pub fn b(&mut self) -> &mut Tcb {
        self.b.as_mut().expect("B exists")
    }

    /// Queues a segment on the link, with its faults.
    pub fn transmit(&mut self, sent: Sent) {
        if self.keep_log {
            self.log.push(sent.clone());
        }
        if let Some(filter) = self.filter.as_mut() {
            if filter(&sent) {
                return;
            }
        }
        if self.rng.unit() < self.link.loss {
            return;
        }
        let copies = if self.rng.unit() < self.link.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut deliver_at = self.now + self.link.delay;
            if self.rng.unit() < self.link.reorder {
                let extra = self.link.reorder_by.as_nanos() as f64 * self.rng.unit();
                deliver_at += Duration::from_nanos(extra as u64);
            }
            self.order += 1;
            self.flight.push(InFlight {
                deliver_at,
                order: self.order,
                sent: sent.clone(),
            });
        }
    }

    /// Collects both ends' output; every segment must fit the MTU with its options.
    pub fn poll_output(&mut self) {
        fn fits(seg: &Segment) {
            let ip_len = 20 + seg.repr(&[]).header_len() + seg.payload_len;
            assert!(ip_len <= MTU, "a {ip_len}-byte datagram: {seg:?}");
        }
        while let Some(seg) = self.a.poll_transmit(self.now, MTU) {
            fits(&seg);
            let payload = copy_payload(&self.a, &seg);
            let sent = Sent {
                at: self.now,
                to_b: true,
                seg,
                payload,
            };
            self.transmit(sent);
        }
        if let Some(b) = self.b.as_mut() {
            let mut out = Vec::new();
            while let Some(seg) = b.poll_transmit(self.now, MTU) {
                fits(&seg);
                let payload = copy_payload(b, &seg);
                out.push(Sent {
                    at: self.now,
                    to_b: false,
                    seg,
                    payload,
                });
            }
            for sent in out {
                self.transmit(sent);
            }
        }
    }

    /// Delivers one segment to its end.
    pub fn deliver(&mut self, sent: &Sent) {
        let repr = sent.repr();
        if sent.to_b {
            match self.b.as_mut() {
                Some(b) => {
                    let _ = b.on_segment(self.now, &repr);
                }
                None => {
                    if let Ok(b) = Tcb::accept(
                        B,
                        A,
                        &repr,
                        SeqNumber(0x7000_0000),
                        self.now,
                        self.config_b.clone(),
                    ) {
                        self.b = Some(b);
                    }
                }
            }
        } else {
            let _ = self.a.on_segment(self.now, &repr);
        }
    }

    /// One event: output, then the next delivery or timer. False when nothing will happen.
    ///
    /// One event, but the clock stops at `limit` if nothing happens before.
    pub fn step_before(&mut self, limit: Instant) -> bool {
        self.poll_output();
        let next_delivery = self
            .flight
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| (f.deliver_at, f.order))
            .map(|(i, f)| (i, f.deliver_at));
        let timers = [self.a.poll_at(), self.b.as_ref().and_then(Tcb::poll_at)]
            .into_iter()
            .flatten()
            .min();
        let next = [next_delivery.map(|(_, at)| at), timers]
            .into_iter()
            .flatten()
            .min();
        if next.is_some_and(|next| next > limit) {
            self.now = self.now.max(limit);
            return true;
        }
        match (next_delivery, timers) {
            (Some((i, at)), t) if t.is_none_or(|t| at <= t) => {
                self.now = self.now.max(at);
                let f = self.flight.swap_remove(i);
                self.deliver(&f.sent);
                true
            }
            (_, Some(t)) => {
                self.now = self.now.max(t);
                true
            }
            (Some(_), None) | (None, None) => false,
        }
    }

    /// Steps until `done` or the virtual deadline; returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now >= end || !self.step_before(end) {
                return done(self);
            }
        }
    }

    /// Runs for `d` of virtual time (or until nothing happens).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        let _ = self.run_until(d, |p| p.now >= end);
    }

    /// Connects A and B over the link.
    pub fn established(config_a: Config, config_b: Config, link: LinkConfig, seed: u64) -> Pair {
        let mut pair = Pair::new(config_a, config_b, link, seed);
        let ok = pair.run_until(Duration::from_secs(120), |p| {
            p.a.state() == crate::tcp::State::Established
                && p.b
                    .as_ref()
                    .is_some_and(|b| b.state() == crate::tcp::State::Established)
        });
        assert!(ok, "handshake completes");
        pair
    }

    /// The segments sent since log index `from`, one direction.
    pub fn sent_since(&self, from: usize, to_b: bool) -> Vec<Sent> {
        self.log[from..]
            .iter()
            .filter(|s| s.to_b == to_b)
            .cloned()
            .collect()
    }
}

/// Bytes that show a misplaced or corrupted byte.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 9) as u8 ^ salt)
        .collect()
}

/// Transfers `bytes` from A (configured by `config_a`) to B; returns the virtual time taken
/// from the first byte, and A's recovery counters.
pub fn bulk(
    config_a: Config,
    link: LinkConfig,
    seed: u64,
    bytes: usize,
) -> (Duration, RecoveryStats) {
    let mut pair = Pair::established(config_a, config(), link, seed);
    pair.keep_log = false;
    let data = pattern(bytes, seed as u8);
    let start = pair.now;
    let mut sent = 0;
    let mut got = Vec::with_capacity(bytes);
    let mut buf = [0; 16384];
    let ok = pair.run_until(Duration::from_secs(3600), |p| {
        sent += p.a.send(&data[sent..]);
        let b = p.b.as_mut().unwrap();
        loop {
            let n = b.recv(&mut buf);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() >= bytes
    });
    assert!(
        ok,
        "seed {seed}: transfer finished ({} of {bytes} bytes)",
        got.len()
    );
    assert!(got == data, "seed {seed}: bytes intact and in order");
    if let Err(broken) = pair.a.check_invariants().and(pair.b().check_invariants()) {
        panic!("seed {seed}: {broken}");
    }
    (pair.now - start, pair.a.recovery_stats())
}
