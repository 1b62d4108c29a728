//! Morgana's device drivers: the `NetDevice` and `BlockDevice` traits with zero-copy buffer
//! tokens, split virtqueues, the virtio-mmio and virtio-pci transports, virtio-net, Xen netfront,
//! and the 16550 and PL011 UARTs.
//!
//! Here now: [`net`] (the `NetDevice` trait), [`uart`] (the 16550), [`virtio`] (split
//! virtqueues, the virtio-mmio and virtio-pci transports, virtio-rng, virtio-net) and [`xen`]
//! (netfront). The block device trait comes with storage.
#![no_std]

extern crate alloc;

pub mod net;
pub mod uart;
pub mod virtio;
pub mod xen;
