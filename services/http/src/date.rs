//! HTTP dates (RFC 9110 §5.6.7): the IMF-fixdate we send (`Sun, 06 Nov 1994 08:49:37 GMT`),
//! and the three formats a recipient must accept: IMF-fixdate, the obsolete RFC 850 form
//! (`Sunday, 06-Nov-94 08:49:37 GMT`) and ANSI C's asctime (`Sun Nov  6 08:49:37 1994`).
//!
//! Times are whole seconds since the Unix epoch; dates before 1970 are rejected, which is harmless
//! for validators (`Last-Modified`, `If-Modified-Since`).

use core::fmt;

use morgana_executor::UtcTime;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A point in time, to the second, that formats as an IMF-fixdate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpDate(u64);

impl HttpDate {
    /// The date `secs` seconds after the Unix epoch.
    pub const fn from_unix_secs(secs: u64) -> HttpDate {
        HttpDate(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_secs(self) -> u64 {
        self.0
    }

    /// The platform's wall clock now, where it has one (`None` outside an executor too).
    pub fn now() -> Option<HttpDate> {
        morgana_executor::executor::try_with_platform(|p| p.wall_clock())
            .flatten()
            .map(HttpDate::from)
    }

    /// Parses any of the three formats of RFC 9110 §5.6.7. Two-digit RFC 850 years are taken
    /// as 1970-2069 (the "50 years in the future" rule needs the current date; this window
    /// agrees with it until 2020+50).
    pub fn parse(s: &[u8]) -> Option<HttpDate> {
        let s = core::str::from_utf8(s).ok()?;
        parse_imf_fixdate(s)
            .or_else(|| parse_rfc850(s))
            .or_else(|| parse_asctime(s))
    }
}

impl From<UtcTime> for HttpDate {
    fn from(t: UtcTime) -> HttpDate {
        HttpDate(t.unix_secs())
    }
}

/// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`, always 29 bytes.
impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = UtcTime::from_unix_secs(self.0).civil();
        // 1970-01-01 was a Thursday.
        let weekday = DAYS[((self.0 / 86_400 + 4) % 7) as usize];
        let month = MONTHS[usize::from(mo - 1)];
        write!(
            f,
            "{weekday}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} GMT"
        )
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), for dates from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Count years from March, so that the leap day ends the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719_468 days from 0000-03-01 to 1970-01-01.
    (era * 146_097 + doe) - 719_468
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Exactly `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<u64> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(s: &str) -> Option<u64> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u64 + 1)
}

/// `HH:MM:SS`, in seconds.
fn time_of_day(s: &str) -> Option<u64> {
    let mut it = s.split(':');
    let (h, m, sec) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let (h, m, sec) = (digits(h, 2)?, digits(m, 2)?, digits(sec, 2)?);
    // 60 allows a leap second; it counts as the next second's first instant.
    (h < 24 && m < 60 && sec <= 60).then_some(h * 3600 + m * 60 + sec)
}

fn assemble(year: u64, month: u64, day: u64, time: u64) -> Option<HttpDate> {
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(HttpDate(days_from_civil(year, month, day) * 86_400 + time))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(s: &str) -> Option<HttpDate> {
    let rest = s.strip_suffix(" GMT")?;
    let (day_name, rest) = rest.split_once(", ")?;
    DAYS.contains(&day_name).then_some(())?;
    let mut it = rest.split(' ');
    let (d, mo, y, t) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    assemble(digits(y, 4)?, month(mo)?, digits(d, 2)?, time_of_day(t)?)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn parse_rfc850(s: &str) -> Option<HttpDate> {
    let rest = s.strip_suffix(" GMT")?;
    let (day_name, rest) = rest.split_once(", ")?;
    LONG_DAYS.contains(&day_name).then_some(())?;
    let (date, t) = rest.split_once(' ')?;
    let mut it = date.split('-');
    let (d, mo, y) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let yy = digits(y, 2)?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    assemble(year, month(mo)?, digits(d, 2)?, time_of_day(t)?)
}

/// `Sun Nov  6 08:49:37 1994` (the day padded with a space).
fn parse_asctime(s: &str) -> Option<HttpDate> {
    if s.len() != 24 {
        return None;
    }
    let (day_name, mo, d, t, y) = (
        s.get(0..3)?,
        s.get(4..7)?,
        s.get(8..10)?,
        s.get(11..19)?,
        s.get(20..24)?,
    );
    let seps = s.as_bytes();
    if seps[3] != b' ' || seps[7] != b' ' || seps[10] != b' ' || seps[19] != b' ' {
        return None;
    }
    DAYS.contains(&day_name).then_some(())?;
    let d = match d.as_bytes() {
        [b' ', x] if x.is_ascii_digit() => u64::from(x - b'0'),
        _ => digits(d, 2)?,
    };
    assemble(digits(y, 4)?, month(mo)?, d, time_of_day(t)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const RFC_EXAMPLE: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(
            HttpDate::from_unix_secs(RFC_EXAMPLE).to_string(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            HttpDate::from_unix_secs(0).to_string(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix_secs(951_782_400).to_string(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        // The simulator's wall clock at virtual time zero.
        assert_eq!(
            HttpDate::from_unix_secs(1_767_225_600).to_string(),
            "Thu, 01 Jan 2026 00:00:00 GMT"
        );
    }

    #[test]
    fn parses_the_three_formats() {
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                HttpDate::parse(s.as_bytes()),
                Some(HttpDate(RFC_EXAMPLE)),
                "{s}"
            );
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        for secs in [0, 86_399, 951_782_400, 1_767_225_600, 4_102_444_799] {
            let s = HttpDate(secs).to_string();
            assert_eq!(HttpDate::parse(s.as_bytes()), Some(HttpDate(secs)), "{s}");
        }
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(HttpDate::parse(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
