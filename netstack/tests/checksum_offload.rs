//! Checksum offload at the interface: with a device that completes TCP/UDP checksums
//! (virtio-net's CSUM) the stack writes only the pseudo-header sum; with one that verifies them
//! (GUEST_CSUM) a frame it vouches for skips the check, and every other frame is still checked.

use morgana_drivers::net::ChecksumOffload;
use morgana_executor::Instant;
use morgana_netstack::iface::{Interface, Ipv4Config};
use morgana_netstack::wire::{EthernetAddress, Ipv4Address};

const T0: Instant = Instant::from_nanos(5_000_000_000);
const US: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const THEM: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);

/// UDP 10.0.0.2:5000 -> 10.0.0.1:9, "abc", with a correct checksum (0x13e2).
const UDP_GOOD: &[u8] = &[
    2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0, 69, 0, 0, 31, 0, 85, 0, 0, 64, 17, 102, 119, 10, 0,
    0, 2, 10, 0, 0, 1, 19, 136, 0, 9, 0, 11, 19, 226, 97, 98, 99,
];

fn iface() -> Interface {
    let config = Ipv4Config {
        address: US,
        prefix_len: 24,
        gateway: None,
    };
    let mut i = Interface::new(EthernetAddress([2, 0, 0, 0, 0, 1]), config, 1500, T0);
    i.arp()
        .merge(T0, THEM, EthernetAddress([2, 0, 0, 0, 0, 2]), true);
    i
}

/// The same datagram with a checksum field that is only the pseudo-header sum, as a host
/// sender that left the checksum to "hardware" hands it over (NEEDS_CSUM).
fn udp_partial() -> Vec<u8> {
    let mut f = UDP_GOOD.to_vec();
    // Pseudo-header: 0x0a00 + 0x0002 + 0x0a00 + 0x0001 + 0x0011 + 0x000b = 0x141f.
    f[40] = 0x14;
    f[41] = 0x1f;
    f
}

#[test]
fn a_partial_checksum_is_dropped_unless_the_device_vouches_for_the_frame() {
    let mut i = iface();
    i.udp().bind(9, 8).unwrap();
    i.process_frame(T0, &udp_partial());
    // Without offload negotiated, a device's claim counts for nothing.
    i.process_verified_frame(T0, &udp_partial());
    assert_eq!(i.udp().recv(9), None);
    assert_eq!(i.counters().rx_checksum, 2);

    i.set_checksum_offload(ChecksumOffload {
        rx_verified: true,
        tx_fills: false,
    });
    i.process_frame(T0, &udp_partial());
    assert_eq!(i.udp().recv(9), None, "an unvouched frame is still checked");
    i.process_verified_frame(T0, &udp_partial());
    assert_eq!(i.udp().recv(9), Some(((THEM, 5000), b"abc".to_vec())));
    i.process_frame(T0, UDP_GOOD);
    assert_eq!(i.udp().recv(9), Some(((THEM, 5000), b"abc".to_vec())));
    assert_eq!(i.counters().rx_checksum, 3);
}

#[test]
fn with_tx_offload_udp_carries_the_pseudo_header_sum_and_ip_its_full_checksum() {
    let sent = |offload: bool| {
        let mut i = iface();
        i.set_checksum_offload(ChecksumOffload {
            rx_verified: false,
            tx_fills: offload,
        });
        i.send_udp(T0, 9, (THEM, 5000), b"abc").unwrap();
        i.pop_tx().expect("a frame")
    };
    let full = sent(false);
    let partial = sent(true);
    assert_eq!(full.len(), 45);
    // Full: the checksum of the mirrored datagram; partial: only the pseudo-header sum
    // (0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0011 + 0x000b).
    assert_eq!(&full[40..42], &[0x13, 0xe2]);
    assert_eq!(&partial[40..42], &[0x14, 0x1f]);
    // Everything else is the same, the IPv4 header checksum included.
    assert_eq!(full[..40], partial[..40]);
    assert_eq!(full[42..], partial[42..]);
}
