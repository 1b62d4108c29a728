//! virtio-rng against a test-played entropy device: inline (answering on each notification),
//! silent, stingy, hostile, and in a thread of its own.

extern crate std;

use super::*;
use crate::virtio::features;
use crate::virtio::hal::HeapHal;
use crate::virtio::transport::DeviceStatus;
use crate::virtio::transport::fake::{DeviceQueue, FakeState, FakeTransport};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};
use std::vec;
use std::vec::Vec;

type Rng = VirtioRng<HeapHal, FakeTransport>;

fn entropy_device() -> FakeTransport {
    let offered = features::VERSION_1 | features::EVENT_IDX | features::INDIRECT_DESC | 1 << 5;
    FakeTransport::new(DeviceType::Entropy, offered, &[64])
}

/// Makes the device answer every request on notification, writing at most `per_request` bytes
/// of a running counter (0, 1, 2, ... mod 256).
fn answer_inline(t: &FakeTransport, per_request: usize) {
    let mut device: Option<DeviceQueue> = None;
    let mut counter = 0u8;
    t.state().on_notify = Some(Box::new(move |_queue, state: &mut FakeState| {
        let dev = device.get_or_insert_with(|| state.device_queue(0).unwrap());
        while let Some(chain) = dev.pop_avail() {
            assert!(
                chain.descs.iter().all(|d| d.writable),
                "5.4.6.1: no readable buffers"
            );
            let n = (chain.writable_len() as usize).min(per_request);
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    counter = counter.wrapping_add(1);
                    counter.wrapping_sub(1)
                })
                .collect();
            let written = dev.write(&chain, &bytes);
            dev.push_used(chain.head.into(), written);
        }
    }));
}

fn counting(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

#[test]
fn drivers_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<VirtioRng<HeapHal, crate::virtio::transport::mmio::MmioTransport>>();
    send::<VirtQueue<HeapHal>>();
}

#[test]
fn initialization_negotiates_version_1_only_and_no_interrupts() {
    let t = entropy_device();
    let _rng = Rng::new(t.clone()).unwrap();
    let state = t.state();
    assert_eq!(state.driver_features, features::VERSION_1);
    assert_eq!(state.status_writes, [0, 1, 3, 11, 15]);
    let config = state.queues[0].config.unwrap();
    assert_eq!(config.size, 4);
    assert_eq!(
        state.device_queue(0).unwrap().avail_flags(),
        1,
        "no interrupts wanted"
    );
}

#[test]
fn refuses_other_devices_and_legacy_ones() {
    let net = FakeTransport::new(DeviceType::Network, features::VERSION_1, &[64]);
    assert_eq!(
        Rng::new(net.clone()).unwrap_err(),
        Error::WrongDeviceType {
            expected: DeviceType::Entropy,
            found: DeviceType::Network
        }
    );
    assert!(
        net.state().status_writes.is_empty(),
        "another driver's device untouched"
    );

    let legacy = FakeTransport::new(DeviceType::Entropy, 0, &[64]);
    assert!(matches!(Rng::new(legacy), Err(Error::Legacy(_))));

    let no_queue = FakeTransport::new(DeviceType::Entropy, features::VERSION_1, &[]);
    assert_eq!(
        Rng::new(no_queue.clone()).unwrap_err(),
        Error::QueueUnavailable(0)
    );
    assert!(no_queue.status().contains(DeviceStatus::FAILED));
}

#[test]
fn fills_from_a_device_answering_inline() {
    let t = entropy_device();
    answer_inline(&t, usize::MAX);
    let mut rng = Rng::new(t.clone()).unwrap();

    let mut buf = [0u8; 100];
    assert_eq!(rng.fill(&mut buf, 10), Ok(100));
    assert_eq!(buf[..], counting(100)[..]);
    assert_eq!(t.state().queues[0].notifications, 1);

    // More than a page: several requests of at most 4096 bytes.
    let mut big = vec![0u8; 10_000];
    assert_eq!(rng.fill(&mut big, 10), Ok(10_000));
    let expected: Vec<u8> = (100..10_100).map(|i| i as u8).collect();
    assert_eq!(big, expected);
    assert_eq!(t.state().queues[0].notifications, 4);
    assert_eq!(rng.fill(&mut [], 0), Ok(0));
}

#[test]
fn keeps_asking_a_device_that_answers_short() {
    let t = entropy_device();
    answer_inline(&t, 7);
    let mut rng = Rng::new(t.clone()).unwrap();
    let mut buf = [0u8; 100];
    assert_eq!(rng.fill(&mut buf, 100), Ok(100));
    assert_eq!(buf[..], counting(100)[..]);
    assert_eq!(t.state().queues[0].notifications, 15);

    // The polls bound the work: 3 polls, 3 answers of 7 bytes.
    let mut buf = [0u8; 100];
    assert_eq!(rng.fill(&mut buf, 3), Ok(21));
}

#[test]
fn a_silent_device_runs_out_of_polls_and_the_request_waits() {
    let t = entropy_device();
    let mut rng = Rng::new(t.clone()).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(rng.fill(&mut buf, 50), Ok(0));
    assert_eq!(rng.fill(&mut buf, 50), Ok(0));
    assert_eq!(
        t.state().queues[0].notifications,
        1,
        "one request, still pending"
    );

    // The device answers late; the next call collects it without asking again.
    let mut dev = t.state().device_queue(0).unwrap();
    let chain = dev.pop_avail().unwrap();
    assert!(dev.pop_avail().is_none());
    assert_eq!(chain.writable_len(), 16);
    dev.write(&chain, &[0xa5; 16]);
    dev.push_used(chain.head.into(), 16);
    assert_eq!(rng.fill(&mut buf, 1), Ok(16));
    assert_eq!(buf, [0xa5; 16]);
    assert_eq!(t.state().queues[0].notifications, 1);
}

#[test]
fn a_late_answer_to_a_bigger_request_fills_a_smaller_one() {
    let t = entropy_device();
    let mut rng = Rng::new(t.clone()).unwrap();
    let mut page = vec![0u8; 8192];
    assert_eq!(rng.fill(&mut page, 0), Ok(0), "zero polls: only posts");
    let mut dev = t.state().device_queue(0).unwrap();
    let chain = dev.pop_avail().unwrap();
    assert_eq!(chain.writable_len(), 4096, "a request is at most a page");
    dev.write(&chain, &counting(4096));
    dev.push_used(chain.head.into(), 4096);
    let mut buf = [0u8; 10];
    assert_eq!(rng.fill(&mut buf, 1), Ok(10));
    assert_eq!(buf[..], counting(10)[..]);
}

#[test]
fn a_device_claiming_too_many_bytes_is_an_error() {
    let t = entropy_device();
    let mut rng = Rng::new(t.clone()).unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(rng.fill(&mut buf, 0), Ok(0));
    let mut dev = t.state().device_queue(0).unwrap();
    let chain = dev.pop_avail().unwrap();
    dev.push_used(chain.head.into(), 33);
    assert_eq!(
        rng.fill(&mut buf, 5),
        Err(Error::BadUsedLen {
            token: chain.head,
            len: 33,
            capacity: 32
        })
    );
    assert_eq!(buf, [0; 32], "nothing copied");

    // A bogus id is an error too; the real request stays pending.
    assert_eq!(rng.fill(&mut buf, 0), Ok(0));
    let chain = dev.pop_avail().unwrap();
    dev.push_used(3, 1);
    assert_eq!(rng.fill(&mut buf, 5), Err(Error::BadUsedId(3)));
    dev.write(&chain, &[1; 32]);
    dev.push_used(chain.head.into(), 32);
    assert_eq!(rng.fill(&mut buf, 5), Ok(32));
    assert_eq!(buf, [1; 32]);
}

#[test]
fn drop_resets_the_device_before_freeing_its_memory() {
    let t = entropy_device();
    let rng = Rng::new(t.clone()).unwrap();
    drop(rng);
    let state = t.state();
    assert_eq!(state.status_writes.last(), Some(&0));
    assert!(state.queues[0].config.is_none());
}

#[test]
fn fills_from_a_device_thread() {
    let t = entropy_device();
    let mut rng = Rng::new(t.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let device = {
        let (state, stop) = (t.state.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut dev = state.lock().unwrap().device_queue(0).unwrap();
            let mut counter = 0usize;
            while !stop.load(Ordering::Acquire) {
                let Some(chain) = dev.pop_avail() else {
                    std::thread::yield_now();
                    continue;
                };
                // Answer in odd-sized pieces, as a real device may.
                let n = (chain.writable_len() as usize).min(1000);
                let bytes: Vec<u8> = (counter..counter + n).map(|i| i as u8).collect();
                counter += n;
                let written = dev.write(&chain, &bytes);
                dev.push_used(chain.head.into(), written);
            }
        })
    };
    let mut buf = vec![0u8; 20_000];
    let got = rng.fill(&mut buf, u32::MAX);
    stop.store(true, Ordering::Release);
    device.join().unwrap();
    assert_eq!(got, Ok(20_000));
    assert_eq!(buf, counting(20_000));
}
