//! virtio-net against a test-played device: negotiation, receive (in place, merged, recycled
//! over many wraps), transmit (headers and checksum marks), notification batching, the waker
//! rule, link changes, and a hostile device.

extern crate std;

use super::header::{F_DATA_VALID, F_NEEDS_CSUM};
use super::*;
use crate::net::{RxToken, TxToken};
use crate::virtio::features as common;
use crate::virtio::hal::HeapHal;
use crate::virtio::transport::fake::{DeviceQueue, FakeTransport};
use crate::virtio::transport::{DeviceStatus, InterruptStatus};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Waker};
use std::task::Wake;
use std::vec;
use std::vec::Vec;

type Net = VirtioNet<HeapHal, FakeTransport>;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const ALL: u64 = common::VERSION_1 | features::SUPPORTED;

/// Counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Arc<CountingWaker>, Waker) {
    let w = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (w.clone(), Waker::from(w))
}

fn woken(w: &CountingWaker) -> usize {
    w.0.load(Ordering::SeqCst)
}

/// A network device offering `features`, queues of 256, MAC and link-up status in its
/// configuration.
fn device(features: u64) -> FakeTransport {
    let t = FakeTransport::new(DeviceType::Network, features, &[256, 256]);
    let mut config = MAC.to_vec();
    config.extend_from_slice(&[1, 0, 1, 0, 0xdc, 0x05]); // status LINK_UP, 1 pair, mtu 1500
    t.state().config = config;
    t
}

fn small(rx: u16, tx: u16) -> Config {
    Config {
        rx_queue_size: rx,
        tx_queue_size: tx,
        ..Config::default()
    }
}

fn queues(t: &FakeTransport) -> (DeviceQueue, DeviceQueue) {
    let state = t.state();
    (
        state.device_queue(0).unwrap(),
        state.device_queue(1).unwrap(),
    )
}

fn header(flags: u8, csum_start: u16, csum_offset: u16, num_buffers: u16) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = flags;
    h[6..8].copy_from_slice(&csum_start.to_le_bytes());
    h[8..10].copy_from_slice(&csum_offset.to_le_bytes());
    h[10..12].copy_from_slice(&num_buffers.to_le_bytes());
    h
}

/// The device receives `frame` from the wire into the next posted buffer.
fn deliver(rx: &mut DeviceQueue, hdr: [u8; 12], frame: &[u8]) {
    let chain = rx.pop_avail().expect("a posted receive buffer");
    let mut bytes = hdr.to_vec();
    bytes.extend_from_slice(frame);
    let written = rx.write(&chain, &bytes);
    assert_eq!(written as usize, bytes.len(), "frame fits one buffer");
    rx.push_used(chain.head.into(), written);
}

fn frame(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// Receives one frame, returning a copy of it and whether its checksum is vouched for.
fn recv(net: &mut Net, cx: &mut Context<'_>) -> Option<(Vec<u8>, bool)> {
    let (rx, _tx) = net.receive(cx)?;
    let verified = rx.checksum_verified();
    Some((rx.consume(|f| f.to_vec()), verified))
}

fn send(net: &mut Net, cx: &mut Context<'_>, bytes: &[u8]) -> bool {
    match net.transmit(cx) {
        Some(tx) => {
            tx.consume(bytes.len(), |buf| buf.copy_from_slice(bytes));
            true
        }
        None => false,
    }
}

/// An Ethernet frame with an IPv4 header (`frag` in the flags/offset word) and `proto`.
fn ipv4_frame(proto: u8, frag: u16, payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + payload];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[14 + 6..14 + 8].copy_from_slice(&frag.to_be_bytes());
    f[14 + 9] = proto;
    f
}

#[test]
fn negotiates_what_it_supports_and_nothing_else() {
    let gso = 1 << 7 | 1 << 11 | 1 << 17 | 1 << 22; // GUEST_TSO4, HOST_TSO4, CTRL_VQ, MQ
    let t = device(ALL | gso | common::INDIRECT_DESC | common::RING_PACKED);
    let (w, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    {
        let state = t.state();
        assert_eq!(state.driver_features, ALL);
        assert_eq!(state.status_writes, [0, 1, 3, 11, 15]);
        assert_eq!(state.queues[0].config.unwrap().size, 256);
        assert_eq!(state.queues[1].config.unwrap().size, 256);
        assert_eq!(
            state.queues[0].notifications, 1,
            "told of the receive buffers"
        );
        assert_eq!(state.queues[1].notifications, 0);
    }
    let (rx, _) = queues(&t);
    assert_eq!(rx.avail_idx(), 256, "every receive buffer posted");
    assert_eq!(net.hardware_address(), MAC);
    assert_eq!(net.link_state(&mut cx), LinkState::Up);
    let caps = net.capabilities();
    assert_eq!(caps.mtu, 1500);
    assert_eq!(caps.max_burst, Some(256));
    assert_eq!(
        caps.checksum,
        ChecksumOffload {
            rx_verified: true,
            tx_fills: true
        }
    );
    assert_eq!(woken(&w), 0);
}

#[test]
fn a_minimal_device_gets_a_local_mac_and_an_up_link() {
    let t = device(common::VERSION_1);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let config = Config {
        mac_seed: 42,
        ..Config::default()
    };
    let mut net = Net::new(t.clone(), config).unwrap();
    assert_eq!(t.state().driver_features, common::VERSION_1);
    let mac = net.hardware_address();
    assert_eq!(mac[0] & 0x03, 0x02, "locally administered unicast");
    assert_ne!(mac, MAC);
    assert_eq!(mac, local_mac(42), "deterministic in the seed");
    assert_ne!(local_mac(42), local_mac(43));
    assert_eq!(net.link_state(&mut cx), LinkState::Up);
    assert_eq!(net.capabilities().checksum, ChecksumOffload::default());

    // Features can be turned off in the configuration.
    let t = device(ALL);
    let config = Config {
        features: features::SUPPORTED & !features::CSUM,
        ..Config::default()
    };
    let net = Net::new(t.clone(), config).unwrap();
    assert_eq!(t.state().driver_features, ALL & !features::CSUM);
    assert!(!net.capabilities().checksum.tx_fills);
}

#[test]
fn refuses_legacy_devices_other_devices_and_missing_queues() {
    assert!(matches!(
        Net::new(device(ALL & !common::VERSION_1), Config::default()),
        Err(Error::Legacy(_))
    ));
    let blk = FakeTransport::new(DeviceType::Block, ALL, &[64, 64]);
    assert_eq!(
        Net::new(blk.clone(), Config::default()).unwrap_err(),
        Error::WrongDeviceType {
            expected: DeviceType::Network,
            found: DeviceType::Block
        }
    );
    assert!(blk.state().status_writes.is_empty());
    let one_queue = FakeTransport::new(DeviceType::Network, ALL, &[64]);
    assert_eq!(
        Net::new(one_queue.clone(), Config::default()).unwrap_err(),
        Error::QueueUnavailable(1)
    );
    assert!(one_queue.status().contains(DeviceStatus::FAILED));
}

#[test]
fn receives_frames_in_place_with_checksum_marks() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (mut rx, _) = queues(&t);

    let a = frame(60, 1);
    let b = frame(1514, 2);
    let c = ipv4_frame(6, 0, 20);
    let a_addr = {
        let chain = rx.pop_avail().unwrap();
        let mut bytes = header(0, 0, 0, 1).to_vec();
        bytes.extend_from_slice(&a);
        let written = rx.write(&chain, &bytes);
        rx.push_used(chain.head.into(), written);
        chain.descs[0].addr
    };
    deliver(&mut rx, header(F_DATA_VALID, 0, 0, 1), &b);
    deliver(&mut rx, header(F_NEEDS_CSUM, 34, 16, 1), &c);

    // In place: the slice lent is inside the posted DMA buffer, after the header.
    let (token, _) = net.receive(&mut cx).unwrap();
    token.consume(|f| {
        assert_eq!(f, &a[..]);
        assert_eq!(
            f.as_ptr() as u64,
            a_addr + 12,
            "lent in place, after the header"
        );
        f[0] = 0xff; // the stack may rewrite in place
    });
    assert_eq!(recv(&mut net, &mut cx), Some((b.clone(), true)));
    assert_eq!(recv(&mut net, &mut cx), Some((c.clone(), true)));
    assert_eq!(recv(&mut net, &mut cx), None);
    let stats = net.stats();
    assert_eq!(stats.rx_frames, 3);
    assert_eq!(stats.rx_bytes, (60 + 1514 + c.len()) as u64);
    assert_eq!(stats.rx_dropped, 0);

    // The three buffers went back to the ring.
    net.flush();
    assert_eq!(rx.avail_idx(), 256 + 3);
}

#[test]
fn without_guest_csum_no_frame_is_vouched_for() {
    let t = device(common::VERSION_1 | features::MRG_RXBUF);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (mut rx, _) = queues(&t);
    deliver(&mut rx, header(F_DATA_VALID, 0, 0, 1), &frame(100, 0));
    assert_eq!(recv(&mut net, &mut cx), Some((frame(100, 0), false)));
}

#[test]
fn a_merged_frame_spanning_two_buffers_is_put_together() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(8, 8)).unwrap();
    let (mut rx, _) = queues(&t);

    // The device splits a 1514-byte frame: header and 1000 bytes, then the other 514.
    let whole = frame(1514, 9);
    let first = rx.pop_avail().unwrap();
    let second = rx.pop_avail().unwrap();
    let mut part = header(0, 0, 0, 2).to_vec();
    part.extend_from_slice(&whole[..1000]);
    assert_eq!(rx.write(&first, &part), 1012);
    assert_eq!(rx.write(&second, &whole[1000..]), 514);
    rx.push_used(first.head.into(), 1012);
    rx.push_used(second.head.into(), 514);
    // And a single-buffer frame after it.
    deliver(&mut rx, header(0, 0, 0, 1), &frame(80, 3));

    assert_eq!(recv(&mut net, &mut cx), Some((whole, false)));
    assert_eq!(recv(&mut net, &mut cx), Some((frame(80, 3), false)));
    assert_eq!(recv(&mut net, &mut cx), None);
    assert_eq!(net.stats().rx_frames, 2);
    assert_eq!(net.stats().rx_dropped, 0);
    net.flush();
    assert_eq!(rx.avail_idx(), 8 + 3, "all three buffers posted again");
}

#[test]
fn receive_buffers_recycle_over_many_wraps() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(8, 8)).unwrap();
    let (mut rx, _) = queues(&t);
    for round in 0..500u32 {
        // Bursts of 1 to 8 frames, as many as buffers are posted.
        let burst = (round % 8 + 1) as usize;
        for i in 0..burst {
            deliver(&mut rx, header(0, 0, 0, 1), &frame(64 + i, round as u8));
        }
        for i in 0..burst {
            assert_eq!(
                recv(&mut net, &mut cx),
                Some((frame(64 + i, round as u8), false))
            );
        }
        assert_eq!(recv(&mut net, &mut cx), None);
        net.flush();
    }
    let stats = net.stats();
    assert_eq!(stats.rx_frames, (0..500u64).map(|r| r % 8 + 1).sum::<u64>());
    assert_eq!(stats.rx_dropped, 0);
    assert!(
        rx.used_idx() > 2000,
        "the 16-bit indices went round the ring many times"
    );
}

#[test]
fn a_reply_token_from_receive_transmits() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (mut rx, mut txq) = queues(&t);
    deliver(&mut rx, header(0, 0, 0, 1), &frame(42, 5));
    let (rx_token, tx_token) = net.receive(&mut cx).unwrap();
    let request = rx_token.consume(|f| f.to_vec());
    tx_token.consume(request.len(), |f| {
        f.copy_from_slice(&request);
        f.reverse();
    });
    net.flush();
    let chain = txq.pop_avail().unwrap();
    let bytes = txq.read(&chain);
    let mut expected = request.clone();
    expected.reverse();
    assert_eq!(&bytes[12..], &expected[..]);
    assert_eq!(net.stats().tx_frames, 1);
}

#[test]
fn transmits_with_the_header_and_checksum_marks() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (_, mut txq) = queues(&t);

    let mut ipv6_udp = vec![0u8; 14 + 40 + 8 + 10];
    ipv6_udp[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    ipv6_udp[14] = 0x60;
    ipv6_udp[14 + 6] = 17;
    let cases: Vec<(Vec<u8>, [u8; 12])> = vec![
        (frame(42, 0), header(0, 0, 0, 0)), // not IP (ethertype garbage)
        (ipv4_frame(6, 0, 20), header(F_NEEDS_CSUM, 34, 16, 0)), // TCP
        (ipv4_frame(17, 0x4000, 8), header(F_NEEDS_CSUM, 34, 6, 0)), // UDP, DF
        (ipv4_frame(17, 0x2000, 100), header(0, 0, 0, 0)), // first fragment
        (ipv4_frame(17, 0x0010, 100), header(0, 0, 0, 0)), // later fragment
        (ipv4_frame(1, 0, 8), header(0, 0, 0, 0)), // ICMP
        (ipv4_frame(6, 0, 10), header(0, 0, 0, 0)), // TCP header cut short
        (ipv6_udp, header(F_NEEDS_CSUM, 54, 6, 0)),
    ];
    for (bytes, _) in &cases {
        assert!(send(&mut net, &mut cx, bytes));
    }
    net.flush();
    for (bytes, hdr) in &cases {
        let chain = txq.pop_avail().unwrap();
        assert!(chain.descs.iter().all(|d| !d.writable));
        let got = txq.read(&chain);
        assert_eq!(&got[..12], hdr, "header of {bytes:02x?}");
        assert_eq!(&got[12..], &bytes[..]);
    }
    assert!(txq.pop_avail().is_none());
    let stats = net.stats();
    assert_eq!(stats.tx_frames, cases.len() as u64);
    assert_eq!(
        stats.tx_bytes,
        cases.iter().map(|(b, _)| b.len() as u64).sum::<u64>()
    );

    // Without CSUM, nothing is marked.
    let t = device(common::VERSION_1);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (_, mut txq) = queues(&t);
    assert!(send(&mut net, &mut cx, &ipv4_frame(6, 0, 20)));
    net.flush();
    let chain = txq.pop_avail().unwrap();
    let got = txq.read(&chain);
    assert_eq!(&got[..12], &[0; 12]);
}

#[test]
fn bad_lengths_are_dropped_and_counted_but_the_closure_runs() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(8, 4)).unwrap();
    let (_, mut txq) = queues(&t);
    let tx = net.transmit(&mut cx).unwrap();
    assert_eq!(tx.consume(MAX_TX_FRAME + 1, |f| f.len()), MAX_TX_FRAME + 1);
    let tx = net.transmit(&mut cx).unwrap();
    assert_eq!(tx.consume(0, |f| f.len()), 0);
    // An unconsumed token gives its buffer back.
    drop(net.transmit(&mut cx).unwrap());
    net.flush();
    assert!(txq.pop_avail().is_none());
    assert_eq!(net.stats().tx_dropped, 2);
    assert_eq!(net.stats().tx_frames, 0);
    for i in 0..4 {
        assert!(send(&mut net, &mut cx, &frame(60, i)), "all 4 buffers free");
    }
}

#[test]
fn a_burst_costs_one_notification_when_the_event_index_says_so() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (_, mut txq) = queues(&t);
    let notified = |t: &FakeTransport| t.state().queues[1].notifications;

    // avail_event 0: the device wants to hear of the first frame.
    for i in 0..10 {
        assert!(send(&mut net, &mut cx, &frame(100, i)));
    }
    assert_eq!(notified(&t), 0, "nothing before the flush");
    net.flush();
    assert_eq!(notified(&t), 1, "ten frames, one notification");
    net.flush();
    assert_eq!(notified(&t), 1, "nothing new, no notification");

    // The device is busy: it has not asked to hear of frames past the first ten yet
    // (avail_event still 0), so another burst costs nothing.
    for i in 0..5 {
        assert!(send(&mut net, &mut cx, &frame(100, i)));
    }
    net.flush();
    assert_eq!(notified(&t), 1);

    // It drains the ring and asks to hear of the next frame (avail_event = 15).
    while let Some(chain) = txq.pop_avail() {
        txq.push_used(chain.head.into(), 0);
    }
    txq.set_avail_event(15);
    for i in 0..3 {
        assert!(send(&mut net, &mut cx, &frame(100, i)));
    }
    net.flush();
    assert_eq!(notified(&t), 2);
    assert_eq!(net.stats().tx_frames, 18);

    // Without event index, VIRTQ_USED_F_NO_NOTIFY silences it.
    let t = device(ALL & !common::EVENT_IDX);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    let (_, txq) = queues(&t);
    txq.set_used_flags(1);
    for i in 0..10 {
        assert!(send(&mut net, &mut cx, &frame(100, i)));
    }
    net.flush();
    assert_eq!(notified(&t), 0);
    txq.set_used_flags(0);
    assert!(send(&mut net, &mut cx, &frame(100, 0)));
    net.flush();
    assert_eq!(notified(&t), 1);
}

#[test]
fn receive_returns_none_then_the_interrupt_wakes_the_waiter() {
    let t = device(ALL);
    let (w, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(16, 16)).unwrap();
    let (mut rx, _) = queues(&t);

    assert!(net.receive(&mut cx).is_none());
    assert_eq!(
        rx.used_event(),
        0,
        "interrupt asked for the next used entry"
    );
    assert_eq!(woken(&w), 0);

    deliver(&mut rx, header(0, 0, 0, 1), &frame(70, 1));
    t.state().interrupt_status = InterruptStatus::QUEUE;
    assert!(net.handle_interrupt());
    assert_eq!(woken(&w), 1);
    assert_eq!(t.state().interrupt_status, 0, "acknowledged at the device");
    assert!(!net.handle_interrupt(), "nothing pending: spurious");
    assert_eq!(woken(&w), 1, "one wake per registration");

    assert_eq!(recv(&mut net, &mut cx), Some((frame(70, 1), false)));
    // While frames flow, interrupts are suppressed: used_event lags behind.
    deliver(&mut rx, header(0, 0, 0, 1), &frame(71, 1));
    assert_eq!(rx.used_event(), 0);
    assert_eq!(recv(&mut net, &mut cx), Some((frame(71, 1), false)));
    assert!(net.receive(&mut cx).is_none());
    assert_eq!(
        rx.used_event(),
        2,
        "re-armed for the entry after the two popped"
    );
    assert_eq!(net.stats().interrupts, 2);

    // The race: a frame lands between the empty poll and the re-arm. Simulated by a device
    // that used a buffer without an interrupt: receive finds it rather than sleeping.
    deliver(&mut rx, header(0, 0, 0, 1), &frame(72, 1));
    assert!(net.receive(&mut cx).is_some());
}

/// An edge-triggered interrupt controller input in front of a virtio-mmio line, which is level:
/// high while the device's interrupt status is not zero. It interrupts only when the line rises
/// while routed, as a GIC input that QEMU's `virt` describes as edge-triggered does.
#[derive(Default)]
struct EdgeInput {
    routed: bool,
    high: bool,
    interrupts: usize,
}

impl EdgeInput {
    fn sample(&mut self, t: &FakeTransport) {
        let high = t.state().interrupt_status != 0;
        if high && !self.high && self.routed {
            self.interrupts += 1;
        }
        self.high = high;
    }
}

#[test]
fn an_interrupt_raised_before_the_line_is_routed_must_be_acknowledged_to_get_another() {
    let t = device(ALL);
    let (_w, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(16, 16)).unwrap();
    let (mut rx, _) = queues(&t);
    let mut input = EdgeInput::default();

    // The device is live once `new` returns: a frame waiting in the backend fills a buffer and
    // raises the line before the platform routes it.
    deliver(&mut rx, header(0, 0, 0, 1), &frame(60, 1));
    t.state().interrupt_status = InterruptStatus::QUEUE;
    input.sample(&t);
    input.routed = true;
    input.sample(&t);
    assert_eq!(input.interrupts, 0, "routed while high: no edge");

    // Without an acknowledgement the line stays high: the next frame makes no edge, and a
    // stack that polled once and armed the interrupt would sleep for good.
    deliver(&mut rx, header(0, 0, 0, 1), &frame(61, 1));
    t.state().interrupt_status |= InterruptStatus::QUEUE;
    input.sample(&t);
    assert_eq!(
        input.interrupts, 0,
        "still high: no edge for the second frame either"
    );

    // What the platform does right after routing (boot's `BootNet::open`): acknowledge.
    assert!(net.handle_interrupt());
    input.sample(&t);
    assert!(!input.high, "acknowledged: the line is low");
    // The stack's first poll takes the frames already there, then arms the interrupt.
    assert_eq!(recv(&mut net, &mut cx), Some((frame(60, 1), false)));
    assert_eq!(recv(&mut net, &mut cx), Some((frame(61, 1), false)));
    assert!(net.receive(&mut cx).is_none());
    // The next frame raises the line from low: an interrupt.
    deliver(&mut rx, header(0, 0, 0, 1), &frame(62, 1));
    t.state().interrupt_status |= InterruptStatus::QUEUE;
    input.sample(&t);
    assert_eq!(input.interrupts, 1);
}

#[test]
fn transmit_returns_none_when_full_and_wakes_on_completion() {
    let t = device(ALL);
    let (w, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(8, 4)).unwrap();
    let (_, mut txq) = queues(&t);
    for i in 0..4 {
        assert!(send(&mut net, &mut cx, &frame(60, i)));
    }
    assert!(net.transmit(&mut cx).is_none());
    assert_eq!(
        t.state().queues[1].notifications,
        1,
        "queued frames announced before waiting"
    );
    // A reply token with no buffer left: the reply is dropped and counted.
    let (mut rxq, _) = queues(&t);
    deliver(&mut rxq, header(0, 0, 0, 1), &frame(60, 0));
    let (rx_token, tx_token) = net.receive(&mut cx).unwrap();
    drop(rx_token);
    assert_eq!(tx_token.consume(60, |f| f.len()), 60);
    assert_eq!(net.stats().tx_dropped, 1);

    let chain = txq.pop_avail().unwrap();
    txq.push_used(chain.head.into(), 0);
    t.state().interrupt_status = InterruptStatus::QUEUE;
    assert!(net.handle_interrupt());
    assert!(woken(&w) >= 1);
    assert!(send(&mut net, &mut cx, &frame(60, 9)));
}

#[test]
fn link_changes_are_read_on_configuration_interrupts() {
    let t = device(ALL);
    let (w, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), Config::default()).unwrap();
    assert_eq!(net.link_state(&mut cx), LinkState::Up);
    t.state().config[6] = 0;
    t.state().interrupt_status = InterruptStatus::CONFIG;
    assert!(net.handle_interrupt());
    assert_eq!(woken(&w), 1);
    assert_eq!(net.link_state(&mut cx), LinkState::Down);
    t.state().config[6] = 1;
    net.handle_config_interrupt();
    assert_eq!(woken(&w), 2);
    assert_eq!(net.link_state(&mut cx), LinkState::Up);
    net.handle_config_interrupt();
    assert_eq!(woken(&w), 2, "no change, no wake");
}

#[test]
fn a_hostile_device_loses_frames_not_the_driver() {
    let t = device(ALL);
    let (_, wk) = waker();
    let mut cx = Context::from_waker(&wk);
    let mut net = Net::new(t.clone(), small(16, 16)).unwrap();
    let (mut rx, _) = queues(&t);

    // A used id never posted.
    rx.push_used(999, 100);
    // A length past the buffer.
    let chain = rx.pop_avail().unwrap();
    rx.push_used(chain.head.into(), 5000);
    // Shorter than the header.
    let chain = rx.pop_avail().unwrap();
    rx.push_used(chain.head.into(), 5);
    // A huge num_buffers.
    deliver(&mut rx, header(0, 0, 0, 60000), &frame(100, 0));
    // num_buffers 0.
    deliver(&mut rx, header(0, 0, 0, 0), &frame(100, 0));
    // Checksum offsets past the frame.
    deliver(&mut rx, header(F_NEEDS_CSUM, 90, 16, 1), &frame(100, 0));
    // A GSO frame that was never negotiated.
    let mut gso = header(0, 0, 0, 1);
    gso[1] = 1;
    deliver(&mut rx, gso, &frame(100, 0));
    // An empty frame.
    deliver(&mut rx, header(0, 0, 0, 1), &[]);
    // A merged frame whose second half never comes.
    let first = rx.pop_avail().unwrap();
    let mut part = header(0, 0, 0, 2).to_vec();
    part.extend_from_slice(&frame(100, 0));
    rx.write(&first, &part);
    rx.push_used(first.head.into(), part.len() as u32);

    assert_eq!(recv(&mut net, &mut cx), None);
    let stats = net.stats();
    assert_eq!(stats.rx_frames, 0);
    assert_eq!(stats.rx_dropped, 9);
    assert_eq!(stats.device_errors, 9);

    // Every buffer went back; a good frame still goes through.
    net.flush();
    assert_eq!(rx.avail_idx(), 16 + 8);
    deliver(&mut rx, header(0, 0, 0, 1), &frame(100, 7));
    assert_eq!(recv(&mut net, &mut cx), Some((frame(100, 7), false)));

    // A frame too long for a merged frame (two full buffers).
    let a = rx.pop_avail().unwrap();
    let b = rx.pop_avail().unwrap();
    let mut part = header(0, 0, 0, 2).to_vec();
    part.extend_from_slice(&[0; 2036]);
    rx.write(&a, &part);
    rx.write(&b, &[0; 2048]);
    rx.push_used(a.head.into(), 2048);
    rx.push_used(b.head.into(), 2048);
    assert_eq!(recv(&mut net, &mut cx), None);
    assert_eq!(net.stats().rx_dropped, 10);

    // Transmit completions with nonsense: a bad id and a length on a read-only chain.
    let (_, mut txq) = queues(&t);
    assert!(send(&mut net, &mut cx, &frame(60, 0)));
    net.flush();
    let chain = txq.pop_avail().unwrap();
    txq.push_used(777, 0);
    txq.push_used(chain.head.into(), 60);
    for i in 0..16 {
        assert!(send(&mut net, &mut cx, &frame(60, i)), "buffer reclaimed");
    }

    // Finally a used index far past anything in flight: the device is given up on, and says
    // why for the platform to report.
    assert_eq!(net.failure(), None);
    rx.set_used_idx(rx.used_idx().wrapping_add(1000));
    assert_eq!(recv(&mut net, &mut cx), None);
    assert_eq!(
        net.failure(),
        Some("receiveq1's used index ran past the buffers in flight")
    );
    assert_eq!(net.link_state(&mut cx), LinkState::Down);
    assert!(t.status().contains(DeviceStatus::FAILED));
    assert!(net.transmit(&mut cx).is_none());
    assert_eq!(recv(&mut net, &mut cx), None);
    net.flush();
}

#[test]
fn drop_resets_the_device_before_freeing_its_memory() {
    let t = device(ALL);
    let net = Net::new(t.clone(), Config::default()).unwrap();
    drop(net);
    let state = t.state();
    assert_eq!(state.status_writes.last(), Some(&0));
    assert!(state.queues.iter().all(|q| q.config.is_none()));
}

#[test]
fn the_driver_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<VirtioNet<HeapHal, crate::virtio::transport::mmio::MmioTransport>>();
}

#[test]
fn stats_print_on_one_line() {
    use alloc::string::ToString;
    let stats = Stats {
        rx_frames: 1,
        rx_bytes: 2,
        rx_dropped: 3,
        tx_frames: 4,
        tx_bytes: 5,
        tx_dropped: 6,
        notifications: 7,
        interrupts: 8,
        device_errors: 9,
    };
    assert_eq!(
        stats.to_string(),
        "rx 1 frames 2 bytes 3 dropped, tx 4 frames 5 bytes 6 dropped, 7 notifications, \
         8 interrupts, 9 device errors"
    );
}
