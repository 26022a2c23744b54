//! `Retry-After` values as delta-seconds (up to and past `u64::MAX`, negative, fractional,
//! padded) or HTTP dates in all three formats (IMF-fixdate, RFC 850, asctime) from year 0001 to
//! 9999 and beyond, also fed to the client clock as `Date` headers; checked against what each
//! must give.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Year {
    Y0001,
    Y1969,
    Y1970,
    Y2000,
    Y2038,
    Y2106,
    Y9999,
    Y10000,
    Any(u16),
}

impl Year {
    fn value(self) -> u32 {
        match self {
            Year::Y0001 => 1,
            Year::Y1969 => 1969,
            Year::Y1970 => 1970,
            Year::Y2000 => 2000,
            Year::Y2038 => 2038,
            Year::Y2106 => 2106,
            Year::Y9999 => 9999,
            Year::Y10000 => 10000,
            Year::Any(y) => u32::from(y),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Format {
    Imf,
    Rfc850,
    Asctime,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Date {
    year: Year,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// `None`: the right weekday.
    weekday: Option<u8>,
    format: Format,
    /// Pick the last day and time of the year (9999-12-31T23:59:59 for year 9999).
    end_of_year: bool,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const LONG_DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn is_leap(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn month_days(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 (H. Hinnant's algorithm), for any year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Date {
    /// The header text, and the instant it names when it is a valid HTTP date.
    fn render(self) -> (String, Option<SystemTime>) {
        let mut year = self.year.value();
        let (month, day, hour, minute, second) = if self.end_of_year {
            (12, 31, 23, 59, 59)
        } else {
            let month = 1 + u32::from(self.month) % 12;
            (
                month,
                1 + u32::from(self.day) % 31,
                u32::from(self.hour) % 25,
                u32::from(self.minute) % 61,
                u32::from(self.second) % 61,
            )
        };
        if matches!(self.format, Format::Rfc850) {
            // Two digits: 70–99 are 19xx, 00–69 are 20xx.
            year = match year % 100 {
                yy @ 70..=99 => 1900 + yy,
                yy => 2000 + yy,
            };
        }
        let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
        let right = days.rem_euclid(7) as usize;
        let weekday = self.weekday.map_or(right, |w| usize::from(w) % 7);
        let text = match self.format {
            Format::Imf => format!(
                "{}, {day:02} {} {year:04} {hour:02}:{minute:02}:{second:02} GMT",
                DAYS[weekday],
                MONTHS[month as usize - 1]
            ),
            Format::Rfc850 => format!(
                "{}, {day:02}-{}-{:02} {hour:02}:{minute:02}:{second:02} GMT",
                LONG_DAYS[weekday],
                MONTHS[month as usize - 1],
                year % 100
            ),
            Format::Asctime => format!(
                "{} {} {day:>2} {hour:02}:{minute:02}:{second:02} {year:04}",
                DAYS[weekday],
                MONTHS[month as usize - 1]
            ),
        };
        let valid = (1970..=9999).contains(&year)
            && day <= month_days(year, month)
            && hour < 24
            && minute < 60
            && second < 60
            && weekday == right;
        let at = valid.then(|| {
            UNIX_EPOCH
                + Duration::from_secs(
                    days as u64 * 86_400
                        + u64::from(hour) * 3600
                        + u64::from(minute) * 60
                        + u64::from(second),
                )
        });
        (text, at)
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Value {
    Seconds(u64),
    U64Max,
    /// `u64::MAX + 1` and beyond: 20 to 40 digits.
    Beyond(u8),
    Negative(i64),
    Fraction(u32, u16),
    Exponent(i16),
    Padded(Box<Value>),
    Date(Date),
    Garbage(String),
    Empty,
}

impl Value {
    /// The text and what `parse_retry_after` must return: `Some(Some(d))` exactly `d`,
    /// `Some(None)` nothing, `None` a date (checked against the clock).
    fn render(&self) -> (String, Option<Option<Duration>>, Option<SystemTime>) {
        match self {
            Value::Seconds(s) => (s.to_string(), Some(Some(Duration::from_secs(*s))), None),
            Value::U64Max => (
                u64::MAX.to_string(),
                Some(Some(Duration::from_secs(u64::MAX))),
                None,
            ),
            Value::Beyond(n) => {
                let text = format!("1{}", "8".repeat(19 + usize::from(*n) % 21));
                (text, Some(None), None)
            }
            Value::Negative(v) if *v < 0 => (v.to_string(), Some(None), None),
            Value::Negative(v) => (
                v.to_string(),
                Some(Some(Duration::from_secs(v.unsigned_abs()))),
                None,
            ),
            Value::Fraction(a, b) => (
                format!("{a}.{}", u32::from(*b) % 9999 + 1),
                Some(None),
                None,
            ),
            Value::Exponent(e) => (format!("1e{e}"), Some(None), None),
            Value::Padded(inner) => {
                let (text, expect, at) = inner.render();
                (format!(" \t{text} "), expect, at)
            }
            Value::Date(date) => {
                let (text, at) = date.render();
                match at {
                    Some(at) => (text, None, Some(at)),
                    None => (text, Some(None), None),
                }
            }
            Value::Garbage(text) => (text.clone(), None, None),
            Value::Empty => (String::new(), Some(None), None),
        }
    }
}

fuzz_target!(|value: Value| {
    let (text, expect, at) = value.render();
    let before = SystemTime::now();
    let wait = agora_link::fuzzing::retry_after(&text);
    let corrected = agora_link::fuzzing::date_header(&text);
    let after = SystemTime::now();
    if let Some(expect) = expect {
        if !matches!(value, Value::Garbage(_)) {
            assert_eq!(wait, expect, "{text:?}");
        }
    }
    if let Some(at) = at {
        // A date: the wait until it (zero once past), and the clock set to it.
        let wait = wait.unwrap_or_else(|| panic!("{text:?} did not parse"));
        let until = at.duration_since(before).unwrap_or_default();
        assert!(wait <= until, "{text:?}: {wait:?} > {until:?}");
        assert!(
            wait + after.duration_since(before).unwrap_or_default() + Duration::from_secs(1)
                >= until,
            "{text:?}: {wait:?} for {until:?}"
        );
        let now = corrected.unwrap_or_else(|| panic!("{text:?}: Date refused"));
        assert!(
            now >= at && now <= at + Duration::from_secs(30),
            "{text:?}: {now:?}"
        );
    } else if !matches!(value, Value::Garbage(_)) {
        assert!(corrected.is_none(), "{text:?} is no HTTP date");
    }
});
