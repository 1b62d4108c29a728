//! The PL011 UART, transmit only: the console.
//!
//! Ref: Arm PrimeCell UART (PL011) Technical Reference Manual, 3.3: UARTDR at 0x00, UARTFR at
//! 0x18 (TXFF, bit 5: the transmit FIFO is full). Firmware (or QEMU) leaves it enabled at its
//! baud rate, so writing is all there is.

use core::sync::atomic::{AtomicU64, Ordering};

/// The UART's base address; 0 until the device tree named it.
static BASE: AtomicU64 = AtomicU64::new(0);

/// QEMU `virt`'s PL011, used only to report a device tree that cannot be read.
pub const QEMU_VIRT_UART: u64 = 0x0900_0000;

/// Uses the PL011 at `base` (mapped as device memory).
pub fn init(base: u64) {
    BASE.store(base, Ordering::Release);
}

/// Writes `bytes`; nothing before [`init`].
pub fn write(bytes: &[u8]) {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    for &b in bytes {
        // SAFETY: `init` was given the PL011's register block from the device tree, mapped as
        // device memory; polling UARTFR and writing UARTDR only sends the byte.
        unsafe {
            while ((base + 0x18) as *const u32).read_volatile() & (1 << 5) != 0 {
                core::hint::spin_loop();
            }
            (base as *mut u32).write_volatile(u32::from(b));
        }
    }
}
