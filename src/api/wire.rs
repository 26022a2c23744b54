//! Lenient deserializers for the number fields the spec types loosely (`expires_in` is documented
//! as a String but sent as a number; timestamps may come as either).

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Accepts a JSON integer, a float with no fractional part, or a string holding an integer.
pub(crate) fn flexible_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(FlexibleI64)
}

/// Like [`flexible_i64`], for an optional field (`null` or absent gives `None`).
pub(crate) fn flexible_i64_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    struct OptVisitor;
    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, a numeric string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            flexible_i64(d).map(Some)
        }
    }
    deserializer.deserialize_option(OptVisitor)
}

/// Accepts a non-negative number of seconds as an integer, an integral float or a numeric string.
pub(crate) fn flexible_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<u64, D::Error> {
    let value = flexible_i64(deserializer)?;
    u64::try_from(value)
        .map_err(|_| de::Error::custom(format!("a duration must not be negative, got {value}")))
}

/// Serializes a `Duration` as whole seconds.
pub(crate) fn serialize_secs<S: serde::Serializer>(
    value: &std::time::Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_secs())
}

/// Serializes a `SystemTime` as milliseconds since the Unix epoch.
pub(crate) fn serialize_epoch_ms<S: serde::Serializer>(
    value: &std::time::SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(epoch_ms(*value))
}

/// Milliseconds since the Unix epoch (negative before it), saturating.
pub(crate) fn epoch_ms(value: std::time::SystemTime) -> i64 {
    crate::wire_time::epoch_ms(value)
}

/// The instant `ms` milliseconds after the Unix epoch, clamped as
/// [`crate::wire_time::epoch_from_ms`] says (the epoch at the earliest, 9999 at the latest).
pub(crate) fn from_epoch_ms(ms: i64) -> std::time::SystemTime {
    crate::wire_time::epoch_from_ms(ms)
}

struct FlexibleI64;

impl<'de> Visitor<'de> for FlexibleI64 {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string holding an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("integer {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.is_finite() && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("expected an integer, got {v}")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let trimmed = v.trim();
        trimmed
            .parse::<i64>()
            .or_else(|_| {
                trimmed
                    .parse::<f64>()
                    .map_err(|_| ())
                    .and_then(|f| self.visit_f64::<E>(f).map_err(|_| ()))
            })
            .map_err(|_| E::custom(format!("expected a numeric string, got {v:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "flexible_seconds")]
        secs: u64,
    }

    fn parse(json: &str) -> Result<u64, serde_json::Error> {
        serde_json::from_str::<Probe>(json).map(|p| p.secs)
    }

    #[test]
    fn numbers_and_numeric_strings_are_accepted() {
        assert_eq!(parse(r#"{"secs":43199}"#).unwrap(), 43199);
        assert_eq!(parse(r#"{"secs":"43199"}"#).unwrap(), 43199);
        assert_eq!(parse(r#"{"secs":" 7200 "}"#).unwrap(), 7200);
        assert_eq!(parse(r#"{"secs":7200.0}"#).unwrap(), 7200);
    }

    #[test]
    fn garbage_negative_and_fractional_values_are_refused() {
        for bad in [
            r#"{"secs":"soon"}"#,
            r#"{"secs":-1}"#,
            r#"{"secs":1.5}"#,
            r#"{"secs":true}"#,
            r#"{"secs":null}"#,
            r#"{"secs":18446744073709551615}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
