//! UARTs, for consoles: the 16550 ([`ns16550`]; PC COM ports, QEMU's `serial`). The PL011
//! joins it with the AArch64 issue.
//!
//! Drivers here say what to write to which register; how a register is reached (x86 port I/O,
//! MMIO) is the platform's [`UartIo`] implementation, so this module has no `unsafe`.

pub mod ns16550;

pub use ns16550::{Ns16550, UartIo};
