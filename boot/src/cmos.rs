//! Decoding the MC146818-compatible CMOS real-time clock's time registers into a [`UtcTime`].
//!
//! Pure code: no port access (that is `arch::x86_64::rtc`), so it compiles on every target and its
//! tests run on the host.
//!
//! The register layout is the Motorola MC146818A datasheet's ("Address map", "Time, calendar and
//! alarm data modes"), which every PC chipset and QEMU's `mc146818rtc` device implement:
//!
//! | register | contents |
//! |---|---|
//! | 0x00 | seconds, 0-59 |
//! | 0x02 | minutes, 0-59 |
//! | 0x04 | hours: 0-23, or 1-12 with bit 7 set for PM in 12-hour mode |
//! | 0x07 | day of the month, 1-31 |
//! | 0x08 | month, 1-12 |
//! | 0x09 | year within the century, 0-99 |
//! | 0x0B | status B: bit 2 (DM) set = binary, clear = BCD; bit 1 (24/12) set = 24-hour mode |
//! | 0x32 | century, 19-29 (not an MC146818 register: the ACPI FADT's `CENTURY` field names it) |
//!
//! The century byte is at 0x32 on PCs and in QEMU.
//!
//! The RTC is assumed to keep UTC (QEMU's default `-rtc base=utc`); there is no time-zone
//! information in the hardware to say otherwise.

use morgana_executor::UtcTime;

/// Status B bit 2 (DM): the time registers hold binary values rather than BCD.
const STATUS_B_BINARY: u8 = 1 << 2;
/// Status B bit 1 (24/12): the hours register counts 0-23 rather than 1-12 with a PM flag.
const STATUS_B_24_HOUR: u8 = 1 << 1;
/// In 12-hour mode, bit 7 of the hours register is set for PM.
const HOURS_PM: u8 = 1 << 7;

/// Centuries the century register may plausibly hold (years 1900-2999); outside this range it
/// is taken to be absent or garbage and the year is pivoted instead.
const PLAUSIBLE_CENTURIES: core::ops::RangeInclusive<u32> = 19..=29;
/// Without a (plausible) century register, two-digit years below this are 20xx, others 19xx.
const PIVOT_YEAR: u32 = 70;

/// The raw bytes of the RTC's time and status registers, as read from the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmosRegisters {
    /// Register 0x00.
    pub seconds: u8,
    /// Register 0x02.
    pub minutes: u8,
    /// Register 0x04 (bit 7 is the PM flag in 12-hour mode).
    pub hours: u8,
    /// Register 0x07, day of the month.
    pub day: u8,
    /// Register 0x08.
    pub month: u8,
    /// Register 0x09, year within the century.
    pub year: u8,
    /// Register 0x32 if the platform has one; ignored unless it decodes to 19-29.
    pub century: Option<u8>,
    /// Register 0x0B, which says how the others are encoded.
    pub status_b: u8,
}

/// Converts the registers to a point in UTC.
///
/// Returns `None` for any impossible value: a BCD nibble above 9, second or minute above 59, an
/// hour out of range for the mode, a day the month does not have, a month outside 1-12, or a date
/// before the Unix epoch. Never panics.
pub fn decode(r: &CmosRegisters) -> Option<UtcTime> {
    let binary = r.status_b & STATUS_B_BINARY != 0;
    let field = |raw: u8| -> Option<u32> {
        if binary {
            Some(u32::from(raw))
        } else {
            from_bcd(raw)
        }
    };

    let second = field(r.seconds)?;
    let minute = field(r.minutes)?;
    let hour = if r.status_b & STATUS_B_24_HOUR != 0 {
        field(r.hours)?
    } else {
        // 12-hour mode: 12 AM is midnight (0), 12 PM is noon (12).
        let pm = r.hours & HOURS_PM != 0;
        let h = field(r.hours & !HOURS_PM)?;
        if !(1..=12).contains(&h) {
            return None;
        }
        (h % 12) + if pm { 12 } else { 0 }
    };
    let day = field(r.day)?;
    let month = field(r.month)?;
    let year_in_century = field(r.year)?;

    if second > 59 || minute > 59 || hour > 23 || year_in_century > 99 {
        return None;
    }
    if !(1..=12).contains(&month) {
        return None;
    }

    let century = r
        .century
        .and_then(field)
        .filter(|c| PLAUSIBLE_CENTURIES.contains(c));
    let year = match century {
        Some(c) => c * 100 + year_in_century,
        None if year_in_century < PIVOT_YEAR => 2000 + year_in_century,
        None => 1900 + year_in_century,
    };
    if year < 1970 || day < 1 || day > days_in_month(year, month) {
        return None;
    }

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + u64::from(hour * 3600 + minute * 60 + second);
    Some(UtcTime::from_unix_secs(secs))
}

/// A packed BCD byte (two decimal digits) as a number, or `None` if a nibble is above 9.
fn from_bcd(raw: u8) -> Option<u32> {
    let (hi, lo) = (raw >> 4, raw & 0x0f);
    if hi > 9 || lo > 9 {
        None
    } else {
        Some(u32::from(hi) * 10 + u32::from(lo))
    }
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1-12) of `year` (Gregorian).
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date, which must be on or after it (Howard Hinnant's
/// `days_from_civil`, public domain, restricted to non-negative years).
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let m = u64::from(month);
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status B as QEMU and most firmware leave it: BCD, 24-hour.
    const BCD_24: u8 = STATUS_B_24_HOUR;
    const BIN_24: u8 = STATUS_B_24_HOUR | STATUS_B_BINARY;
    const BCD_12: u8 = 0;
    const BIN_12: u8 = STATUS_B_BINARY;

    fn regs(
        status_b: u8,
        century: Option<u8>,
        (year, month, day): (u8, u8, u8),
        (hours, minutes, seconds): (u8, u8, u8),
    ) -> CmosRegisters {
        CmosRegisters {
            seconds,
            minutes,
            hours,
            day,
            month,
            year,
            century,
            status_b,
        }
    }

    fn secs(r: &CmosRegisters) -> Option<u64> {
        decode(r).map(UtcTime::unix_secs)
    }

    #[test]
    fn bcd_24_hour_with_century() {
        // 2026-11-27T00:47:36Z
        let r = regs(BCD_24, Some(0x20), (0x26, 0x11, 0x27), (0x00, 0x47, 0x36));
        assert_eq!(secs(&r), Some(1_795_740_456));
    }

    #[test]
    fn binary_24_hour_with_century() {
        let r = regs(BIN_24, Some(20), (26, 11, 27), (0, 47, 36));
        assert_eq!(secs(&r), Some(1_795_740_456));
    }

    #[test]
    fn epoch_and_leap_day() {
        let epoch = regs(BCD_24, Some(0x19), (0x70, 0x01, 0x01), (0, 0, 0));
        assert_eq!(secs(&epoch), Some(0));
        // 2000-02-29T00:00:00Z
        let leap = regs(BCD_24, Some(0x20), (0x00, 0x02, 0x29), (0, 0, 0));
        assert_eq!(secs(&leap), Some(951_782_400));
        // 1900 was not a leap year, 2100 will not be; 2024 was.
        let not_leap = regs(BCD_24, Some(0x21), (0x00, 0x02, 0x29), (0, 0, 0));
        assert_eq!(decode(&not_leap), None);
        let leap_2024 = regs(BCD_24, Some(0x20), (0x24, 0x02, 0x29), (0x23, 0x59, 0x59));
        assert_eq!(secs(&leap_2024), Some(1_709_251_199));
    }

    #[test]
    fn twelve_hour_mode() {
        let at = |status_b: u8, hours| {
            let date = if status_b & STATUS_B_BINARY != 0 {
                (26, 11, 27)
            } else {
                (0x26, 0x11, 0x27)
            };
            let century = if status_b & STATUS_B_BINARY != 0 {
                20
            } else {
                0x20
            };
            secs(&regs(status_b, Some(century), date, (hours, 0, 0)))
        };
        let midnight = 1_795_737_600;
        // BCD: 12 AM is midnight, 1 AM, 11 AM, 12 PM is noon, 1 PM, 11 PM.
        assert_eq!(at(BCD_12, 0x12), Some(midnight));
        assert_eq!(at(BCD_12, 0x01), Some(midnight + 3600));
        assert_eq!(at(BCD_12, 0x11), Some(midnight + 11 * 3600));
        assert_eq!(at(BCD_12, 0x80 | 0x12), Some(midnight + 12 * 3600));
        assert_eq!(at(BCD_12, 0x80 | 0x01), Some(midnight + 13 * 3600));
        assert_eq!(at(BCD_12, 0x80 | 0x11), Some(midnight + 23 * 3600));
        // Binary, the same.
        assert_eq!(at(BIN_12, 12), Some(midnight));
        assert_eq!(at(BIN_12, 0x80 | 12), Some(midnight + 12 * 3600));
        assert_eq!(at(BIN_12, 0x80 | 11), Some(midnight + 23 * 3600));
        // Hour 0 and 13 do not exist on a 12-hour clock.
        assert_eq!(at(BCD_12, 0x00), None);
        assert_eq!(at(BCD_12, 0x80), None);
        assert_eq!(at(BCD_12, 0x13), None);
        assert_eq!(at(BIN_12, 13), None);
    }

    #[test]
    fn year_pivot_without_or_with_implausible_century() {
        let expected = Some(1_795_740_456);
        for century in [None, Some(0x00), Some(0xff), Some(0x30), Some(0x1a)] {
            let r = regs(BCD_24, century, (0x26, 0x11, 0x27), (0x00, 0x47, 0x36));
            assert_eq!(secs(&r), expected, "century {century:?}");
        }
        // 99 without a century is 1999.
        let r = regs(BCD_24, None, (0x99, 0x12, 0x31), (0x23, 0x59, 0x59));
        assert_eq!(secs(&r), Some(946_684_799));
        // A plausible century before the epoch is refused rather than wrapped.
        let r = regs(BCD_24, Some(0x19), (0x69, 0x12, 0x31), (0x23, 0x59, 0x59));
        assert_eq!(decode(&r), None);
    }

    #[test]
    fn impossible_values() {
        let ok = regs(BCD_24, Some(0x20), (0x26, 0x11, 0x27), (0x00, 0x47, 0x36));
        assert!(decode(&ok).is_some());
        let bad = [
            CmosRegisters {
                seconds: 0x60,
                ..ok
            },
            CmosRegisters {
                seconds: 0x1a,
                ..ok
            },
            CmosRegisters {
                minutes: 0x60,
                ..ok
            },
            CmosRegisters { hours: 0x24, ..ok },
            CmosRegisters { hours: 0x80, ..ok },
            CmosRegisters { day: 0x00, ..ok },
            CmosRegisters { day: 0x31, ..ok }, // November has 30 days
            CmosRegisters { month: 0x00, ..ok },
            CmosRegisters { month: 0x13, ..ok },
            CmosRegisters { year: 0xa0, ..ok },
            CmosRegisters {
                status_b: BIN_24,
                ..ok
            }, // 0x47 = 71 minutes in binary
            CmosRegisters {
                status_b: 0xff,
                seconds: 0xff,
                ..ok
            },
        ];
        for r in bad {
            assert_eq!(decode(&r), None, "{r:?}");
        }
    }

    #[test]
    fn bcd_digits() {
        assert_eq!(from_bcd(0x00), Some(0));
        assert_eq!(from_bcd(0x59), Some(59));
        assert_eq!(from_bcd(0x99), Some(99));
        assert_eq!(from_bcd(0x0a), None);
        assert_eq!(from_bcd(0xa0), None);
    }

    #[test]
    fn days_from_civil_agrees_with_utc_time() {
        // Every first of the month for 1970-2999 round-trips through UtcTime::civil.
        for year in 1970..3000 {
            for month in 1..=12 {
                let day = days_in_month(year, month);
                let t = UtcTime::from_unix_secs(days_from_civil(year, month, day) * 86_400);
                let (y, m, d, ..) = t.civil();
                assert_eq!(
                    (y, u32::from(m), u32::from(d)),
                    (i64::from(year), month, day)
                );
            }
        }
    }

    /// Every hours byte under every status B, and a few million pseudo-random register files:
    /// decode returns and never panics (overflow checks are on in test builds).
    #[test]
    fn no_input_panics() {
        for status_b in 0..=255u8 {
            for hours in 0..=255u8 {
                let _ = decode(&regs(
                    status_b,
                    Some(hours),
                    (hours, hours, hours),
                    (hours, hours, hours),
                ));
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()
        };
        let mut decoded = 0u32;
        for _ in 0..2_000_000 {
            let [a, b, c, d, e, f, g, h] = next();
            let century = if g & 1 == 0 { Some(g) } else { None };
            // Bias half the samples towards valid BCD so the deep paths run too.
            let bcd = |x: u8, max: u8| {
                if h & 2 == 0 {
                    x
                } else {
                    let v = x % max;
                    ((v / 10) << 4) | (v % 10)
                }
            };
            let r = CmosRegisters {
                seconds: bcd(a, 60),
                minutes: bcd(b, 60),
                hours: bcd(c, 24),
                day: bcd(d, 32),
                month: bcd(e, 13),
                year: bcd(f, 100),
                century,
                status_b: h,
            };
            if decode(&r).is_some() {
                decoded += 1;
            }
        }
        assert!(
            decoded > 1000,
            "the sampler should reach valid dates too ({decoded})"
        );
    }
}
