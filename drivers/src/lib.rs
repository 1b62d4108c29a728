//! Morgana's device drivers: the `NetDevice` and `BlockDevice` traits with zero-copy buffer
//! tokens, split virtqueues, the virtio-mmio and virtio-pci transports, virtio-net, Xen netfront,
//! and the 16550 and PL011 UARTs.
//!
//! Filled by the netstack issue; it is empty until then.
#![no_std]

pub mod uart;
