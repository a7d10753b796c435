//! Civil dates in the proleptic Gregorian calendar, for the date headers of HTTP
//! (IMF-fixdate) and SIP/GB28181 and the log's timestamps (RFC 3339): days since 1970-01-01 to
//! year/month/day and back. Pure arithmetic (H. Hinnant, "chrono-Compatible Low-Level Date
//! Algorithms", `civil_from_days` and `days_from_civil`); nothing here reads the clock.

use std::fmt;

/// A day of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    pub year: u64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
}

/// Days in a 400-year era, and from 0000-03-01 (the algorithm's epoch) to 1970-01-01.
const DAYS_PER_ERA: u64 = 146_097;
const EPOCH_SHIFT: u64 = 719_468;

/// Days since 1970-01-01 to the civil date. Any `u64` day count up to `u64::MAX -
/// 719_468` is valid; callers bound the year they print.
pub fn civil_from_days(days: u64) -> CivilDate {
    let z = days.saturating_add(EPOCH_SHIFT);
    let era = z / DAYS_PER_ERA;
    let doe = z % DAYS_PER_ERA;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // day <= 31 and month <= 12: both fit.
    CivilDate {
        year,
        month: month as u32,
        day: day as u32,
    }
}

/// The civil date to days since 1970-01-01; `None` before 1970 or for a month or day out
/// of range (the day is not checked against the month's length).
pub fn days_from_civil(date: CivilDate) -> Option<u64> {
    if !(1..=12).contains(&date.month) || !(1..=31).contains(&date.day) {
        return None;
    }
    let year = date.year.checked_sub(u64::from(date.month <= 2))?;
    let era = year / 400;
    let yoe = year % 400;
    let month = u64::from(date.month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + u64::from(date.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(DAYS_PER_ERA)?
        .checked_add(doe)?
        .checked_sub(EPOCH_SHIFT)
}

/// 0 Sunday .. 6 Saturday for days since 1970-01-01 (a Thursday).
pub fn weekday(days: u64) -> u32 {
    ((days + 4) % 7) as u32
}

/// A UTC instant written as RFC 3339 (§5.6 `date-time` with `Z`), the fraction of a second
/// without trailing zeros and left out when zero: `2026-01-05T08:20:03.3895Z`,
/// `1970-01-01T00:00:00Z`. The log's timestamps; years past 9999 are written with more digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339 {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_secs: u64,
    /// 0..=999_999_999.
    pub nanos: u32,
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.unix_secs % 86_400;
        let CivilDate { year, month, day } = civil_from_days(self.unix_secs / 86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )?;
        let (mut fraction, mut digits) = (self.nanos % 1_000_000_000, 9);
        if fraction != 0 {
            while fraction % 10 == 0 {
                fraction /= 10;
                digits -= 1;
            }
            write!(f, ".{fraction:0digits$}")?;
        }
        f.write_str("Z")
    }
}

impl Rfc3339 {
    /// Reads an RFC 3339 `date-time` (§5.6): `2026-01-05T08:20:03Z`, with an optional
    /// fraction (digits past the nanosecond ignored) and `Z` or a `+hh:mm`/`-hh:mm` offset;
    /// `t` and `z` in lower case and a space for `T` as §5.6 allows. `None` for anything
    /// else and for instants before 1970.
    pub fn parse(text: &str) -> Option<Rfc3339> {
        let b = text.as_bytes();
        let num = |from: usize, len: usize| -> Option<u64> {
            let digits = b.get(from..from + len)?;
            digits.iter().try_fold(0u64, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
            })
        };
        let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
        if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
            return None;
        }
        let date = CivilDate {
            year: num(0, 4)?,
            month: num(5, 2)? as u32,
            day: num(8, 2)? as u32,
        };
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut at = 19;
        let mut nanos = 0u32;
        if sep(at, b".") {
            at += 1;
            let start = at;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                if at - start < 9 {
                    nanos = nanos * 10 + u32::from(b[at] - b'0');
                }
                at += 1;
            }
            let digits = at - start;
            if digits == 0 {
                return None;
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        let offset_s: i64 = match b.get(at) {
            Some(b'Z' | b'z') if b.len() == at + 1 => 0,
            Some(&sign @ (b'+' | b'-')) if b.len() == at + 6 && sep(at + 3, b":") => {
                let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let s = (h * 3600 + m * 60) as i64;
                if sign == b'+' {
                    s
                } else {
                    -s
                }
            }
            _ => return None,
        };
        let days = days_from_civil(date)?;
        let local = days.checked_mul(86_400)? + hour * 3600 + minute * 60 + second.min(59);
        let unix = i64::try_from(local).ok()?.checked_sub(offset_s)?;
        Some(Rfc3339 {
            unix_secs: u64::try_from(unix).ok()?,
            nanos,
        })
    }

    /// Milliseconds since the epoch.
    pub fn unix_ms(&self) -> u64 {
        self.unix_secs
            .saturating_mul(1000)
            .saturating_add(u64::from(self.nanos / 1_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_what_it_writes_and_offsets() {
        for text in [
            "2026-01-05T08:20:03.3895Z",
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.5Z",
        ] {
            assert_eq!(Rfc3339::parse(text).unwrap().to_string(), text);
        }
        let utc = Rfc3339::parse("2026-12-06T02:00:00Z").unwrap();
        assert_eq!(Rfc3339::parse("2026-12-06T10:00:00+08:00"), Some(utc));
        assert_eq!(Rfc3339::parse("2026-12-05t21:00:00-05:00"), Some(utc));
        assert_eq!(Rfc3339::parse("2026-12-06 02:00:00z"), Some(utc));
        assert_eq!(utc.unix_ms(), 1_796_522_400_000);
        assert_eq!(
            Rfc3339::parse("2026-12-06T02:00:00.123456789123Z")
                .unwrap()
                .nanos,
            123_456_789
        );
        for bad in [
            "",
            "2026-12-06",
            "2026-12-06T02:00:00",
            "2026-13-06T02:00:00Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T02:00:00.Z",
            "2026-12-06T02:00:00+0800",
            "2026-12-06T02:00:00Zx",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "２026-12-06T02:00:00Z",
        ] {
            assert_eq!(Rfc3339::parse(bad), None, "{bad:?}");
        }
    }

    fn date(year: u64, month: u32, day: u32) -> CivilDate {
        CivilDate { year, month, day }
    }

    #[test]
    fn known_days() {
        for (days, d, wd) in [
            (0, date(1970, 1, 1), 4),
            (59, date(1970, 3, 1), 0),
            (9_075, date(1994, 11, 6), 0),
            (11_016, date(2000, 2, 29), 2),
            (19_782, date(2024, 2, 29), 4),
            (20_454, date(2026, 1, 1), 4),
            (2_932_896, date(9999, 12, 31), 5),
        ] {
            assert_eq!(civil_from_days(days), d, "{days}");
            assert_eq!(days_from_civil(d), Some(days), "{d:?}");
            assert_eq!(weekday(days), wd, "{days}");
        }
    }

    #[test]
    fn round_trip_and_order() {
        let mut last = civil_from_days(0);
        for days in 1..200_000 {
            let d = civil_from_days(days);
            assert!(d > last);
            assert_eq!(days_from_civil(d), Some(days));
            last = d;
        }
    }

    #[test]
    fn out_of_range() {
        assert_eq!(days_from_civil(date(1969, 12, 31)), None);
        assert_eq!(days_from_civil(date(2000, 13, 1)), None);
        assert_eq!(days_from_civil(date(2000, 0, 1)), None);
        assert_eq!(days_from_civil(date(2000, 1, 0)), None);
        assert_eq!(days_from_civil(date(0, 1, 1)), None);
        assert_eq!(days_from_civil(date(u64::MAX, 12, 31)), None);
        let _ = civil_from_days(u64::MAX);
    }

    #[test]
    fn rfc3339_trims_the_fraction() {
        let at = |unix_secs, nanos| Rfc3339 { unix_secs, nanos }.to_string();
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            at(1_798_705_203, 389_534_798),
            "2026-12-31T08:20:03.389534798Z"
        );
        assert_eq!(at(1_798_705_203, 389_500_000), "2026-12-31T08:20:03.3895Z");
        assert_eq!(at(1_798_705_203, 5_000_000), "2026-12-31T08:20:03.005Z");
        assert_eq!(at(1_798_705_203, 1), "2026-12-31T08:20:03.000000001Z");
        assert_eq!(at(951_868_799, 100_000_000), "2000-02-29T23:59:59.1Z");
        assert_eq!(at(253_402_300_799, 0), "9999-12-31T23:59:59Z");
    }
}
