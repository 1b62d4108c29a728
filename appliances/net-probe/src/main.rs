//! Sends an ARP request for 10.0.2.2 (QEMU's user-mode network gateway) through virtio-net and
//! waits, by interrupt, for the reply: the driver, the transport (virtio-mmio on microvm,
//! virtio-pci with MSI-X on q35) and the interrupt path, end to end. Frames are literal bytes:
//! the network stack is not involved. x86_64 only.
#![no_std]
#![no_main]

use morgana::prelude::*;

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
#[morgana::main]
async fn main(env: Env) -> i32 {
    use core::future::poll_fn;
    use core::task::Poll;
    use morgana_boot::arch::x86_64::net::BootNet;
    use morgana_drivers::net::{NetDevice, RxToken, TxToken};

    let mut seed = [0u8; 8];
    let _ = env.entropy(&mut seed);
    let mut net = match BootNet::open(u64::from_le_bytes(seed)) {
        Ok(net) => net,
        Err(e) => {
            println!("net-probe: {e}");
            return 1;
        }
    };
    let mac = net.device.hardware_address();
    println!("virtio-net at {:?}, MAC {:02x?}", net.location, mac);
    #[rustfmt::skip]
    let mut request: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x08, 0x06, // Ethernet, ARP
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,                          // request
        0, 0, 0, 0, 0, 0, 10, 0, 2, 15,                                    // us: 10.0.2.15
        0, 0, 0, 0, 0, 0, 10, 0, 2, 2,                                     // who has 10.0.2.2?
    ];
    request[6..12].copy_from_slice(&mac);
    request[22..28].copy_from_slice(&mac);
    let reply = timeout(Duration::from_secs(10), async {
        loop {
            poll_fn(|cx| {
                loop {
                    let sent = match net.device.transmit(cx) {
                        Some(tx) => {
                            tx.consume(request.len(), |f| f.copy_from_slice(&request));
                            true
                        }
                        None => false,
                    };
                    if sent {
                        net.device.flush();
                        return Poll::Ready(());
                    }
                    if net.poll_interrupt(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            })
            .await;
            let got = timeout(
                Duration::from_millis(500),
                poll_fn(|cx| {
                    loop {
                        if let Some((rx, _)) = net.device.receive(cx) {
                            let frame = rx.consume(|f| f.to_vec());
                            // An ARP reply (opcode 2) from 10.0.2.2 to us.
                            if frame.len() >= 42
                                && frame[12..14] == [0x08, 0x06]
                                && frame[20..22] == [0, 2]
                                && frame[28..32] == [10, 0, 2, 2]
                            {
                                return Poll::Ready(frame);
                            }
                            continue;
                        }
                        if net.poll_interrupt(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                }),
            )
            .await;
            if let Ok(frame) = got {
                return frame;
            }
        }
    })
    .await;
    let Ok(frame) = reply else {
        println!("no ARP reply within 10 s; {:?}", net.device.stats());
        return 3;
    };
    println!("ARP reply: 10.0.2.2 is at {:02x?}", &frame[22..28]);

    // Once more, and this time only the interrupt may say the reply is there: drain the
    // receive queue (which re-arms the device's receive interrupt), send, then wait for the
    // interrupt before looking.
    poll_fn(|cx| {
        while let Some((rx, _)) = net.device.receive(cx) {
            rx.consume(|_| ());
        }
        Poll::Ready(())
    })
    .await;
    poll_fn(|cx| {
        let sent = match net.device.transmit(cx) {
            Some(tx) => {
                tx.consume(request.len(), |f| f.copy_from_slice(&request));
                true
            }
            None => false,
        };
        net.device.flush();
        if sent {
            Poll::Ready(())
        } else {
            net.poll_interrupt(cx)
        }
    })
    .await;
    // An interrupt may also say the request went out (the transmit queue's), so look after
    // each one until the reply is there.
    let waited = timeout(Duration::from_secs(5), async {
        loop {
            poll_fn(|cx| net.poll_interrupt(cx)).await;
            let len = poll_fn(|cx| match net.device.receive(cx) {
                Some((rx, _)) => Poll::Ready(rx.consume(|f| f.len())),
                None => Poll::Ready(0),
            })
            .await;
            if len > 0 {
                return len;
            }
        }
    })
    .await;
    let Ok(again) = waited else {
        println!(
            "no frame after an interrupt within 5 s; {:?}",
            net.device.stats()
        );
        return 4;
    };
    println!(
        "after the interrupt: a {again}-byte frame was waiting ({} interrupts)",
        net.device.stats().interrupts
    );
    0
}

#[cfg(not(all(target_os = "none", target_arch = "x86_64")))]
#[morgana::main]
async fn main(_env: Env) -> i32 {
    println!("net-probe drives virtio-net itself: it runs on x86_64 images only");
    2
}
