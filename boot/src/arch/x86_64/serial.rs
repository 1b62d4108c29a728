//! COM1, a 16550 at I/O port 0x3f8: the console on QEMU.

use core::fmt;

use morgana_drivers::uart::{Ns16550, UartIo};
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// COM1's registers through port I/O.
#[derive(Clone, Copy, Debug)]
pub struct Com1;

impl UartIo for Com1 {
    fn read(&self, reg: u8) -> u8 {
        // SAFETY: reading a 16550 register has no effect beyond the UART (it may pop the
        // receive FIFO, which only the console owns).
        unsafe { Port::<u8>::new(COM1 + u16::from(reg)).read() }
    }

    fn write(&self, reg: u8, value: u8) {
        // SAFETY: COM1's ports belong to the console; writing them affects only the UART.
        unsafe { Port::<u8>::new(COM1 + u16::from(reg)).write(value) }
    }
}

/// Sets COM1 up: 115200 baud, 8N1, FIFOs on, interrupts off.
pub fn init() {
    Ns16550::new(Com1).init(115_200);
}

/// Writes bytes to COM1, waiting for room. Usable anywhere, crash handlers included.
pub fn write(bytes: &[u8]) {
    Ns16550::new(Com1).write_bytes(bytes);
}

/// COM1 as a `fmt::Write`.
#[derive(Debug)]
pub struct Writer;

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write(s.as_bytes());
        Ok(())
    }
}

/// A byte from COM1's receiver, if one is waiting.
pub fn try_read() -> Option<u8> {
    Ns16550::new(Com1).try_read()
}

/// Turns COM1's "data received" interrupt (ISA IRQ 4) on or off.
pub fn set_rx_interrupt(on: bool) {
    Ns16550::new(Com1).enable_rx_interrupt(on);
}
