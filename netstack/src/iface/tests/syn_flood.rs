//! SYN cookies under a flood of spoofed SYNs, forged and stale cookies, and the RST rate limit.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use morgana_executor::sim::SimPlatform;
use morgana_executor::{Executor, Instant, spawn, timeout};

use super::super::*;
use crate::phy::{SimLink, SimLinkConfig};
use crate::tcp::syncookie::TICK;
use crate::wire::{SeqNumber, TcpFlags, TcpPacket, TcpRepr};

const US_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const US: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const THEM: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const T0: Instant = Instant::from_nanos(5_000_000_000);

fn config(address: Ipv4Address) -> Ipv4Config {
    Ipv4Config {
        address,
        prefix_len: 24,
        gateway: None,
    }
}

/// A TCP segment from `src` to `to_mac`/`dst`.
#[allow(clippy::too_many_arguments)]
fn segment(
    to_mac: EthernetAddress,
    src: (Ipv4Address, u16),
    dst: (Ipv4Address, u16),
    flags: TcpFlags,
    seq: u32,
    ack: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.1,
        dst_port: dst.1,
        seq_number: SeqNumber(seq),
        ack_number: ack.map(SeqNumber),
        flags,
        window_len: 29200,
        urgent_at: 0,
        max_seg_size: flags.contains(TcpFlags::SYN).then_some(1460),
        window_scale: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: src.0,
        dst_addr: dst.0,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut f = vec![0; 34 + tcp.buffer_len()];
    EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 0x99]),
        dst_addr: to_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut f[14..]),
        &ChecksumCaps::SOFTWARE,
    );
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut f[34..]),
        src.0,
        dst.0,
        &ChecksumCaps::SOFTWARE,
    );
    f
}

/// A sent segment: destination, flags, seq, ack, MSS option.
type Sent = (
    Ipv4Address,
    TcpFlags,
    SeqNumber,
    Option<SeqNumber>,
    Option<u16>,
);

/// The TCP segments among the frames sent, parsed.
fn sent_segments(i: &mut Interface) -> Vec<Sent> {
    core::iter::from_fn(|| i.pop_tx())
        .filter(|f| f[12..14] == [8, 0])
        .map(|f| {
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            let p = TcpPacket::new_checked(ip.payload()).unwrap();
            let t =
                TcpRepr::parse(&p, ip.src_addr(), ip.dst_addr(), &ChecksumCaps::SOFTWARE).unwrap();
            assert_eq!((t.window_scale, t.sack_permitted), (None, false));
            (
                ip.dst_addr(),
                t.flags,
                t.seq_number,
                t.ack_number,
                t.max_seg_size,
            )
        })
        .collect()
}

fn listening(now: Instant) -> Interface {
    let mut i = Interface::new(US_MAC, config(US), 1500, now);
    i.set_isn_secret([7; 16]);
    i.tcp_listen(80, 1).unwrap();
    for k in 2..10 {
        i.arp().merge(
            now,
            Ipv4Address::new(10, 0, 0, k),
            EthernetAddress([2, 0, 0, 0, 0, k]),
            true,
        );
    }
    i
}

#[test]
fn a_full_half_open_queue_answers_with_cookies_and_only_good_ones_connect() {
    let mut i = listening(T0);
    let x = (Ipv4Address::new(10, 0, 0, 3), 1000);
    let y = (Ipv4Address::new(10, 0, 0, 4), 2000);
    let z = (Ipv4Address::new(10, 0, 0, 5), 3000);
    // X's SYN takes the backlog's one place, half-open.
    i.process_frame(
        T0,
        &segment(US_MAC, x, (US, 80), TcpFlags::SYN, 100, None, &[]),
    );
    i.poll(T0);
    assert_eq!(i.tcp().len(), 1);
    sent_segments(&mut i);
    // Y's SYN gets a cookie, and no state.
    i.process_frame(
        T0,
        &segment(US_MAC, y, (US, 80), TcpFlags::SYN, 5000, None, &[]),
    );
    let out = sent_segments(&mut i);
    assert_eq!(out.len(), 1);
    let (to, flags, cookie, ack, mss) = out[0];
    assert_eq!(
        (to, flags),
        (y.0, TcpFlags::SYN),
        "a SYN-ACK (ACK is the ack number)"
    );
    assert_eq!((ack, mss), (Some(SeqNumber(5001)), Some(1460)));
    assert_eq!(i.tcp().len(), 1, "no state for a cookie");
    assert_eq!(i.counters().tcp_syncookies_sent, 1);
    // Z forges an ACK: rejected with a RST.
    let forged = segment(
        US_MAC,
        z,
        (US, 80),
        TcpFlags::ACK,
        77,
        Some(cookie.0 ^ 0x55),
        &[],
    );
    i.process_frame(T0, &forged);
    let out = sent_segments(&mut i);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1), (z.0, TcpFlags::RST));
    assert_eq!(i.counters().tcp_syncookies_failed, 1);
    assert_eq!(i.tcp().len(), 1);
    // Y's cookie, but from another port (a replay elsewhere): rejected.
    let replay = (y.0, 2001);
    let ack_seg = segment(
        US_MAC,
        replay,
        (US, 80),
        TcpFlags::ACK,
        5001,
        Some(cookie.0 + 1),
        &[],
    );
    i.process_frame(T0, &ack_seg);
    assert_eq!(i.counters().tcp_syncookies_failed, 2);
    sent_segments(&mut i);
    // Y's real ACK, with data, two ticks later: stale.
    let late = T0 + TICK * 2;
    let good = segment(
        US_MAC,
        y,
        (US, 80),
        TcpFlags::ACK | TcpFlags::PSH,
        5001,
        Some(cookie.0 + 1),
        b"GET /",
    );
    let mut stale = listening(late);
    stale.process_frame(late, &good);
    assert_eq!(stale.counters().tcp_syncookies_ok, 0);
    // In time: the connection is made, ESTABLISHED, with the MSS from the cookie and the data.
    i.process_frame(T0 + Duration::from_secs(1), &good);
    assert_eq!(i.counters().tcp_syncookies_ok, 1);
    assert_eq!(i.tcp().len(), 2);
    i.poll(T0 + Duration::from_secs(1));
    let (id, peer) = i.tcp_accept(80).expect("Y's connection to accept");
    assert_eq!(peer, y);
    let tcb = i.tcp_tcb(id).unwrap();
    assert_eq!(tcb.state(), crate::tcp::State::Established);
    assert_eq!(tcb.negotiated().send_mss, 1460);
    let mut buf = [0u8; 16];
    assert_eq!(tcb.recv(&mut buf), 5);
    assert_eq!(&buf[..5], b"GET /");
}

#[test]
fn resets_for_closed_ports_are_rate_limited() {
    let mut i = listening(T0);
    let x = (Ipv4Address::new(10, 0, 0, 3), 1000);
    for k in 0..150 {
        i.process_frame(
            T0,
            &segment(US_MAC, x, (US, 81), TcpFlags::ACK, k, Some(1), &[]),
        );
    }
    let c = i.counters();
    assert_eq!(c.tcp_resets_sent, u64::from(tcp::RESETS_PER_SEC));
    assert_eq!(
        c.tcp_resets_rate_limited,
        150 - u64::from(tcp::RESETS_PER_SEC)
    );
    assert_eq!(sent_segments(&mut i).len(), 100);
    // A tenth of a second refills ten.
    let later = T0 + Duration::from_millis(100);
    for k in 0..20 {
        i.process_frame(
            later,
            &segment(US_MAC, x, (US, 81), TcpFlags::ACK, k, Some(1), &[]),
        );
    }
    assert_eq!(i.counters().tcp_resets_sent, 110);
}

#[test]
fn ten_thousand_spoofed_syns_leave_memory_bounded_and_a_real_client_connects() {
    let sim = Rc::new(SimPlatform::new(21));
    let ex = Executor::new(sim);
    ex.block_on(async move {
        let (a, b) = SimLink::pair(SimLinkConfig::default());
        let now = Instant::now();
        let mut sa = Stack::with_isn_secret(a, config(US), [1; 16], now);
        let mut sb = Stack::with_isn_secret(b, config(THEM), [2; 16], now);
        let (client, server) = (sa.handle(), sb.handle());
        spawn(async move { sa.run().await }).detach();
        spawn(async move { sb.run().await }).detach();
        let listener = TcpListener::bind_with_backlog(&server, 7, 4).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut max_conns = 0;
        let mut max_tx = 0;
        for round in 0..100 {
            server.with_iface(|i| {
                let mac = i.mac();
                for _ in 0..100 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Spoofed sources all over the /24.
                    let src = Ipv4Address::new(10, 0, 0, 3 + (x as u8) % 250);
                    let f = segment(
                        mac,
                        (src, (x >> 16) as u16 | 1024),
                        (THEM, 7),
                        TcpFlags::SYN,
                        (x >> 32) as u32,
                        None,
                        &[],
                    );
                    i.process_frame(Instant::now(), &f);
                }
                max_conns = max_conns.max(i.tcp().len());
                max_tx = max_tx.max(i.tx.len());
                assert!(i.arp().len() <= ARP_CACHE_SIZE);
            });
            if round % 10 == 0 {
                morgana_executor::sleep(Duration::from_millis(5)).await;
            }
        }
        let c = server.counters();
        assert!(
            max_conns <= 4,
            "the half-open queue stays at the backlog: {max_conns}"
        );
        assert!(max_tx <= TX_QUEUE_LEN);
        assert!(c.tcp_syncookies_sent > 9_000, "{c:?}");
        assert_eq!(c.tcp_syn_dropped, 0);
        // The real client's SYN meets the full queue too, and gets through on a cookie.
        let accepted = spawn(async move {
            let (mut s, peer) = listener.accept().await;
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
            s.shutdown().await.unwrap();
            peer
        });
        let mut s = timeout(
            Duration::from_secs(5),
            TcpStream::connect(&client, (THEM, 7)),
        )
        .await
        .expect("connected under the flood")
        .unwrap();
        s.write_all(b"still here").await.unwrap();
        let mut buf = [0u8; 64];
        let n = timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"still here");
        assert_eq!(accepted.await.0, US);
        assert!(server.counters().tcp_syncookies_ok >= 1);
    });
}
