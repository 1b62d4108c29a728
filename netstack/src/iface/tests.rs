//! Wire-level tests with literal frames, and simulator tests of two stacks over a `SimLink`.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use morgana_executor::sim::SimPlatform;
use morgana_executor::{Executor, Instant, spawn, timeout};

use super::*;

mod dhcp;
mod fragments;
mod syn_flood;
use crate::phy::{SimLink, SimLinkConfig};

const US_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const US: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const THEM: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const T0: Instant = Instant::from_nanos(5_000_000_000);

const ARP_REQUEST: &[u8] = &[
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 8, 6, // Ethernet
    0, 1, 8, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
    2, 0, 0, 0, 0, 2, 10, 0, 0, 2, // sender
    0, 0, 0, 0, 0, 0, 10, 0, 0, 1, // target
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 bytes
];
const ARP_REPLY: &[u8] = &[
    2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 6, // Ethernet
    0, 1, 8, 0, 6, 4, 0, 2, // Ethernet/IPv4, reply
    2, 0, 0, 0, 0, 1, 10, 0, 0, 1, // sender: us
    2, 0, 0, 0, 0, 2, 10, 0, 0, 2, // target: them
];
const ECHO_REQUEST: &[u8] = &[
    2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0, 69, 0, 0, 38, 0, 153, 64, 0, 64, 1, 38, 60, 10, 0, 0,
    2, 10, 0, 0, 1, 8, 0, 195, 1, 18, 52, 0, 7, 104, 101, 108, 108, 111, 32, 112, 105, 110, 103,
];
const ECHO_REPLY: &[u8] = &[
    2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0, 69, 0, 0, 38, 0, 1, 64, 0, 64, 1, 38, 212, 10, 0, 0,
    1, 10, 0, 0, 2, 0, 0, 203, 1, 18, 52, 0, 7, 104, 101, 108, 108, 111, 32, 112, 105, 110, 103,
];
const UDP_TO_CLOSED: &[u8] = &[
    2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0, 69, 0, 0, 31, 0, 85, 0, 0, 64, 17, 102, 119, 10, 0,
    0, 2, 10, 0, 0, 1, 19, 136, 0, 9, 0, 11, 19, 226, 97, 98, 99,
];
const PORT_UNREACHABLE: &[u8] = &[
    2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0, 69, 0, 0, 59, 0, 1, 64, 0, 64, 1, 38, 191, 10, 0, 0,
    1, 10, 0, 0, 2, 3, 3, 17, 28, 0, 0, 0, 0, 69, 0, 0, 31, 0, 85, 0, 0, 64, 17, 102, 119, 10, 0,
    0, 2, 10, 0, 0, 1, 19, 136, 0, 9, 0, 11, 19, 226, 97, 98, 99,
];

fn config(address: Ipv4Address) -> Ipv4Config {
    Ipv4Config {
        address,
        prefix_len: 24,
        gateway: Some(Ipv4Address::new(10, 0, 0, 254)),
    }
}

fn iface() -> Interface {
    Interface::new(US_MAC, config(US), 1500, T0)
}

fn drain(i: &mut Interface) -> Vec<Vec<u8>> {
    core::iter::from_fn(|| i.pop_tx()).collect()
}

#[test]
fn an_arp_request_for_us_gets_the_exact_reply_and_teaches_us_the_sender() {
    let mut i = iface();
    i.process_frame(T0, ARP_REQUEST);
    assert_eq!(drain(&mut i), [ARP_REPLY]);
    assert_eq!(
        i.arp().lookup(T0, THEM),
        Some(EthernetAddress([2, 0, 0, 0, 0, 2]))
    );
    assert_eq!(i.counters().arp_replies_sent, 1);
    // A request for another address is not answered, and its sender is not learned.
    let mut other = ARP_REQUEST.to_vec();
    other[41] = 9;
    other[31] = 3;
    let mut i = iface();
    i.process_frame(T0, &other);
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.arp().lookup(T0, Ipv4Address::new(10, 0, 0, 3)), None);
}

#[test]
fn an_echo_request_gets_the_exact_echo_reply() {
    let mut i = iface();
    i.process_frame(T0, ARP_REQUEST);
    drain(&mut i);
    i.process_frame(T0, ECHO_REQUEST);
    assert_eq!(drain(&mut i), [ECHO_REPLY]);
    assert_eq!(i.counters().icmp_echo_replies_sent, 1);
}

#[test]
fn an_echo_request_from_an_unknown_host_waits_for_arp() {
    let mut i = iface();
    i.process_frame(T0, ECHO_REQUEST);
    let out = drain(&mut i);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][12..14], &[8, 6], "an ARP request first");
    let mut reply = ARP_REPLY.to_vec();
    // Turn our reply around: them answering us.
    reply[..6].copy_from_slice(&US_MAC.0);
    reply[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    reply[22..32].copy_from_slice(&[2, 0, 0, 0, 0, 2, 10, 0, 0, 2]);
    reply[32..42].copy_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
    i.process_frame(T0, &reply);
    assert_eq!(drain(&mut i), [ECHO_REPLY]);
}

#[test]
fn udp_to_a_closed_port_gets_a_rate_limited_port_unreachable() {
    let mut i = iface();
    i.process_frame(T0, ARP_REQUEST);
    drain(&mut i);
    i.process_frame(T0, UDP_TO_CLOSED);
    assert_eq!(drain(&mut i), [PORT_UNREACHABLE]);
    for _ in 0..20 {
        i.process_frame(T0, UDP_TO_CLOSED);
    }
    let c = i.counters();
    assert_eq!(c.icmp_unreachable_sent, u64::from(ICMP_ERRORS_PER_SEC));
    assert_eq!(c.icmp_rate_limited, 21 - u64::from(ICMP_ERRORS_PER_SEC));
    drain(&mut i);
    i.process_frame(T0 + Duration::from_secs(1), UDP_TO_CLOSED);
    assert_eq!(drain(&mut i).len(), 1, "tokens refill");
}

#[test]
fn udp_to_a_bound_port_is_queued_with_its_source() {
    let mut i = iface();
    i.udp().bind(9, 1).unwrap();
    i.process_frame(T0, UDP_TO_CLOSED);
    i.process_frame(T0, UDP_TO_CLOSED);
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.udp().recv(9), Some(((THEM, 5000), b"abc".to_vec())));
    let c = i.counters();
    assert_eq!((c.udp_delivered, c.udp_queue_full), (1, 1));
}

#[test]
fn frames_not_for_us_fragments_and_bad_checksums_are_dropped_and_counted() {
    let mut i = iface();
    let mut f = ECHO_REQUEST.to_vec();
    f[5] = 7; // another MAC
    i.process_frame(T0, &f);
    let mut f = ECHO_REQUEST.to_vec();
    f[33] = 7; // another IP (the header checksum is then wrong too, checked first)
    i.process_frame(T0, &f);
    let mut f = UDP_TO_CLOSED.to_vec();
    f[20] |= 0x20; // more fragments
    f[24] = 0;
    f[25] = 0;
    let sum = crate::wire::checksum::sum(&f[14..34]);
    f[24..26].copy_from_slice(&(!sum).to_be_bytes());
    i.process_frame(T0, &f);
    let c = i.counters();
    assert_eq!(c.rx_not_for_us, 1);
    assert_eq!(c.rx_checksum, 1);
    assert_eq!(c.rx_fragments, 1);
    assert!(drain(&mut i).is_empty());
}

#[test]
fn every_truncation_and_byte_flip_of_the_test_frames_is_dropped_without_panic() {
    for frame in [
        ARP_REQUEST,
        ECHO_REQUEST,
        UDP_TO_CLOSED,
        PORT_UNREACHABLE,
        ECHO_REPLY,
    ] {
        for len in 0..=frame.len() {
            let mut i = iface();
            i.udp().bind(9, 4).unwrap();
            i.process_frame(T0, &frame[..len]);
        }
        for at in 0..frame.len() {
            for bit in 0..8 {
                let mut f = frame.to_vec();
                f[at] ^= 1 << bit;
                let mut i = iface();
                i.process_frame(T0, &f);
                drain(&mut i);
            }
        }
    }
    // Pseudo-random garbage behind valid Ethernet/IPv4 headers.
    let mut x = 0x1234_5678_u64;
    for _ in 0..2000 {
        let mut f = ECHO_REQUEST[..14].to_vec();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 80) as usize;
        f.extend((0..len).map(|k| (x >> (k % 56)) as u8));
        let mut i = iface();
        i.process_frame(T0, &f);
    }
}

#[test]
fn sending_routes_on_link_or_through_the_gateway() {
    let mut i = iface();
    i.send_udp(T0, 1000, (Ipv4Address::new(8, 8, 8, 8), 53), b"q")
        .unwrap();
    let out = drain(&mut i);
    assert_eq!(&out[0][38..42], &[10, 0, 0, 254], "ARP for the gateway");
    i.send_udp(T0, 1000, (THEM, 53), b"q").unwrap();
    assert_eq!(
        &drain(&mut i)[0][38..42],
        &[10, 0, 0, 2],
        "ARP for the on-link host"
    );
    i.send_udp(T0, 1000, (Ipv4Address::BROADCAST, 53), b"q")
        .unwrap();
    assert_eq!(&drain(&mut i)[0][..6], &[0xff; 6], "broadcast needs no ARP");
    let mut no_gw = Interface::new(
        US_MAC,
        Ipv4Config {
            gateway: None,
            ..config(US)
        },
        1500,
        T0,
    );
    assert_eq!(
        no_gw.send_udp(T0, 1, (Ipv4Address::new(8, 8, 8, 8), 53), b"q"),
        Err(SendError::NoRoute)
    );
    assert_eq!(
        i.send_udp(T0, 1, (THEM, 53), &[0; 1473]),
        Err(SendError::TooLarge)
    );
    // Retries: one a second, three in all, then the queued datagrams are dropped.
    let mut i = iface();
    i.send_udp(T0, 1, (THEM, 53), b"q").unwrap();
    assert_eq!(drain(&mut i).len(), 1);
    for s in 1..=3 {
        let now = T0 + Duration::from_secs(s);
        assert_eq!(i.poll_at(), Some(now));
        i.poll(now);
    }
    assert_eq!(i.counters().arp_requests_sent, 3);
    assert_eq!(i.counters().arp_dropped, 1);
    assert_eq!(i.poll_at(), None);
}

// ----- simulator -----

fn run_pair<F: core::future::Future>(
    seed: u64,
    link: SimLinkConfig,
    test: impl FnOnce(StackHandle, StackHandle) -> F,
) -> F::Output {
    let sim = Rc::new(SimPlatform::new(seed));
    let ex = Executor::new(sim);
    ex.block_on(async move {
        let (a, b) = SimLink::pair(link);
        let now = Instant::now();
        let mut sa = Stack::with_isn_secret(a, config(US), [1; 16], now);
        let mut sb = Stack::with_isn_secret(b, config(THEM), [2; 16], now);
        let (ha, hb) = (sa.handle(), sb.handle());
        spawn(async move { sa.run().await }).detach();
        spawn(async move { sb.run().await }).detach();
        test(ha, hb).await
    })
}

async fn echo_server(h: StackHandle) {
    let sock = UdpSocket::bind(&h, 7).unwrap();
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await;
        let _ = sock.send_to(&buf[..n], from).await;
    }
}

#[test]
fn udp_round_trips_between_two_stacks_after_arp() {
    let rounds = run_pair(1, SimLinkConfig::default(), |a, b| async move {
        spawn(echo_server(b.clone())).detach();
        let sock = UdpSocket::bind(&a, 4000).unwrap();
        let mut buf = [0u8; 2048];
        for k in 0..50u32 {
            let msg = vec![k as u8; 1 + (k as usize * 29) % 1400];
            sock.send_to(&msg, (THEM, 7)).await.unwrap();
            let (n, from) = timeout(Duration::from_secs(1), sock.recv_from(&mut buf))
                .await
                .expect("echo");
            assert_eq!(from, (THEM, 7));
            assert_eq!(&buf[..n], &msg[..]);
        }
        assert_eq!(a.counters().arp_requests_sent, 1);
        assert_eq!(b.counters().arp_replies_sent, 1);
        b.counters().udp_delivered
    });
    assert_eq!(rounds, 50);
}

#[test]
fn udp_round_trips_over_a_lossy_link_with_retries() {
    let link = SimLinkConfig {
        seed: 42,
        loss_ppm: 50_000,
        ..SimLinkConfig::default()
    };
    let (ok, lost) = run_pair(2, link, |a, b| async move {
        spawn(echo_server(b.clone())).detach();
        let sock = UdpSocket::bind(&a, 4000).unwrap();
        let mut buf = [0u8; 64];
        let mut retries = 0;
        for k in 0..200u32 {
            let msg = k.to_be_bytes();
            'attempt: loop {
                sock.send_to(&msg, (THEM, 7)).await.unwrap();
                loop {
                    match timeout(Duration::from_millis(50), sock.recv_from(&mut buf)).await {
                        Ok((n, _)) if buf[..n] == msg => break 'attempt,
                        Ok(_) => continue, // a late echo of an earlier attempt
                        Err(_) => {
                            retries += 1;
                            continue 'attempt;
                        }
                    }
                }
            }
        }
        (200, retries)
    });
    assert_eq!(ok, 200);
    assert!(lost > 5, "5% loss each way must have cost retries ({lost})");
}

#[test]
fn ping_between_two_stacks() {
    let rtts = run_pair(3, SimLinkConfig::default(), |a, b| async move {
        let mut rtts = Vec::new();
        for seq in 0..5 {
            let rtt = timeout(Duration::from_secs(1), a.ping(THEM, 0x77, seq, b"ping"))
                .await
                .expect("reply")
                .unwrap();
            rtts.push(rtt);
        }
        assert_eq!(b.counters().icmp_echo_replies_sent, 5);
        rtts
    });
    // 1 ms each way; the first also waits for ARP.
    assert!(rtts[0] >= Duration::from_millis(4), "{rtts:?}");
    assert!(
        rtts[1..].iter().all(|&r| r == Duration::from_millis(2)),
        "{rtts:?}"
    );
}

// ----- TCP -----

async fn tcp_echo_server(h: StackHandle, port: u16) {
    let listener = TcpListener::bind(&h, port).unwrap();
    loop {
        let (mut stream, _) = listener.accept().await;
        spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = stream.shutdown().await;
        })
        .detach();
    }
}

/// Sends `data` through the echo server on `THEM:7` and reads it back, never more than 32 KB
/// outstanding (so neither side can block the other).
async fn tcp_echo_client(a: StackHandle, data: Vec<u8>) -> Vec<u8> {
    let mut s = TcpStream::connect(&a, (THEM, 7)).await.expect("connect");
    let mut back = Vec::with_capacity(data.len());
    let mut written = 0;
    let mut buf = [0u8; 8192];
    while back.len() < data.len() {
        let outstanding = written - back.len();
        if written < data.len() && outstanding < 32 * 1024 {
            let end = data.len().min(written + 32 * 1024 - outstanding);
            written += s.write(&data[written..end]).await.expect("write");
            if written == data.len() {
                s.shutdown().await.unwrap();
            }
        } else {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "early end of stream at {}", back.len());
            back.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(
        s.read(&mut buf).await,
        Ok(0),
        "the server closes after echoing"
    );
    back
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn tcp_echo(seed: u64, link: SimLinkConfig) -> (Counters, Counters) {
    run_pair(seed, link, |a, b| async move {
        spawn(tcp_echo_server(b.clone(), 7)).detach();
        let data = pattern(200 * 1024);
        let back = timeout(
            Duration::from_secs(600),
            tcp_echo_client(a.clone(), data.clone()),
        )
        .await
        .expect("echo within 600 s");
        assert!(back == data, "the echo differs");
        (a.counters(), b.counters())
    })
}

#[test]
fn tcp_echoes_200_kb_between_two_stacks() {
    let (a, b) = tcp_echo(4, SimLinkConfig::default());
    assert!(a.tcp_tx_segments > 140, "{a:?}");
    assert_eq!(a.tcp_resets_sent + b.tcp_resets_sent, 0);
    assert_eq!(a.tcp_tx_failed + b.tcp_tx_failed, 0);
}

#[test]
fn tcp_echoes_200_kb_over_a_lossy_reordering_link() {
    let link = SimLinkConfig {
        seed: 7,
        loss_ppm: 20_000,
        jitter: Duration::from_millis(3),
        ..SimLinkConfig::default()
    };
    let (a, b) = tcp_echo(5, link);
    assert!(a.tcp_tx_segments > 140, "{a:?}");
    assert!(b.tcp_rx_segments > 140, "{b:?}");
}

#[test]
fn tcp_connect_to_a_closed_port_is_refused_by_a_rst() {
    let (r, resets) = run_pair(6, SimLinkConfig::default(), |a, b| async move {
        let r = timeout(Duration::from_secs(5), TcpStream::connect(&a, (THEM, 81)))
            .await
            .expect("an answer")
            .map(|_| ());
        (r, b.counters().tcp_resets_sent)
    });
    assert_eq!(r, Err(TcpSocketError::Refused));
    assert_eq!(resets, 1);
}

#[test]
fn tcp_listener_backlog_is_bounded() {
    run_pair(7, SimLinkConfig::default(), |a, b| async move {
        let listener = TcpListener::bind_with_backlog(&b, 9, 1).unwrap();
        assert_eq!(
            TcpListener::bind(&b, 9).map(|_| ()),
            Err(TcpBindError::InUse)
        );
        let first = timeout(Duration::from_secs(5), TcpStream::connect(&a, (THEM, 9)))
            .await
            .expect("the first fits the backlog")
            .unwrap();
        // The backlog is full until accept: the second SYN (and its retries) are dropped.
        let second = timeout(Duration::from_secs(2), TcpStream::connect(&a, (THEM, 9))).await;
        assert!(second.is_err(), "the second SYN must not be answered");
        assert!(b.counters().tcp_syn_dropped >= 1);
        let (mut s1, peer) = listener.accept().await;
        assert_eq!(peer.0, US);
        assert_eq!(first.peer_addr(), Some((THEM, 9)));
        // With room again, a new connection goes through.
        let third = spawn({
            let a = a.clone();
            async move { TcpStream::connect(&a, (THEM, 9)).await.map(|_| ()) }
        });
        let (_s3, _) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("accepted");
        assert_eq!(third.await, Ok(()));
        drop(first);
        let mut buf = [0u8; 8];
        assert_eq!(s1.read(&mut buf).await, Ok(0), "graceful close on drop");
    });
}

#[test]
fn tcp_without_an_isn_secret_is_disabled() {
    let mut i = iface();
    assert_eq!(i.tcp_listen(80, 4), Err(TcpBindError::NoIsnSecret));
    assert_eq!(
        i.tcp_connect(T0, (THEM, 80)).map(|_| ()),
        Err(TcpSocketError::NoIsnSecret)
    );
    i.set_isn_secret([3; 16]);
    assert_eq!(i.tcp_listen(80, 4), Ok(()));
    assert_eq!(i.tcp_listen(0, 4), Err(TcpBindError::Unaddressable));
}

#[test]
fn tcp_streams_work_through_the_embedded_io_async_traits() {
    use crate::io::{Read, Write};

    /// Generic over the traits, as a protocol library would be.
    async fn round_trip<S: Read + Write>(s: &mut S, msg: &[u8]) -> Vec<u8> {
        s.write_all(msg).await.expect("write_all");
        // Hands the data to the stack without waiting a round trip for the peer's ACK.
        let before = Instant::now();
        Write::flush(s).await.expect("flush");
        assert_eq!(Instant::now(), before, "flush does not wait for the peer");
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).await.expect("read_exact");
        back
    }

    let msg = pattern(50_000);
    let back = run_pair(9, SimLinkConfig::default(), |a, b| {
        let msg = msg.clone();
        async move {
            spawn(tcp_echo_server(b, 7)).detach();
            let mut s = TcpStream::connect(&a, (THEM, 7)).await.expect("connect");
            let back = round_trip(&mut s, &msg).await;
            s.wait_acked().await.expect("acknowledged");
            assert_eq!(s.send_queue_len(), 0);
            back
        }
    });
    assert!(back == msg);
}
