//! The National Semiconductor 16550 UART (and its PC-compatible clones: QEMU's `serial`, COM1).
//!
//! Generic over how its eight byte-wide registers are reached ([`UartIo`]): x86 port I/O at
//! 0x3F8, or MMIO with some register stride on other machines. This module only decides what to
//! write where; the access itself, and any `unsafe` it needs, belongs to the platform.
//!
//! Reference: National Semiconductor (TI) PC16550D datasheet, "Registers" (table II, the
//! register summary) and "Programmable Baud Generator" (table III).

/// Access to the UART's registers by index 0-7.
///
/// Implementations must not reorder or merge accesses: each call is one hardware access (a
/// read of RBR or LSR has side effects).
pub trait UartIo {
    /// Reads register `reg` (0-7).
    fn read(&self, reg: u8) -> u8;
    /// Writes `value` to register `reg` (0-7).
    fn write(&self, reg: u8, value: u8);
}

/// Register offsets and bits (PC16550D datasheet, table II).
pub mod reg {
    /// Receiver Buffer Register (read, DLAB = 0): the next received byte.
    pub const RBR: u8 = 0;
    /// Transmitter Holding Register (write, DLAB = 0): the next byte to send.
    pub const THR: u8 = 0;
    /// Divisor Latch, least significant byte (DLAB = 1).
    pub const DLL: u8 = 0;
    /// Interrupt Enable Register (DLAB = 0).
    pub const IER: u8 = 1;
    /// Divisor Latch, most significant byte (DLAB = 1).
    pub const DLM: u8 = 1;
    /// Interrupt Identification Register (read).
    pub const IIR: u8 = 2;
    /// FIFO Control Register (write).
    pub const FCR: u8 = 2;
    /// Line Control Register.
    pub const LCR: u8 = 3;
    /// Modem Control Register.
    pub const MCR: u8 = 4;
    /// Line Status Register.
    pub const LSR: u8 = 5;
    /// Modem Status Register.
    pub const MSR: u8 = 6;
    /// Scratch Register: no function, present on the 16450 and later.
    pub const SCR: u8 = 7;

    /// IER bit 0: interrupt when received data is available (ERBFI).
    pub const IER_RX_AVAILABLE: u8 = 1 << 0;
    /// IIR bits 7:6: both set when the FIFOs are enabled (a 16550A or later).
    pub const IIR_FIFOS_ENABLED: u8 = 0b1100_0000;
    /// FCR bit 0: enable the FIFOs; bit 1: clear the receive FIFO; bit 2: clear the transmit
    /// FIFO. Bits 7:6 = 00: receive interrupt at 1 byte.
    pub const FCR_ENABLE_AND_CLEAR: u8 = 0b0000_0111;
    /// LCR bits 1:0 = 11: 8 data bits; bit 2 = 0: 1 stop bit; bit 3 = 0: no parity.
    pub const LCR_8N1: u8 = 0b0000_0011;
    /// LCR bit 7: Divisor Latch Access Bit (DLAB), which maps registers 0 and 1 to DLL/DLM.
    pub const LCR_DLAB: u8 = 1 << 7;
    /// MCR bit 0 DTR, bit 1 RTS, bit 3 OUT2 (on PCs OUT2 gates the UART's interrupt line).
    pub const MCR_DTR_RTS_OUT2: u8 = 0b0000_1011;
    /// LSR bit 0: Data Ready, a received byte is waiting in RBR.
    pub const LSR_DATA_READY: u8 = 1 << 0;
    /// LSR bit 5: Transmitter Holding Register Empty (in FIFO mode: the transmit FIFO is empty).
    pub const LSR_THR_EMPTY: u8 = 1 << 5;
}

/// The baud-rate generator's input clock on PCs, 1.8432 MHz; it divides by 16 × the divisor.
pub const CLOCK_HZ: u32 = 1_843_200;
/// The usual console rate, and the fastest a PC UART's 1.8432 MHz clock gives (divisor 1).
pub const DEFAULT_BAUD: u32 = 115_200;
/// The 16550's transmit FIFO depth.
const TX_FIFO_DEPTH: usize = 16;
/// How many LSR polls to wait for THRE before sending anyway (a wedged UART drops bytes rather
/// than hanging the system). At 115200 baud a full FIFO drains in 1.4 ms; a poll takes ≥ 0.1 µs.
const MAX_THRE_POLLS: u32 = 100_000;

/// A 16550 UART reached through `I`.
#[derive(Debug)]
pub struct Ns16550<I: UartIo> {
    io: I,
    /// Whether [`Ns16550::init`] found working FIFOs, so that a whole FIFO may be written per
    /// THRE.
    fifo: bool,
}

impl<I: UartIo> Ns16550<I> {
    /// Wraps the registers; does not touch the device (see [`Ns16550::init`]).
    pub const fn new(io: I) -> Self {
        Ns16550 { io, fifo: false }
    }

    /// The register access, e.g. to hand the device to another owner.
    pub fn io(&self) -> &I {
        &self.io
    }

    /// Programs `baud` (clamped to what a 1.8432 MHz clock can divide to: 115200 down to 2; 0
    /// means [`DEFAULT_BAUD`]), 8 data bits, no parity, 1 stop bit; enables and clears the
    /// FIFOs; raises DTR, RTS and OUT2; and disables every interrupt.
    pub fn init(&mut self, baud: u32) {
        let divisor = divisor_for(baud);
        self.io.write(reg::IER, 0);
        self.io.write(reg::LCR, reg::LCR_DLAB);
        let [lo, hi] = divisor.to_le_bytes();
        self.io.write(reg::DLL, lo);
        self.io.write(reg::DLM, hi);
        self.io.write(reg::LCR, reg::LCR_8N1);
        self.io.write(reg::FCR, reg::FCR_ENABLE_AND_CLEAR);
        self.io.write(reg::MCR, reg::MCR_DTR_RTS_OUT2);
        // A 16450 or an early 16550 has no (working) FIFO: IIR bits 7:6 say.
        self.fifo = self.io.read(reg::IIR) & reg::IIR_FIFOS_ENABLED == reg::IIR_FIFOS_ENABLED;
    }

    /// Sends `bytes` as they are (no newline translation), waiting for the transmitter before
    /// each byte, or, once [`Ns16550::init`] has found the FIFOs, before each FIFO-full of 16
    /// bytes (one status read per 16 bytes, which matters where each register access traps).
    pub fn write_bytes(&self, bytes: &[u8]) {
        let burst = if self.fifo { TX_FIFO_DEPTH } else { 1 };
        for chunk in bytes.chunks(burst) {
            self.wait_for_thr_empty();
            for &byte in chunk {
                self.io.write(reg::THR, byte);
            }
        }
    }

    /// The next received byte, if one is waiting.
    pub fn try_read(&self) -> Option<u8> {
        let lsr = self.io.read(reg::LSR);
        // 0xff is what an absent device reads as.
        if lsr != 0xff && lsr & reg::LSR_DATA_READY != 0 {
            Some(self.io.read(reg::RBR))
        } else {
            None
        }
    }

    /// Enables (or disables) the "received data available" interrupt, the only one this driver
    /// uses; the others stay off.
    pub fn enable_rx_interrupt(&self, on: bool) {
        self.io
            .write(reg::IER, if on { reg::IER_RX_AVAILABLE } else { 0 });
    }

    /// Whether a UART answers: the scratch register keeps two different patterns written to it.
    /// (An empty port reads 0xff; an 8250, which has no scratch register, is reported absent.)
    pub fn is_present(&self) -> bool {
        [0x5a, 0xa5].into_iter().all(|pattern| {
            self.io.write(reg::SCR, pattern);
            self.io.read(reg::SCR) == pattern
        })
    }

    fn wait_for_thr_empty(&self) {
        for _ in 0..MAX_THRE_POLLS {
            if self.io.read(reg::LSR) & reg::LSR_THR_EMPTY != 0 {
                return;
            }
            core::hint::spin_loop();
        }
    }
}

/// The divisor latch value for `baud`: `CLOCK_HZ / (16 × baud)`, rounded to nearest, kept in
/// 1..=65535; 0 baud means [`DEFAULT_BAUD`].
fn divisor_for(baud: u32) -> u16 {
    let baud = if baud == 0 { DEFAULT_BAUD } else { baud };
    let base = CLOCK_HZ / 16;
    let divisor = (base + baud / 2) / baud;
    u16::try_from(divisor.max(1)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::{Cell, RefCell};
    use std::vec::Vec;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Access {
        Read(u8),
        Write(u8, u8),
    }

    /// A register file that records every access. LSR reads report THRE clear for the first
    /// `busy_polls` reads; IIR reads report FIFOs as `fifo` says.
    struct FakeUart {
        regs: RefCell<[u8; 8]>,
        log: RefCell<Vec<Access>>,
        busy_polls: Cell<u32>,
        fifo: bool,
    }

    impl FakeUart {
        fn new() -> Self {
            FakeUart {
                regs: RefCell::new([0; 8]),
                log: RefCell::new(Vec::new()),
                busy_polls: Cell::new(0),
                fifo: true,
            }
        }

        fn writes(&self) -> Vec<(u8, u8)> {
            self.log
                .borrow()
                .iter()
                .filter_map(|a| match *a {
                    Access::Write(r, v) => Some((r, v)),
                    Access::Read(_) => None,
                })
                .collect()
        }
    }

    impl UartIo for &FakeUart {
        fn read(&self, reg: u8) -> u8 {
            self.log.borrow_mut().push(Access::Read(reg));
            match reg {
                reg::LSR => {
                    let busy = self.busy_polls.get();
                    if busy > 0 {
                        self.busy_polls.set(busy - 1);
                        0
                    } else {
                        reg::LSR_THR_EMPTY
                    }
                }
                reg::IIR if self.fifo => 0xc1,
                reg::IIR => 0x01,
                _ => self.regs.borrow()[usize::from(reg)],
            }
        }

        fn write(&self, reg: u8, value: u8) {
            self.log.borrow_mut().push(Access::Write(reg, value));
            self.regs.borrow_mut()[usize::from(reg)] = value;
        }
    }

    #[test]
    fn init_sequence() {
        let fake = FakeUart::new();
        let mut uart = Ns16550::new(&fake);
        uart.init(DEFAULT_BAUD);
        assert_eq!(
            fake.writes(),
            [
                (reg::IER, 0x00), // interrupts off
                (reg::LCR, 0x80), // DLAB on
                (reg::DLL, 0x01), // 115200 = 1.8432 MHz / 16 / 1
                (reg::DLM, 0x00),
                (reg::LCR, 0x03), // 8N1, DLAB off
                (reg::FCR, 0x07), // FIFOs on and cleared
                (reg::MCR, 0x0b), // DTR, RTS, OUT2
            ]
        );
        assert!(uart.fifo);
    }

    #[test]
    fn divisors() {
        assert_eq!(divisor_for(115_200), 1);
        assert_eq!(divisor_for(0), 1);
        assert_eq!(divisor_for(57_600), 2);
        assert_eq!(divisor_for(38_400), 3);
        assert_eq!(divisor_for(9_600), 12);
        assert_eq!(divisor_for(300), 384);
        assert_eq!(divisor_for(1), u16::MAX);
        assert_eq!(divisor_for(1_000_000), 1);

        let fake = FakeUart::new();
        Ns16550::new(&fake).init(9_600);
        assert_eq!(fake.writes()[2..4], [(reg::DLL, 12), (reg::DLM, 0)]);
        let fake = FakeUart::new();
        Ns16550::new(&fake).init(300);
        assert_eq!(fake.writes()[2..4], [(reg::DLL, 0x80), (reg::DLM, 0x01)]);
    }

    /// Without FIFOs: every byte is preceded by LSR reads until THRE, and sent as given.
    #[test]
    fn write_waits_for_thre_before_each_byte() {
        let fake = FakeUart {
            fifo: false,
            ..FakeUart::new()
        };
        let mut uart = Ns16550::new(&fake);
        uart.init(DEFAULT_BAUD);
        assert!(!uart.fifo);
        fake.log.borrow_mut().clear();
        fake.busy_polls.set(3);
        uart.write_bytes(b"a\nb");
        use Access::*;
        assert_eq!(
            *fake.log.borrow(),
            [
                Read(reg::LSR),
                Read(reg::LSR),
                Read(reg::LSR),
                Read(reg::LSR),
                Write(reg::THR, b'a'),
                Read(reg::LSR),
                Write(reg::THR, b'\n'),
                Read(reg::LSR),
                Write(reg::THR, b'b'),
            ]
        );
    }

    /// With FIFOs: THRE (the FIFO is empty) is awaited before each 16 bytes.
    #[test]
    fn write_fills_the_fifo_per_thre() {
        let fake = FakeUart::new();
        let mut uart = Ns16550::new(&fake);
        uart.init(DEFAULT_BAUD);
        fake.log.borrow_mut().clear();
        fake.busy_polls.set(2);
        let data: Vec<u8> = (0..40).collect();
        uart.write_bytes(&data);

        let log = fake.log.borrow();
        let mut sent = Vec::new();
        let mut since_thre = None;
        let mut lsr_reads = 0;
        for access in log.iter() {
            match *access {
                Access::Read(reg::LSR) => {
                    lsr_reads += 1;
                    since_thre = Some(0);
                }
                Access::Write(reg::THR, b) => {
                    let n = since_thre
                        .as_mut()
                        .expect("a THR write before any LSR read");
                    *n += 1;
                    assert!(*n <= 16, "more than a FIFO-full after one THRE");
                    sent.push(b);
                }
                other => panic!("unexpected access {other:?}"),
            }
        }
        assert_eq!(sent, data);
        // 2 busy polls, then one THRE per chunk of 16, 16, 8.
        assert_eq!(lsr_reads, 2 + 3);
    }

    #[test]
    fn write_gives_up_on_a_wedged_uart() {
        let fake = FakeUart {
            fifo: false,
            ..FakeUart::new()
        };
        fake.busy_polls.set(u32::MAX);
        Ns16550::new(&fake).write_bytes(b"x");
        assert_eq!(fake.writes(), [(reg::THR, b'x')]);
    }

    #[test]
    fn read_only_when_data_ready() {
        let fake = FakeUart::new();
        let uart = Ns16550::new(&fake);
        // The fake's LSR has DR clear.
        assert_eq!(uart.try_read(), None);

        struct Ready;
        impl UartIo for Ready {
            fn read(&self, reg: u8) -> u8 {
                match reg {
                    reg::LSR => reg::LSR_DATA_READY | reg::LSR_THR_EMPTY,
                    reg::RBR => b'q',
                    _ => 0,
                }
            }
            fn write(&self, _: u8, _: u8) {}
        }
        assert_eq!(Ns16550::new(Ready).try_read(), Some(b'q'));

        struct Absent;
        impl UartIo for Absent {
            fn read(&self, _: u8) -> u8 {
                0xff
            }
            fn write(&self, _: u8, _: u8) {}
        }
        assert_eq!(Ns16550::new(Absent).try_read(), None);
        assert!(!Ns16550::new(Absent).is_present());
    }

    #[test]
    fn rx_interrupt_and_presence() {
        let fake = FakeUart::new();
        let uart = Ns16550::new(&fake);
        uart.enable_rx_interrupt(true);
        uart.enable_rx_interrupt(false);
        assert!(uart.is_present());
        assert_eq!(
            fake.writes(),
            [
                (reg::IER, 0x01),
                (reg::IER, 0x00),
                (reg::SCR, 0x5a),
                (reg::SCR, 0xa5)
            ]
        );
    }
}
