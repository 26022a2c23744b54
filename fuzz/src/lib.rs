//! Shared input handling and generators for the fuzz targets in `fuzz_targets/`.
//!
//! Byte-level targets read raw input: [`status_and_body`] takes an optional one-byte status
//! selector, so that the spec's JSON examples work as seeds unchanged. Structure-aware targets
//! build JSON text from the spec's shapes with a [`Num`] in every numeric field: extreme integers,
//! huge exponents, fractions, numeric strings, `null`, absent fields. Each [`Num`] knows what
//! the library's lenient integer reader (`flexible_i64`) must make of it, so the targets check
//! values, not only the absence of panics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;

/// The statuses a leading selector byte `0..=8` picks.
pub const STATUSES: [u16; 9] = [200, 201, 400, 401, 404, 429, 500, 502, 503];

/// `(status, body)`: a first byte `0..=8` picks a status from [`STATUSES`] and the body is the
/// rest; any other first byte (JSON starts with `{`, whitespace, …) makes the whole input the
/// body of a 200 answer.
pub fn status_and_body(data: &[u8]) -> (u16, &[u8]) {
    match data.first() {
        Some(&selector) if usize::from(selector) < STATUSES.len() => {
            (STATUSES[usize::from(selector)], &data[1..])
        }
        _ => (200, data),
    }
}

/// `data` split at its first `0xFF` byte (which never occurs in UTF-8 text).
pub fn split_ff(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

/// The first `n` lines of `data` (lossy UTF-8; missing lines are `None`) and the rest.
pub fn lines(data: &[u8], n: usize) -> (Vec<Option<String>>, &[u8]) {
    let mut rest = data;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match rest.iter().position(|&b| b == b'\n') {
            Some(at) => {
                out.push(Some(String::from_utf8_lossy(&rest[..at]).into_owned()));
                rest = &rest[at + 1..];
            }
            None if !rest.is_empty() => {
                out.push(Some(String::from_utf8_lossy(rest).into_owned()));
                rest = &[];
            }
            None => out.push(None),
        }
    }
    (out, rest)
}

/// The 365-day cap on lifetimes (`agora_link::wire_time::MAX_LIFETIME`).
pub const MAX_LIFETIME: Duration = agora_link::wire_time::MAX_LIFETIME;

/// The latest absolute time taken from a server: 9999-12-31T23:59:59Z.
pub fn max_epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(agora_link::wire_time::MAX_EPOCH_SECONDS)
}

/// What a numeric field must decode to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// This integer.
    Int(i64),
    /// An error (the whole answer fails to decode).
    Reject,
    /// Not predicted (the value is accepted or refused; only the invariants are checked).
    Unknown,
}

impl Expect {
    /// As a count of seconds (`flexible_seconds`): negative values are refused.
    pub fn seconds(self) -> Expect {
        match self {
            Expect::Int(v) if v < 0 => Expect::Reject,
            other => other,
        }
    }
}

/// A value for a numeric field, rendered as JSON text.
#[derive(Arbitrary, Debug, Clone)]
pub enum Num {
    /// Any `i64`.
    Int(i64),
    /// Any `u64` (above `i64::MAX`: out of range).
    UInt(u64),
    /// `18446744073709551615`.
    U64Max,
    /// `-9223372036854775808`.
    I64Min,
    /// `9223372036854775807`.
    I64Max,
    /// `9223372036854775808`.
    I64MaxPlusOne,
    /// `9…9`, 1 to 60 nines.
    Nines(u8),
    /// `-9…9`, 1 to 60 nines.
    NegNines(u8),
    /// `1e308`.
    Pos1e308,
    /// `-1e308`.
    Neg1e308,
    /// `1e<n>`, any exponent (beyond ±308: out of `f64`'s range).
    Exp(i16),
    /// `<m>e<n>`.
    MantExp(u16, i16),
    /// `<a>.<b>` with a non-zero fraction.
    Frac(u32, u16),
    /// `-<a>.<b>` with a non-zero fraction.
    NegFrac(u32, u16),
    /// `<a>.0`.
    IntegralFloat(u32),
    /// `-0`.
    MinusZero,
    /// `-0.0`.
    MinusZeroFloat,
    /// Any finite `f64` in Rust's shortest form (`1e308`, `0.1`, `5e-324`); NaN and infinities
    /// become `null`.
    Float(f64),
    /// The JSON string of the inner value's text (`"1e30"`, `"18446744073709551615"`).
    Str(Box<Num>),
    /// Like [`Num::Str`], padded with spaces.
    PaddedStr(Box<Num>),
    /// Any JSON string.
    Text(String),
    /// `null`.
    Null,
    /// The field is left out.
    Absent,
    /// `true` or `false`.
    Bool(bool),
    /// `""`.
    EmptyStr,
    /// `{}`.
    Object,
    /// `[]`.
    Array,
}

fn nines(n: u8) -> String {
    "9".repeat(1 + usize::from(n) % 60)
}

fn frac_digits(b: u16) -> String {
    format!("{:04}", u32::from(b) % 9999 + 1)
}

impl Num {
    /// The JSON text, or `None` for [`Num::Absent`].
    pub fn json(&self) -> Option<String> {
        self.json_at(0)
    }

    /// The JSON text at nesting `depth`. Strings nested deeper than two levels are cut to `""`
    /// (each level doubles the escapes: unbounded nesting grows exponentially); any string
    /// holding a string is refused all the same.
    fn json_at(&self, depth: usize) -> Option<String> {
        if depth > 2 && matches!(self, Num::Str(_) | Num::PaddedStr(_)) {
            return Some("\"\"".into());
        }
        Some(match self {
            Num::Int(v) => v.to_string(),
            Num::UInt(v) => v.to_string(),
            Num::U64Max => u64::MAX.to_string(),
            Num::I64Min => i64::MIN.to_string(),
            Num::I64Max => i64::MAX.to_string(),
            Num::I64MaxPlusOne => "9223372036854775808".into(),
            Num::Nines(n) => nines(*n),
            Num::NegNines(n) => format!("-{}", nines(*n)),
            Num::Pos1e308 => "1e308".into(),
            Num::Neg1e308 => "-1e308".into(),
            Num::Exp(n) => format!("1e{n}"),
            Num::MantExp(m, n) => format!("{m}e{n}"),
            Num::Frac(a, b) => format!("{a}.{}", frac_digits(*b)),
            Num::NegFrac(a, b) => format!("-{a}.{}", frac_digits(*b)),
            Num::IntegralFloat(a) => format!("{a}.0"),
            Num::MinusZero => "-0".into(),
            Num::MinusZeroFloat => "-0.0".into(),
            Num::Float(f) if f.is_finite() => format!("{f:?}"),
            Num::Float(_) => "null".into(),
            Num::Str(inner) => string(&inner.json_at(depth + 1).unwrap_or_default()),
            Num::PaddedStr(inner) => string(&format!(
                " {} ",
                inner.json_at(depth + 1).unwrap_or_default()
            )),
            Num::Text(text) => string(text),
            Num::Null => "null".into(),
            Num::Absent => return None,
            Num::Bool(b) => b.to_string(),
            Num::EmptyStr => "\"\"".into(),
            Num::Object => "{}".into(),
            Num::Array => "[]".into(),
        })
    }

    /// `"name":<value>,` or nothing when absent.
    pub fn field(&self, name: &str) -> String {
        match self.json() {
            Some(value) => format!("{}:{value},", string(name)),
            None => String::new(),
        }
    }

    /// What `flexible_i64` makes of this value in a required field (absent: refused).
    pub fn flexible_i64(&self) -> Expect {
        match self {
            Num::Int(v) => Expect::Int(*v),
            Num::UInt(v) => i64::try_from(*v).map_or(Expect::Reject, Expect::Int),
            Num::U64Max | Num::I64MaxPlusOne | Num::Pos1e308 | Num::Neg1e308 => Expect::Reject,
            Num::I64Min => Expect::Int(i64::MIN),
            Num::I64Max => Expect::Int(i64::MAX),
            Num::Nines(n) => {
                let text = nines(*n);
                // Up to 18 digits fit an i64; more are out of range (as u64, or as an f64 far
                // beyond the 9e15 limit on integral floats).
                text.parse::<i64>().map_or(Expect::Reject, Expect::Int)
            }
            Num::NegNines(n) => format!("-{}", nines(*n))
                .parse::<i64>()
                .map_or(Expect::Reject, Expect::Int),
            Num::Exp(n) => match *n {
                0..=15 => Expect::Int(10i64.pow(u32::from(n.unsigned_abs()))),
                16.. => Expect::Reject,
                -300..=-1 => Expect::Reject,
                _ => Expect::Unknown,
            },
            Num::MantExp(m, n) => mant_exp(*m, *n),
            Num::Frac(..) | Num::NegFrac(..) => Expect::Reject,
            Num::IntegralFloat(a) => Expect::Int(i64::from(*a)),
            Num::MinusZero | Num::MinusZeroFloat => Expect::Int(0),
            Num::Float(f) if f.is_finite() => Expect::Unknown,
            Num::Float(_) => Expect::Reject,
            Num::Str(inner) | Num::PaddedStr(inner) => match **inner {
                Num::Str(_)
                | Num::PaddedStr(_)
                | Num::Text(_)
                | Num::Null
                | Num::Absent
                | Num::Bool(_)
                | Num::EmptyStr
                | Num::Object
                | Num::Array => Expect::Reject,
                // "null" inside a string is text, not a number.
                Num::Float(f) if !f.is_finite() => Expect::Reject,
                ref numeric => numeric.flexible_i64(),
            },
            Num::Text(_) => Expect::Unknown,
            Num::Null | Num::Absent | Num::Bool(_) | Num::EmptyStr | Num::Object | Num::Array => {
                Expect::Reject
            }
        }
    }

    /// Like [`Num::flexible_i64`] for a field with a default: absent gives `default`.
    pub fn flexible_i64_or(&self, default: i64) -> Expect {
        match self {
            Num::Absent => Expect::Int(default),
            other => other.flexible_i64(),
        }
    }

    /// What `flexible_i64_opt` (the envelope's `code` and `timestamp`) makes of it: `Some` value,
    /// `None` (null or absent), or a refusal.
    pub fn flexible_i64_opt(&self) -> Option<Expect> {
        match self {
            Num::Null | Num::Absent => None,
            Num::Float(f) if !f.is_finite() => None,
            other => Some(other.flexible_i64()),
        }
    }
}

/// `<m>e<n>` as `flexible_i64` reads it.
fn mant_exp(m: u16, n: i16) -> Expect {
    if m == 0 {
        return Expect::Int(0);
    }
    let m = i128::from(m);
    if n >= 0 {
        if n > 20 {
            return Expect::Reject;
        }
        let value = m * 10i128.pow(u32::from(n.unsigned_abs()));
        return if value < 9_000_000_000_000_000 {
            Expect::Int(value as i64)
        } else {
            Expect::Reject
        };
    }
    let k = u32::from(n.unsigned_abs());
    if k <= 5 {
        let divisor = 10i128.pow(k);
        return if m % divisor == 0 {
            Expect::Int((m / divisor) as i64)
        } else {
            Expect::Reject
        };
    }
    if k <= 300 {
        Expect::Reject
    } else {
        Expect::Unknown
    }
}

/// `text` as a JSON string.
pub fn string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// A string field's value: a few realistic ones, or anything.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    /// A realistic value for the field.
    Typical,
    /// `""`.
    Empty,
    /// Any text.
    Any(String),
    /// `null`.
    Null,
    /// The field is left out.
    Absent,
    /// A number where a string belongs.
    Number(i64),
}

impl Text {
    /// `"name":<value>,` (nothing when absent), with `typical` for [`Text::Typical`].
    pub fn field(&self, name: &str, typical: &str) -> String {
        let value = match self {
            Text::Typical => string(typical),
            Text::Empty => "\"\"".into(),
            Text::Any(text) => string(text),
            Text::Null => "null".into(),
            Text::Absent => return String::new(),
            Text::Number(n) => n.to_string(),
        };
        format!("{}:{value},", string(name))
    }

    /// `true` when a required `String` field decodes (present and a string).
    pub fn is_string(&self) -> bool {
        matches!(self, Text::Typical | Text::Empty | Text::Any(_))
    }

    /// `true` when a `#[serde(default)] String` field decodes.
    pub fn decodes_with_default(&self) -> bool {
        self.is_string() || matches!(self, Text::Absent)
    }
}

/// `{a,b,}` → `{a,b}`: the generators write a comma after every field.
pub fn object(fields: &str) -> String {
    format!("{{{}}}", fields.trim_end_matches(','))
}
