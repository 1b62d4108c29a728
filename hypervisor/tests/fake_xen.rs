//! The real event-channel scan, grant table and xenstore client against the fake Xen
//! (`morgana_hypervisor::fake`): ring wrap-around, watches, error strings, transactions, event
//! coalescing and masking. Everything runs on the executor's simulator, with the fake's upcall
//! doing what the platform's interrupt handler does: `evtchn::scan`, marking executor events.

use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use morgana_executor::event::Event;
use morgana_executor::sim::SimPlatform;
use morgana_executor::{EventId, EventTable, Executor, yield_now};
use morgana_hypervisor::evtchn::{self, PortEvents};
use morgana_hypervisor::fake::xenstored::Xenstored;
use morgana_hypervisor::fake::{FakeXen, GUEST_DOMID};
use morgana_hypervisor::xenstore::{Transaction, XenStore, XsRing};
use morgana_hypervisor::{Xen, XenError};

/// A guest on the fake: its upcall scans shared_info and marks the executor event bound to
/// each pending port.
struct Guest {
    xen: FakeXen,
    ports: &'static PortEvents,
    events: &'static EventTable,
}

impl Guest {
    fn new(events: &'static EventTable) -> Guest {
        let xen = FakeXen::new();
        let ports: &'static PortEvents = Box::leak(Box::new(PortEvents::new()));
        let shared = xen.shared_info();
        xen.set_upcall(move || {
            evtchn::scan(&shared, 0, |port| {
                if let Some(e) = ports.event(port) {
                    events.mark(e);
                }
            });
        });
        Guest { xen, ports, events }
    }

    /// Binds `port` to a fresh event slot and unmasks it (what `boot`'s `bind_port` does).
    fn bind(&self, port: u32) -> EventId {
        let id = self.events.alloc().expect("a free event slot");
        assert!(self.ports.bind(port, id));
        Xen(self.xen.clone()).unmask(port).expect("unmask");
        id
    }

    /// A xenstore client on a fresh xenstored.
    fn xenstore(&self) -> (XenStore, Xenstored) {
        let xsd = Xenstored::start(&self.xen);
        let port = xsd.port();
        let id = self.bind(port);
        // SAFETY: the fake's ring page lives as long as the xenstored handle, kept by the test.
        let ring = unsafe { XsRing::new(xsd.ring_page()) };
        let xen = Xen(self.xen.clone());
        let store = XenStore::new(
            ring,
            Box::new(move || {
                xen.send(port).expect("send");
            }),
            Event::new(id),
        );
        (store, xsd)
    }
}

fn run<F: Future>(test: impl FnOnce(Guest) -> F) -> F::Output {
    let ex = Executor::new(Rc::new(SimPlatform::new(1)));
    let guest = Guest::new(ex.events());
    ex.block_on(test(guest))
}

fn ready(event: &mut Event) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    event.poll_wait(&mut cx) == Poll::Ready(())
}

#[test]
fn requests_and_replies_wrap_the_rings_many_times() {
    run(|g| async move {
        let (mut store, xsd) = g.xenstore();
        let mut total = 0;
        for i in 0..200usize {
            // Up to 4000-byte values: one request (or reply) is up to four rings' worth, sent
            // in pieces as xenstored frees room.
            let value: String = (0..(i * 37) % 4000)
                .map(|k| char::from(b'a' + ((i + k) % 26) as u8))
                .collect();
            let path = format!("data/{i}");
            store.write(Transaction::NONE, &path, &value).await.unwrap();
            assert_eq!(store.read(Transaction::NONE, &path).await.unwrap(), value);
            assert_eq!(xsd.read(&path).as_deref(), Some(value.as_str()));
            total += 2 * value.len();
        }
        assert!(
            total > 300 * 1024,
            "{total} bytes: hundreds of 1 KiB rings' worth"
        );
        assert_eq!(xsd.requests(), 400);
        let names = store.directory(Transaction::NONE, "data").await.unwrap();
        assert_eq!(names.len(), 200);
        assert!(names.contains(&"199".to_string()));
    });
}

#[test]
fn a_watch_fires_at_once_then_on_each_change_under_it() {
    run(|g| async move {
        let (mut store, xsd) = g.xenstore();
        let backend = "/local/domain/0/backend/vif/7/0";
        xsd.write(&format!("{backend}/state"), "2");
        store
            .watch(&format!("{backend}/state"), "tok")
            .await
            .unwrap();
        let first = store.next_watch_event().await.unwrap();
        assert_eq!(first.path, format!("{backend}/state"));
        assert_eq!(first.token, "tok");
        // The back end changes state: the watch fires.
        xsd.write(&format!("{backend}/state"), "4");
        let e = store.next_watch_event().await.unwrap();
        assert_eq!(
            (e.path.as_str(), e.token.as_str()),
            (&*format!("{backend}/state"), "tok")
        );
        assert_eq!(store.read(Transaction::NONE, &e.path).await.unwrap(), "4");
        // Elsewhere: no event (a write of our own, whose reply arrives first, and nothing else).
        store.write(Transaction::NONE, "other", "x").await.unwrap();
        // A relative watch reports relative paths; our own writes fire it too.
        store.watch("device", "dev").await.unwrap();
        assert_eq!(store.next_watch_event().await.unwrap().path, "device");
        store
            .write(Transaction::NONE, "device/vif/0/state", "1")
            .await
            .unwrap();
        let e = store.next_watch_event().await.unwrap();
        assert_eq!(
            (e.path.as_str(), e.token.as_str()),
            ("device/vif/0/state", "dev")
        );
        // Unwatched: a change fires nothing; the next event is the other watch's.
        store.unwatch("device", "dev").await.unwrap();
        store
            .write(Transaction::NONE, "device/vif/0/state", "2")
            .await
            .unwrap();
        xsd.rm(backend);
        let e = store.next_watch_event().await.unwrap();
        assert_eq!((e.path.as_str(), e.token.as_str()), (backend, "tok"));
    });
}

#[test]
fn errors_come_back_with_their_names() {
    run(|g| async move {
        let (mut store, _xsd) = g.xenstore();
        let e = store.read(Transaction::NONE, "nowhere").await.unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "xenstore: ENOENT (no such path)");
        let e = store.unwatch("never", "set").await.unwrap_err();
        assert_eq!(e.errno(), Some("ENOENT"));
        let e = store.rm(Transaction::NONE, "nowhere").await.unwrap_err();
        assert!(e.is_not_found());
        let e = store
            .transaction_end(Transaction(99), true)
            .await
            .unwrap_err();
        assert!(e.is_not_found());
        let e = store
            .write(Transaction::NONE, "big", &"x".repeat(5000))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "xenstore: request of 5004 bytes exceeds the 4096-byte limit"
        );
        // The client still works after errors.
        store.write(Transaction::NONE, "k", "v").await.unwrap();
        assert_eq!(store.read(Transaction::NONE, "k").await.unwrap(), "v");
        assert_eq!(
            store.domain_path(u32::from(GUEST_DOMID)).await.unwrap(),
            "/local/domain/7"
        );
    });
}

#[test]
fn transactions_commit_abort_and_conflict() {
    run(|g| async move {
        let (mut store, xsd) = g.xenstore();
        let none = Transaction::NONE;
        // Committed: invisible outside until the end, then all there.
        let tx = store.transaction_start().await.unwrap();
        store.write(tx, "a", "1").await.unwrap();
        store.write(tx, "b", "2").await.unwrap();
        assert_eq!(store.read(tx, "a").await.unwrap(), "1");
        assert!(store.read(none, "a").await.unwrap_err().is_not_found());
        store.transaction_end(tx, true).await.unwrap();
        assert_eq!(store.read(none, "b").await.unwrap(), "2");
        // Aborted: nothing.
        let tx = store.transaction_start().await.unwrap();
        store.write(tx, "c", "3").await.unwrap();
        store.transaction_end(tx, false).await.unwrap();
        assert!(xsd.read("c").is_none());
        // Another writer meanwhile: EAGAIN, nothing applied; the retry commits.
        let tx = store.transaction_start().await.unwrap();
        store.write(tx, "d", "4").await.unwrap();
        xsd.write("elsewhere", "x");
        let e = store.transaction_end(tx, true).await.unwrap_err();
        assert!(e.is_retry(), "{e}");
        assert_eq!(
            e.to_string(),
            "xenstore: EAGAIN (transaction conflict: retry)"
        );
        assert!(xsd.read("d").is_none());
        let tx = store.transaction_start().await.unwrap();
        store.write(tx, "d", "4").await.unwrap();
        store.transaction_end(tx, true).await.unwrap();
        assert_eq!(xsd.read("d").as_deref(), Some("4"));
    });
}

#[test]
fn blocking_requests_work_without_awaiting() {
    run(|g| async move {
        let (mut store, xsd) = g.xenstore();
        xsd.write("device/vif/0/mac", "00:16:3e:00:00:01");
        let mut waits = 0;
        let mut wait = || {
            waits += 1;
            waits < 10
        };
        let mac = store
            .read_blocking(Transaction::NONE, "device/vif/0/mac", &mut wait)
            .unwrap();
        assert_eq!(mac, "00:16:3e:00:00:01");
        let tx = store.transaction_start_blocking(&mut wait).unwrap();
        store.write_blocking(tx, "x", "1", &mut wait).unwrap();
        store.transaction_end_blocking(tx, true, &mut wait).unwrap();
        assert_eq!(xsd.read("x").as_deref(), Some("1"));
    });
}

#[test]
fn several_sends_before_a_scan_make_one_wake_per_port() {
    run(|g| async move {
        let xen = Xen(g.xen.clone());
        let a = xen.alloc_unbound(0).unwrap();
        let b = xen.alloc_unbound(0).unwrap();
        let c = xen.alloc_unbound(0).unwrap();
        for port in [a, b, c] {
            g.xen.bind_backend(0, port, || {}).unwrap();
        }
        let (mut ea, mut eb, mut ec) = (
            Event::new(g.bind(a)),
            Event::new(g.bind(b)),
            Event::new(g.bind(c)),
        );
        // Upcalls off (the guest is in its interrupt handler, or has IF clear): three sends
        // on a, two on b, none on c.
        let shared = g.xen.shared_info();
        shared
            .upcall_mask(0)
            .store(1, std::sync::atomic::Ordering::SeqCst);
        for port in [a, a, b, a, b] {
            g.xen.notify_guest(port);
        }
        assert_eq!(g.xen.upcalls(), 0);
        assert!(evtchn::is_pending(&shared, a) && evtchn::is_pending(&shared, b));
        // Upcalls on: one scan delivers each port once.
        shared
            .upcall_mask(0)
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let mut seen = Vec::new();
        evtchn::scan(&shared, 0, |p| seen.push(p));
        assert_eq!(seen, [a, b]);
        // With upcalls on, each notification is an interrupt (the upcall clears
        // upcall_pending first, so none is lost), but the tasks have not run yet: the marks
        // coalesce in the executor's event table, one wake per port.
        for port in [a, a, b, a] {
            g.xen.notify_guest(port);
        }
        assert_eq!(g.xen.upcalls(), 4);
        assert_eq!(
            shared
                .upcall_pending(0)
                .load(std::sync::atomic::Ordering::SeqCst),
            0
        );
        yield_now().await; // the executor dispatches the marked events
        assert!(ready(&mut ea) && ready(&mut eb));
        assert!(!ready(&mut ea) && !ready(&mut eb), "one wake per port");
        assert!(!ready(&mut ec), "never notified");
        g.xen.notify_guest(c);
        assert_eq!(g.xen.upcalls(), 5);
        yield_now().await;
        assert!(ready(&mut ec));
    });
}

#[test]
fn a_masked_port_stays_pending_until_unmasked() {
    run(|g| async move {
        let xen = Xen(g.xen.clone());
        let port = xen.alloc_unbound(0).unwrap();
        g.xen.bind_backend(0, port, || {}).unwrap();
        let mut event = Event::new(g.bind(port));
        let shared = g.xen.shared_info();
        evtchn::mask(&shared, port);
        g.xen.notify_guest(port);
        g.xen.notify_guest(port);
        assert_eq!(g.xen.upcalls(), 0, "masked: no upcall");
        yield_now().await;
        assert!(!ready(&mut event));
        assert!(evtchn::is_pending(&shared, port), "not lost");
        // EVTCHNOP_unmask re-delivers it, once.
        xen.unmask(port).unwrap();
        assert_eq!(g.xen.upcalls(), 1);
        yield_now().await;
        assert!(ready(&mut event));
        assert!(!ready(&mut event));
        assert!(!evtchn::is_pending(&shared, port));
    });
}

#[test]
fn sends_reach_the_back_end_and_bad_ports_are_refused() {
    run(|g| async move {
        let xen = Xen(g.xen.clone());
        let port = xen.alloc_unbound(0).unwrap();
        let hits = Rc::new(std::cell::Cell::new(0));
        let h = hits.clone();
        assert_eq!(
            g.xen.bind_backend(3, port, || {}),
            Err(XenError(-1)),
            "only the domain it was allocated for may bind it"
        );
        g.xen
            .bind_backend(0, port, move || h.set(h.get() + 1))
            .unwrap();
        xen.send(port).unwrap();
        xen.send(port).unwrap();
        assert_eq!(hits.get(), 2);
        assert_eq!(g.xen.sends(port), 2);
        xen.close(port).unwrap();
        assert_eq!(xen.send(port), Err(XenError(-22)), "closed");
        assert_eq!(xen.send(9999), Err(XenError(-22)), "never allocated");
    });
}

#[test]
fn grants_give_the_back_end_exactly_the_access_granted() {
    let xen = FakeXen::new();
    let mut table = xen.grant_table(1);
    let page = xen.alloc_page();
    // SAFETY: a page of the fake's guest memory, which lives as long as `xen`.
    unsafe { page.add(100).copy_from(b"hello".as_ptr(), 5) };
    let ro = table.grant(0, xen.frame(page), true).unwrap();
    let mut buf = [0u8; 5];
    xen.copy_from_grant(0, ro, 100, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    assert!(xen.copy_to_grant(0, ro, 0, b"x").is_err(), "read-only");
    assert!(
        xen.copy_from_grant(1, ro, 0, &mut buf).is_err(),
        "another domain"
    );
    assert!(
        xen.copy_from_grant(0, ro, 4093, &mut buf).is_err(),
        "past the page"
    );
    let rw = table.grant(0, xen.frame(page), false).unwrap();
    xen.copy_to_grant(0, rw, 0, b"back").unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { std::slice::from_raw_parts(page, 4) }, b"back");
    table.end(ro).unwrap();
    assert!(xen.copy_from_grant(0, ro, 100, &mut buf).is_err(), "ended");
    assert!(
        xen.copy_from_grant(0, 5000, 0, &mut buf).is_err(),
        "no such entry"
    );
}
