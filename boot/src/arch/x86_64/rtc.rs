//! Wall-clock time from the CMOS real-time clock (MC146818A and compatibles, ports 0x70/0x71).
//!
//! Reading follows the MC146818A datasheet's advice ("Update cycle"): the time registers change
//! during an update, which status A's UIP bit (register 0x0A, bit 7) announces 244 µs ahead, so
//! we wait for UIP to clear, read every register, and repeat until two readings agree. Status B
//! (0x0B) says how the values are encoded; [`crate::cmos`] decodes them.
//!
//! Port 0x70 selects the register; its bit 7 disables NMIs on PCs, and we always write it clear.
//! Every access is two port operations, which matter where port I/O is slow (about 70 µs each
//! under PVM): a reading costs about 34 of them, so do it once at boot, not per query.

use morgana_executor::UtcTime;
use x86_64::instructions::port::Port;

use crate::cmos::{self, CmosRegisters};

const INDEX_PORT: u16 = 0x70;
const DATA_PORT: u16 = 0x71;

/// Register indices (MC146818A address map; 0x32 is the PC century byte).
const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;
const CENTURY: u8 = 0x32;

/// Status A bit 7: update in progress.
const UIP: u8 = 1 << 7;
/// Bound on the UIP wait: it lasts under 2.3 ms on real chips (an instant in QEMU), and each
/// poll is a port round trip of 1 µs or more.
const MAX_UIP_POLLS: u32 = 5_000;
/// Bound on readings taken until two agree: one update can split at most one pair.
const MAX_READINGS: u32 = 5;

/// Reads one CMOS register.
fn read_register(index: u8) -> u8 {
    let mut index_port = Port::<u8>::new(INDEX_PORT);
    let mut data_port = Port::<u8>::new(DATA_PORT);
    // SAFETY: ports 0x70/0x71 are the PC's CMOS index and data ports. Selecting a register
    // (with bit 7, the NMI-disable bit, clear: NMIs stay enabled) and reading it has no side
    // effect on the registers we read (only status C, which we never read, clears on read).
    // Where there is no RTC the write goes nowhere and the read returns 0xff.
    unsafe {
        index_port.write(index & 0x7f);
        data_port.read()
    }
}

/// Waits (bounded) until no update is in progress; false if UIP never cleared.
fn wait_for_update_to_end() -> bool {
    (0..MAX_UIP_POLLS).any(|_| read_register(STATUS_A) & UIP == 0)
}

/// One reading of the time registers. Their order does not matter: a reading that straddles
/// an update differs from the next one, and is not used.
fn read_time(status_b: u8) -> CmosRegisters {
    CmosRegisters {
        seconds: read_register(SECONDS),
        minutes: read_register(MINUTES),
        hours: read_register(HOURS),
        day: read_register(DAY),
        month: read_register(MONTH),
        year: read_register(YEAR),
        century: Some(read_register(CENTURY)),
        status_b,
    }
}

/// The RTC's current time, taken to be UTC; `None` if there is no RTC (`-M microvm,rtc=off`:
/// the ports read 0xff), it never settles, or it holds an impossible date.
pub fn read() -> Option<UtcTime> {
    // Status B of 0xff would mean updates halted, every interrupt enabled and daylight saving
    // on at once: that is a floating bus, not an RTC.
    let status_b = read_register(STATUS_B);
    if status_b == 0xff {
        return None;
    }

    let mut previous: Option<CmosRegisters> = None;
    for _ in 0..MAX_READINGS {
        if !wait_for_update_to_end() {
            return None;
        }
        let current = read_time(status_b);
        if previous == Some(current) {
            return cmos::decode(&current);
        }
        previous = Some(current);
    }
    None
}
