//! The real netfront against the fake Xen (`morgana_hypervisor::fake`) and a fake netback
//! (`fake/netback.rs`) that bridges its rings to a simulated wire with a second netstack on
//! the other end: the xenbus handshake, a 10 MB TCP transfer each way with the bytes
//! identical, and the back end going away.

mod fake;

use std::rc::Rc;
use std::task::Context;
use std::time::Duration;

use fake::netback::{self, BACKEND, FRONTEND, Netback};
use morgana_drivers::net::{Capabilities, LinkState, NetDevice};
use morgana_drivers::xen::netfront::{
    BackendChange, Netfront, NetfrontRx, NetfrontTx, PageAllocator, state,
};
use morgana_executor::event::Event;
use morgana_executor::sim::SimPlatform;
use morgana_executor::{EventId, EventTable, Executor, Instant, sleep, spawn, timeout};
use morgana_hypervisor::Xen;
use morgana_hypervisor::evtchn::{self, PortEvents};
use morgana_hypervisor::fake::FakeXen;
use morgana_hypervisor::fake::xenstored::Xenstored;
use morgana_hypervisor::xenstore::{Transaction, XenStore, XsRing};
use morgana_netstack::iface::{Ipv4Config, Stack, StackHandle, TcpListener, TcpStream};
use morgana_netstack::phy::{SimLink, SimLinkConfig};
use morgana_netstack::wire::Ipv4Address;

const GUEST: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);

/// The guest: the fake Xen, its xenstored, and the upcall the platform would install.
struct Guest {
    xen: FakeXen,
    xsd: Xenstored,
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
        let xsd = Xenstored::start(&xen);
        Guest {
            xen,
            xsd,
            ports,
            events,
        }
    }

    fn bind(&self, port: u32) -> EventId {
        let id = self.events.alloc().expect("a free event slot");
        assert!(self.ports.bind(port, id));
        Xen(self.xen.clone()).unmask(port).expect("unmask");
        id
    }

    fn xenstore(&self) -> XenStore {
        let port = self.xsd.port();
        let id = self.bind(port);
        // SAFETY: the ring page lives as long as the xenstored, which the guest keeps.
        let ring = unsafe { XsRing::new(self.xsd.ring_page()) };
        let xen = Xen(self.xen.clone());
        XenStore::new(
            ring,
            Box::new(move || xen.send(port).expect("send")),
            Event::new(id),
        )
    }
}

struct Pages(FakeXen);

impl PageAllocator for Pages {
    fn alloc_page(&self) -> *mut u8 {
        self.0.alloc_page()
    }

    fn frame(&self, page: *mut u8) -> u64 {
        self.0.frame(page)
    }
}

/// netfront with its port's event folded into the waker rule, as the platform's `XenNet`;
/// shared with the back-end watcher.
struct Nic {
    device: Rc<Netfront<FakeXen>>,
    event: Event,
}

impl Nic {
    fn arm(&mut self, cx: &mut Context<'_>) {
        while self.event.poll_wait(cx).is_ready() {}
    }
}

impl NetDevice for Nic {
    type RxToken<'a> = NetfrontRx<'a, FakeXen>;
    type TxToken<'a> = NetfrontTx<'a, FakeXen>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.arm(cx);
        self.device.poll_receive()
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<Self::TxToken<'_>> {
        self.arm(cx);
        self.device.poll_transmit()
    }

    fn flush(&mut self) {
        self.device.notify();
    }

    fn hardware_address(&self) -> [u8; 6] {
        self.device.hardware_address()
    }

    fn capabilities(&self) -> Capabilities {
        self.device.capabilities()
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        self.arm(cx);
        if self.device.is_up() {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }
}

/// Connects netfront `device/vif/0`, the fake netback answering from the `wait` callback (as
/// netback answers a xenstore watch while the guest polls).
fn connect(g: &Guest, store: &mut XenStore, nb: &Rc<Netback>) -> Nic {
    let mut grants = g.xen.grant_table(2);
    let mut waits = 0;
    let mut wait = || {
        waits += 1;
        nb.step();
        waits < 100
    };
    let device = Netfront::connect(
        Xen(g.xen.clone()),
        store,
        &mut grants,
        &Pages(g.xen.clone()),
        0,
        &mut wait,
    )
    .expect("netfront connects");
    // The grants live as long as the device.
    std::mem::forget(grants);
    let event = Event::new(g.bind(device.port()));
    Nic {
        device: Rc::new(device),
        event,
    }
}

fn run<F: Future>(test: impl FnOnce(Guest) -> F) -> F::Output {
    let ex = Executor::new(Rc::new(SimPlatform::new(7)));
    let guest = Guest::new(ex.events());
    ex.block_on(test(guest))
}

#[test]
fn netfront_connects_through_xenbus() {
    run(|g| async move {
        let mut store = g.xenstore();
        let nb = Netback::create(&g.xen, &g.xsd);
        let nic = connect(&g, &mut store, &nb);
        assert_eq!(nic.device.hardware_address(), netback::MAC);
        assert_eq!(nic.device.backend, BACKEND);
        assert_eq!(nic.device.backend_id, 0);
        let key = |k: &str| g.xsd.read(&format!("{FRONTEND}/{k}")).unwrap_or_default();
        assert_eq!(key("state"), "4");
        assert_eq!(key("event-channel"), nic.device.port().to_string());
        assert_eq!(key("request-rx-copy"), "1");
        assert_eq!(key("feature-no-csum-offload"), "1");
        assert!(key("tx-ring-ref").parse::<u32>().unwrap() >= 8);
        assert!(key("rx-ring-ref").parse::<u32>().unwrap() >= 8);
        assert_eq!(
            g.xsd.read(&format!("{BACKEND}/state")).as_deref(),
            Some("4")
        );
        assert_eq!(nb.connections.get(), 1);
        // netfront posted all its receive buffers and told the back end.
        assert!(g.xen.sends(nic.device.port()) >= 1);
    });
}

#[test]
fn netfront_refuses_a_closed_back_end() {
    run(|g| async move {
        let mut store = g.xenstore();
        let nb = Netback::create(&g.xen, &g.xsd);
        nb.close();
        let mut grants = g.xen.grant_table(2);
        let mut wait = || true;
        let err = Netfront::connect(
            Xen(g.xen.clone()),
            &mut store,
            &mut grants,
            &Pages(g.xen.clone()),
            0,
            &mut wait,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("netfront: back end {BACKEND} is closing (state 6) before we connected")
        );
    });
}

/// A deterministic payload.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `data` from `from` to `to_addr` on `to` over TCP; returns what arrived.
async fn transfer(
    from: StackHandle,
    to: StackHandle,
    to_addr: Ipv4Address,
    data: Rc<Vec<u8>>,
) -> Vec<u8> {
    let listener = TcpListener::bind(&to, 5001).expect("bind");
    let sending = spawn(async move {
        let mut s = TcpStream::connect(&from, (to_addr, 5001))
            .await
            .expect("connect");
        s.write_all(&data).await.expect("write");
        s.shutdown().await.expect("shutdown");
        s.wait_acked().await.expect("acknowledged");
    });
    let (mut s, _) = listener.accept().await;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    sending.await;
    got
}

fn config(address: Ipv4Address) -> Ipv4Config {
    Ipv4Config {
        address,
        prefix_len: 24,
        gateway: None,
    }
}

/// The guest's stack on netfront, the peer's on the far end of a simulated wire that the fake
/// netback bridges to.
fn with_stacks<F: Future>(
    test: impl FnOnce(Guest, Rc<Netback>, Watched, StackHandle, StackHandle) -> F,
) -> F::Output {
    run(|g| async move {
        let mut store = g.xenstore();
        let nb = Netback::create(&g.xen, &g.xsd);
        let nic = connect(&g, &mut store, &nb);
        let watched = Watched {
            store,
            device: nic.device.clone(),
            event: nic.event.id(),
        };
        let (wire_peer, wire_backend) = SimLink::pair(SimLinkConfig::default());
        spawn(nb.clone().run(wire_backend)).detach();
        let now = Instant::now();
        let mut guest = Stack::with_isn_secret(nic, config(GUEST), [1; 16], now);
        let mut peer = Stack::with_isn_secret(wire_peer, config(PEER), [2; 16], now);
        let (hg, hp) = (guest.handle(), peer.handle());
        spawn(async move { guest.run().await }).detach();
        spawn(async move { peer.run().await }).detach();
        test(g, nb, watched, hg, hp).await
    })
}

#[test]
fn ten_megabytes_each_way_through_netfront() {
    with_stacks(|_g, nb, _watched, guest, peer| async move {
        for (dir, (from, to, to_addr)) in [
            (1, (guest.clone(), peer.clone(), PEER)),
            (2, (peer.clone(), guest.clone(), GUEST)),
        ] {
            let data = Rc::new(payload(10 << 20, dir));
            let got = timeout(
                Duration::from_secs(600),
                transfer(from, to, to_addr, data.clone()),
            )
            .await
            .expect("the transfer finishes");
            assert_eq!(got.len(), data.len(), "direction {dir}: length");
            assert!(got == *data, "direction {dir}: bytes differ");
        }
        // Both rings carried the data: ~7,250 full frames each way, and the acks.
        assert!(nb.to_peer.get() > 7_000, "{}", nb.to_peer.get());
        assert!(nb.to_guest.get() > 7_000, "{}", nb.to_guest.get());
    });
}

/// What the platform's back-end watcher needs: the xenstore client, the device, its event.
struct Watched {
    store: XenStore,
    device: Rc<Netfront<FakeXen>>,
    event: EventId,
}

/// The platform's back-end watcher: on each change of the back end's `state`, tells netfront;
/// binds the new port to the device's event after a reconnection; wakes the stack. Logs what
/// it would log.
async fn watch_backend(
    mut w: Watched,
    ports: &'static PortEvents,
    events: &'static EventTable,
    xen: FakeXen,
    nb: Rc<Netback>,
    log: Rc<std::cell::RefCell<Vec<String>>>,
) {
    let path = format!("{BACKEND}/state");
    w.store.watch(&path, "netfront").await.expect("watch");
    loop {
        w.store.next_watch_event().await.expect("watch event");
        let state = match w.store.read(Transaction::NONE, &path).await {
            Ok(s) => s.parse().unwrap_or(0),
            Err(e) if e.is_not_found() => state::CLOSED,
            Err(e) => panic!("{e}"),
        };
        let mut wait = || {
            nb.step();
            true
        };
        let old_port = w.device.port();
        match w.device.backend_changed(state, &mut w.store, &mut wait) {
            Ok(BackendChange::None) => continue,
            Ok(BackendChange::Down(error)) => log.borrow_mut().push(error),
            Ok(BackendChange::Reconnected(port)) => {
                ports.unbind(old_port);
                assert!(ports.bind(port, w.event));
                Xen(xen.clone()).unmask(port).expect("unmask");
                log.borrow_mut().push(format!("reconnected on port {port}"));
            }
            Err(e) => log.borrow_mut().push(e.to_string()),
        }
        events.mark(w.event);
    }
}

#[test]
fn the_back_end_goes_away_then_netfront_reconnects() {
    with_stacks(|g, nb, watched, guest, peer| async move {
        let device = watched.device.clone();
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        spawn(watch_backend(
            watched,
            g.ports,
            g.events,
            g.xen.clone(),
            nb.clone(),
            log.clone(),
        ))
        .detach();
        let data = Rc::new(payload(1 << 20, 3));
        let got = transfer(guest.clone(), peer.clone(), PEER, data.clone()).await;
        assert!(got == *data);

        // Disconnect: the back end closes. The link goes down with the error, we say Closed.
        nb.close();
        sleep(Duration::from_millis(10)).await;
        assert!(!device.is_up());
        assert_eq!(
            *log.borrow(),
            [format!(
                "netfront: back end {BACKEND} left Connected (state 6): link down until it returns"
            )]
        );
        assert_eq!(
            g.xsd.read(&format!("{FRONTEND}/state")).as_deref(),
            Some("6")
        );
        let sent = nb.to_peer.get();
        let attempt = timeout(
            Duration::from_secs(2),
            TcpStream::connect(&guest, (PEER, 5002)),
        )
        .await;
        assert!(
            !matches!(attempt, Ok(Ok(_))),
            "no connection over a down link"
        );
        assert_eq!(nb.to_peer.get(), sent, "nothing reached the back end");
        assert!(device.errors() > 0, "the frames were dropped");

        // The back end returns: netfront reconnects (a new port, which Xen numbers lowest free:
        // the old number again; the same ring pages), and traffic flows both ways.
        nb.reopen();
        sleep(Duration::from_millis(10)).await;
        assert!(device.is_up());
        assert_eq!(nb.connections.get(), 2);
        assert_eq!(
            log.borrow().last().cloned(),
            Some(format!("reconnected on port {}", device.port()))
        );
        assert_eq!(
            g.xsd.read(&format!("{BACKEND}/state")).as_deref(),
            Some("4")
        );
        assert_eq!(
            g.xsd.read(&format!("{FRONTEND}/state")).as_deref(),
            Some("4")
        );
        for (dir, (from, to, to_addr)) in [
            (4, (guest.clone(), peer.clone(), PEER)),
            (5, (peer.clone(), guest.clone(), GUEST)),
        ] {
            let data = Rc::new(payload(1 << 20, dir));
            let got = timeout(
                Duration::from_secs(60),
                transfer(from, to, to_addr, data.clone()),
            )
            .await
            .expect("the transfer finishes after the reconnection");
            assert!(got == *data, "direction {dir}: bytes differ");
        }
    });
}
