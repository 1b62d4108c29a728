//! The split virtqueue against a test-played device: layout, chains, index wrap-around, a full
//! queue, hostile used entries, and both notification-suppression schemes.

extern crate std;

use super::*;
use crate::virtio::features;
use crate::virtio::hal::HeapHal;
use crate::virtio::transport::fake::{DeviceDesc, DeviceQueue, FakeTransport};
use crate::virtio::transport::{DeviceType, Transport};
use std::vec;
use std::vec::Vec;

/// A live device with one queue of maximum size `max`, and a driver queue of `size`.
fn setup(size: u16, max: u16, event_idx: bool) -> (FakeTransport, VirtQueue<HeapHal>, DeviceQueue) {
    let offered = features::VERSION_1 | features::EVENT_IDX;
    let mut t = FakeTransport::new(DeviceType::Network, offered, &[max]);
    let wanted = if event_idx { features::EVENT_IDX } else { 0 };
    t.begin_init(wanted).unwrap();
    let q = VirtQueue::<HeapHal>::new(&mut t, 0, size, event_idx).unwrap();
    t.finish_init();
    let dev = t.state().device_queue(0).unwrap();
    (t, q, dev)
}

fn phys(buf: &[u8]) -> u64 {
    buf.as_ptr() as u64
}

fn notifications(t: &FakeTransport) -> u32 {
    t.state().queues[0].notifications
}

/// One device-writable segment of `len` bytes at a fake address (the device never touches it
/// in the tests that use this).
fn writable(len: u32) -> Segment {
    Segment {
        phys: 0x1000,
        len,
        device_writable: true,
    }
}

fn readable(len: u32) -> Segment {
    Segment {
        phys: 0x2000,
        len,
        device_writable: false,
    }
}

/// Adds segments that the device never dereferences.
fn add(q: &mut VirtQueue<HeapHal>, segments: &[Segment]) -> Result<u16, Error> {
    // SAFETY: the tests using this never let the device read or write the segments.
    unsafe { q.add_segments(segments) }
}

#[test]
fn layout_meets_the_alignment_table() {
    let sizes: &[u16] = if cfg!(miri) {
        &[1, 2, 64]
    } else {
        &[1, 2, 64, 256, 1024, 32768]
    };
    for &size in sizes {
        let (t, q, _dev) = setup(size, 32768, true);
        let config = t.state().queues[0].config.unwrap();
        assert_eq!(config.size, size);
        assert_eq!(q.size(), size);
        assert_eq!(config.desc % PAGE_SIZE as u64, 0);
        assert_eq!(config.driver, config.desc + 16 * u64::from(size));
        assert_eq!(config.device % 64, 0);
        assert!(config.device >= config.driver + 6 + 2 * u64::from(size));
        assert_eq!(q.num_free(), size);
    }
}

#[test]
fn size_is_checked_and_lowered_to_the_device_maximum() {
    let (t, q, _dev) = setup(256, 64, false);
    assert_eq!(q.size(), 64);
    assert_eq!(t.state().queues[0].config.unwrap().size, 64);

    let mut t = FakeTransport::new(DeviceType::Network, features::VERSION_1, &[256, 0, 12]);
    t.begin_init(0).unwrap();
    for bad in [0, 3, 100, 65535, 65534] {
        let err = VirtQueue::<HeapHal>::new(&mut t, 0, bad, false).unwrap_err();
        assert_eq!(err, Error::InvalidQueueSize(bad));
    }
    let new = |t: &mut FakeTransport, index| VirtQueue::<HeapHal>::new(t, index, 16, false);
    assert_eq!(new(&mut t, 1).unwrap_err(), Error::QueueUnavailable(1));
    assert_eq!(new(&mut t, 2).unwrap_err(), Error::QueueUnavailable(2));
    assert_eq!(new(&mut t, 3).unwrap_err(), Error::QueueUnavailable(3));
    let _q = new(&mut t, 0).unwrap();
    assert_eq!(new(&mut t, 0).unwrap_err(), Error::QueueInUse(0));
}

#[test]
fn a_request_round_trip() {
    let (mut t, mut q, mut dev) = setup(16, 16, false);
    let request = [1u8, 2, 3];
    let mut reply = vec![0u8; 8];
    // SAFETY: both buffers outlive the pop below and are not touched until then.
    let token = unsafe { q.add(&[&request], &mut [&mut reply]) }.unwrap();
    assert_eq!(q.num_free(), 14);
    assert_eq!(q.in_flight(), 1);
    assert!(q.kick(&mut t));
    assert_eq!(notifications(&t), 1);

    let chain = dev.pop_avail().unwrap();
    assert_eq!(chain.head, token);
    assert_eq!(
        chain.descs,
        [
            DeviceDesc {
                addr: phys(&request),
                len: 3,
                writable: false
            },
            DeviceDesc {
                addr: phys(&reply),
                len: 8,
                writable: true
            },
        ]
    );
    assert_eq!(dev.read(&chain), [1, 2, 3]);
    assert_eq!(dev.write(&chain, &[9; 5]), 5);
    assert_eq!(
        q.pop_used(),
        Ok(None),
        "nothing used before the device publishes"
    );
    dev.push_used(chain.head.into(), 5);

    assert!(q.has_used());
    assert_eq!(q.pop_used(), Ok(Some((token, 5))));
    assert_eq!(q.pop_used(), Ok(None));
    assert_eq!(reply, [9, 9, 9, 9, 9, 0, 0, 0]);
    assert_eq!(q.num_free(), 16);
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn long_chains_keep_their_order_and_flags() {
    let (mut t, mut q, mut dev) = setup(8, 8, false);
    let (a, b, c) = ([1u8; 2], [2u8; 3], [3u8; 1]);
    let (mut x, mut y) = (vec![0u8; 4], vec![0u8; 8]);
    // SAFETY: all five buffers outlive the pop and are untouched until then.
    let token = unsafe { q.add(&[&a, &b, &c], &mut [&mut x, &mut y]) }.unwrap();
    q.kick(&mut t);
    let chain = dev.pop_avail().unwrap();
    let lens: Vec<_> = chain.descs.iter().map(|d| (d.len, d.writable)).collect();
    assert_eq!(
        lens,
        [(2, false), (3, false), (1, false), (4, true), (8, true)]
    );
    assert_eq!(chain.writable_len(), 12);
    assert_eq!(dev.read(&chain), [1, 1, 2, 2, 2, 3]);
    assert_eq!(dev.write(&chain, &[7; 10]), 10);
    dev.push_used(token.into(), 10);
    assert_eq!(q.pop_used(), Ok(Some((token, 10))));
    assert_eq!(x, [7; 4]);
    assert_eq!(y, [7, 7, 7, 7, 7, 7, 0, 0]);
    assert_eq!(q.num_free(), 8);
}

#[test]
fn indices_wrap_many_times_with_out_of_order_completion() {
    let (mut t, mut q, mut dev) = setup(4, 4, true);
    // Under Miri (which checks the unsafe code, slowly) a few rounds; natively, past the 16-bit
    // wrap three times.
    let rounds = if cfg!(miri) { 20 } else { 3 * 65536 / 2 + 5 };
    for round in 0..rounds {
        // A one-descriptor chain and a two-descriptor chain; the device returns them in the
        // opposite order, so the free list gets shuffled.
        let first = add(&mut q, &[writable(1)]).unwrap();
        let second = add(&mut q, &[readable(2), writable(3)]).unwrap();
        assert_eq!(q.num_free(), 1);
        q.kick(&mut t);
        let a = dev.pop_avail().unwrap();
        let b = dev.pop_avail().unwrap();
        assert_eq!((a.head, a.descs.len()), (first, 1));
        assert_eq!((b.head, b.descs.len()), (second, 2));
        assert!(dev.pop_avail().is_none());
        dev.push_used(b.head.into(), 3);
        dev.push_used(a.head.into(), round % 2);
        assert_eq!(q.pop_used(), Ok(Some((second, 3))));
        assert_eq!(q.pop_used(), Ok(Some((first, round % 2))));
        assert_eq!(q.pop_used(), Ok(None));
        assert_eq!(q.num_free(), 4);
    }
    let published = (2 * rounds) as u16;
    assert_eq!(dev.avail_idx(), published);
    assert_eq!(dev.used_idx(), published);
    assert_eq!(dev.used_event(), published);
}

#[test]
fn a_full_queue_is_an_error_until_chains_come_back() {
    let (_t, mut q, mut dev) = setup(8, 8, false);
    let three = [readable(1), writable(1), writable(1)];
    let a = add(&mut q, &three).unwrap();
    let _b = add(&mut q, &three).unwrap();
    let _c = add(&mut q, &[writable(1), writable(1)]).unwrap();
    assert_eq!(q.num_free(), 0);
    assert_eq!(add(&mut q, &[writable(1)]), Err(Error::QueueFull));

    let chain = dev.pop_avail().unwrap();
    assert_eq!(chain.head, a);
    dev.push_used(a.into(), 2);
    assert_eq!(q.pop_used(), Ok(Some((a, 2))));
    assert_eq!(q.num_free(), 3);
    assert_eq!(add(&mut q, &[writable(1); 4]), Err(Error::QueueFull));
    add(&mut q, &three).unwrap();
    assert_eq!(q.in_flight(), 3);
}

#[test]
fn unusable_chains_are_refused_and_publish_nothing() {
    let (_t, mut q, dev) = setup(8, 8, false);
    let refused = |why: &'static str| Err(Error::InvalidBuffers(why));
    assert_eq!(add(&mut q, &[]), refused("no buffers"));
    assert_eq!(
        add(&mut q, &[readable(1), writable(0)]),
        refused("an empty buffer")
    );
    assert_eq!(
        add(&mut q, &[writable(1), readable(1)]),
        refused("a device-readable buffer after a device-writable one")
    );
    assert_eq!(
        add(&mut q, &[writable(1); 9]),
        refused("a chain longer than the queue")
    );
    assert_eq!(
        add(&mut q, &[writable(u32::MAX), writable(1)]),
        refused("a chain longer than 4 GiB")
    );
    // SAFETY: nothing is added (the chain is refused).
    let empty = unsafe { q.add(&[], &mut []) };
    assert_eq!(empty, refused("no buffers"));
    let mut nothing: [u8; 0] = [];
    // SAFETY: nothing is added (the chain is refused).
    let zero = unsafe { q.add(&[], &mut [&mut nothing]) };
    assert_eq!(zero, refused("an empty buffer"));
    assert_eq!(dev.avail_idx(), 0);
    assert_eq!(q.num_free(), 8);
}

#[test]
fn hostile_used_ids_are_errors_not_panics() {
    let (_t, mut q, mut dev) = setup(8, 8, false);
    let a = add(&mut q, &[writable(4)]).unwrap();
    let b = add(&mut q, &[readable(1), writable(4)]).unwrap();
    dev.pop_avail().unwrap();
    dev.pop_avail().unwrap();
    // The free list starts in order, so a = 0, b = 1, and b's second descriptor is 2: in
    // flight, but not a head. Descriptor 3 is free.
    assert_eq!((a, b), (0, 1));
    let (member, free) = (2u16, 3u16);

    for id in [
        8,
        u32::from(u16::MAX) + 1,
        u32::MAX,
        member.into(),
        free.into(),
    ] {
        dev.push_used(id, 0);
        assert_eq!(q.pop_used(), Err(Error::BadUsedId(id)));
        assert_eq!(q.in_flight(), 2, "a bad entry returns nothing");
    }
    dev.push_used(a.into(), 4);
    assert_eq!(q.pop_used(), Ok(Some((a, 4))));
    dev.push_used(a.into(), 4);
    assert_eq!(
        q.pop_used(),
        Err(Error::BadUsedId(a.into())),
        "returned twice"
    );
    dev.push_used(b.into(), 1);
    assert_eq!(q.pop_used(), Ok(Some((b, 1))));
    assert_eq!(q.num_free(), 8);
}

#[test]
fn a_used_length_beyond_the_writable_bytes_is_an_error() {
    let (_t, mut q, mut dev) = setup(8, 8, false);
    let token = add(&mut q, &[readable(100), writable(8)]).unwrap();
    dev.pop_avail().unwrap();
    dev.push_used(token.into(), 9);
    assert_eq!(
        q.pop_used(),
        Err(Error::BadUsedLen {
            token,
            len: 9,
            capacity: 8
        })
    );
    assert_eq!((q.num_free(), q.in_flight()), (8, 0), "the chain came back");

    let token = add(&mut q, &[readable(100)]).unwrap();
    dev.pop_avail().unwrap();
    dev.push_used(token.into(), u32::MAX);
    assert_eq!(
        q.pop_used(),
        Err(Error::BadUsedLen {
            token,
            len: u32::MAX,
            capacity: 0
        })
    );
}

#[test]
fn a_used_index_running_ahead_is_an_error() {
    let (_t, mut q, mut dev) = setup(8, 8, false);
    add(&mut q, &[writable(4)]).unwrap();
    dev.set_used_idx(5);
    let overrun = |pending| {
        Err(Error::UsedRingOverrun {
            pending,
            in_flight: 1,
        })
    };
    assert_eq!(q.pop_used(), overrun(5));
    dev.set_used_idx(u16::MAX);
    assert_eq!(q.pop_used(), overrun(u16::MAX));
    assert_eq!(q.in_flight(), 1);
}

#[test]
fn no_notify_flag_without_event_idx() {
    let (mut t, mut q, dev) = setup(8, 8, false);
    assert!(!q.kick(&mut t), "nothing added");
    add(&mut q, &[writable(1)]).unwrap();
    assert!(q.kick(&mut t));
    dev.set_used_flags(1);
    add(&mut q, &[writable(1)]).unwrap();
    assert!(!q.kick(&mut t), "the device said VIRTQ_USED_F_NO_NOTIFY");
    dev.set_used_flags(0);
    add(&mut q, &[writable(1)]).unwrap();
    add(&mut q, &[writable(1)]).unwrap();
    assert!(q.kick(&mut t));
    assert!(!q.kick(&mut t), "the batch was already decided");
    assert_eq!(notifications(&t), 2);
    // avail_event is ignored without EVENT_IDX.
    dev.set_avail_event(100);
    add(&mut q, &[writable(1)]).unwrap();
    assert!(q.kick(&mut t));
}

#[test]
fn event_idx_notifies_only_when_avail_event_is_crossed() {
    let (mut t, mut q, mut dev) = setup(8, 8, true);
    // The device ignores the flags with EVENT_IDX.
    dev.set_used_flags(1);
    let mut publish = |q: &mut VirtQueue<HeapHal>, n: usize| {
        for _ in 0..n {
            add(q, &[writable(1)]).unwrap();
            let chain = dev.pop_avail().unwrap();
            dev.push_used(chain.head.into(), 1);
            q.pop_used().unwrap().unwrap();
        }
    };
    // avail_event 0: notify when entry 0 is published.
    publish(&mut q, 1);
    assert!(q.kick(&mut t));
    publish(&mut q, 1);
    assert!(!q.kick(&mut t), "entry 1 is past avail_event 0");

    let dev2 = t.state().device_queue(0).unwrap();
    dev2.set_avail_event(4);
    publish(&mut q, 2); // entries 2, 3
    assert!(!q.kick(&mut t));
    publish(&mut q, 1); // entry 4
    assert!(q.kick(&mut t));
    dev2.set_avail_event(6);
    publish(&mut q, 3); // entries 5, 6, 7: a batch containing the event
    assert!(q.kick(&mut t));
    assert_eq!(notifications(&t), 3);

    if cfg!(miri) {
        return; // 65,000 round trips are too slow there
    }
    // Across the 16-bit wrap: run the index up to 65534, then ask for entry 65535.
    publish(&mut q, 65534 - 8);
    q.kick(&mut t);
    dev2.set_avail_event(0xffff);
    publish(&mut q, 1); // entry 65534
    assert!(!q.kick(&mut t));
    publish(&mut q, 2); // entries 65535 and 0
    assert!(q.kick(&mut t));
    dev2.set_avail_event(2);
    publish(&mut q, 2); // entries 1, 2
    assert!(q.kick(&mut t));
}

#[test]
fn vring_need_event_matches_the_spec_helper() {
    // (event, new, old) -> notify iff event is in [old, new).
    assert!(vring_need_event(0, 1, 0));
    assert!(!vring_need_event(1, 1, 0));
    assert!(vring_need_event(5, 8, 5));
    assert!(vring_need_event(7, 8, 5));
    assert!(!vring_need_event(8, 8, 5));
    assert!(!vring_need_event(4, 8, 5));
    assert!(!vring_need_event(3, 3, 3), "nothing published");
    assert!(vring_need_event(0xffff, 1, 0xfffe));
    assert!(vring_need_event(0, 1, 0xffff));
    assert!(!vring_need_event(1, 1, 0xffff));
    assert!(!vring_need_event(0xfffd, 1, 0xfffe));
}

#[test]
fn used_buffer_notifications_can_be_suppressed_without_event_idx() {
    let (_t, mut q, mut dev) = setup(8, 8, false);
    assert_eq!(dev.avail_flags(), 0);
    q.disable_interrupts();
    assert_eq!(dev.avail_flags(), 1);
    assert!(!q.enable_interrupts(), "nothing pending");
    assert_eq!(dev.avail_flags(), 0);

    let token = add(&mut q, &[writable(1)]).unwrap();
    q.disable_interrupts();
    dev.pop_avail().unwrap();
    dev.push_used(token.into(), 1);
    assert!(
        q.enable_interrupts(),
        "a chain came back while disabled: poll first"
    );
    assert_eq!(q.pop_used(), Ok(Some((token, 1))));
    assert_eq!(dev.used_event(), 0, "untouched without EVENT_IDX");
}

#[test]
fn used_buffer_notifications_can_be_suppressed_with_event_idx() {
    let (_t, mut q, mut dev) = setup(8, 8, true);
    for _ in 0..3 {
        let token = add(&mut q, &[writable(1)]).unwrap();
        dev.pop_avail().unwrap();
        dev.push_used(token.into(), 1);
        q.pop_used().unwrap().unwrap();
    }
    assert_eq!(dev.used_event(), 3, "interrupt on the next entry");
    q.disable_interrupts();
    assert_eq!(dev.avail_flags(), 0, "flags stay 0 with EVENT_IDX");
    assert_eq!(dev.used_event(), 2, "as far behind the device as it gets");

    let token = add(&mut q, &[writable(1)]).unwrap();
    dev.pop_avail().unwrap();
    dev.push_used(token.into(), 1);
    q.pop_used().unwrap().unwrap();
    assert_eq!(dev.used_event(), 2, "not moved while disabled");
    assert!(!q.enable_interrupts());
    assert_eq!(dev.used_event(), 4);
    q.set_used_event(10);
    assert_eq!(dev.used_event(), 10);
}
