//! Times and durations read from the network, made safe to compute with.
//!
//! A server can send any number: `expires_in` of `9223372036854775807`, a `Retry-After` of
//! `18446744073709551615`, a Cognito `Expiration` of `1e300`, a `Date` in the year 9999. Every
//! such value goes through this module before it is added to a clock, and every sum is checked.
//! The caps, in one place:
//!
//! * a **lifetime** (`expires_in`, `gyToken.expiration`, and the time left until an absolute
//!   expiry) above [`MAX_LIFETIME`] (365 days) is treated as 365 days;
//! * an **absolute time** (`proof.sessionExpiration`, Cognito `Expiration`) before the Unix epoch
//!   is the epoch (already expired), and one after [`MAX_EPOCH_SECONDS`] (9999-12-31T23:59:59Z,
//!   the last second an HTTP date can name) is that second;
//! * a **wait** (`Retry-After`, in seconds or as an HTTP date) is never capped but never added
//!   unchecked: one that reaches past the call's deadline ends the call with the answer that
//!   asked for it (see the transport).
//!
//! The client's clock offset (from `Date` headers) is not capped — a device without a battery
//! clock boots in 1970, fifty-six years behind — but it is computed with saturating arithmetic.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest lifetime taken from a server: 365 days. Longer ones are treated as this.
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The latest absolute time taken from a server, in seconds since the Unix epoch:
/// 9999-12-31T23:59:59Z.
pub const MAX_EPOCH_SECONDS: u64 = 253_402_300_799;

/// `seconds` as a lifetime, at most [`MAX_LIFETIME`].
pub fn lifetime_from_secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds.min(MAX_LIFETIME.as_secs()))
}

/// `lifetime`, at most [`MAX_LIFETIME`].
pub fn cap_lifetime(lifetime: Duration) -> Duration {
    lifetime.min(MAX_LIFETIME)
}

/// `start + duration`, or `start` itself when the sum cannot be represented (which, for the capped
/// durations of this module, only a clock set to the end of time can cause).
pub fn system_after(start: SystemTime, duration: Duration) -> SystemTime {
    start.checked_add(duration).unwrap_or(start)
}

/// `start + duration`, or `None` when it cannot be represented: the instant is beyond any
/// deadline.
pub fn instant_after(start: Instant, duration: Duration) -> Option<Instant> {
    start.checked_add(duration)
}

/// `start + duration`, capped at the latest instant this process can represent from `start`
/// (the duration is first capped at [`MAX_LIFETIME`]).
pub fn instant_after_capped(start: Instant, duration: Duration) -> Instant {
    start.checked_add(cap_lifetime(duration)).unwrap_or(start)
}

/// The absolute time `ms` milliseconds after the Unix epoch, clamped to
/// [Unix epoch, [`MAX_EPOCH_SECONDS`]].
pub fn epoch_from_ms(ms: i64) -> SystemTime {
    let ms = u64::try_from(ms).unwrap_or(0);
    let capped = Duration::from_millis(ms).min(Duration::from_secs(MAX_EPOCH_SECONDS));
    system_after(UNIX_EPOCH, capped)
}

/// The absolute time `seconds` after the Unix epoch (fractions allowed), clamped like
/// [`epoch_from_ms`]; `None` for NaN.
pub fn epoch_from_secs_f64(seconds: f64) -> Option<SystemTime> {
    if seconds.is_nan() {
        return None;
    }
    let seconds = seconds.clamp(0.0, MAX_EPOCH_SECONDS as f64);
    Duration::try_from_secs_f64(seconds)
        .ok()
        .map(|since| system_after(UNIX_EPOCH, since))
}

/// Milliseconds since the Unix epoch (negative before it), saturating at the `i64` range.
pub fn epoch_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(|ms| -ms)
            .unwrap_or(i64::MIN),
    }
}

/// `time` shifted by `offset_ms` milliseconds (either sign), or `time` itself when the result
/// cannot be represented.
pub fn shift_ms(time: SystemTime, offset_ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(offset_ms.unsigned_abs());
    let shifted = if offset_ms >= 0 {
        time.checked_add(magnitude)
    } else {
        time.checked_sub(magnitude)
    };
    shifted.unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_capped_at_a_year() {
        assert_eq!(lifetime_from_secs(7200), Duration::from_secs(7200));
        assert_eq!(lifetime_from_secs(u64::MAX), MAX_LIFETIME);
        assert_eq!(cap_lifetime(Duration::MAX), MAX_LIFETIME);
        let now = Instant::now();
        assert!(instant_after_capped(now, Duration::MAX) > now);
        assert_eq!(instant_after(now, Duration::MAX), None);
    }

    #[test]
    fn absolute_times_are_clamped_between_the_epoch_and_year_9999() {
        assert_eq!(epoch_from_ms(i64::MIN), UNIX_EPOCH);
        assert_eq!(epoch_from_ms(-1), UNIX_EPOCH);
        let last = UNIX_EPOCH + Duration::from_secs(MAX_EPOCH_SECONDS);
        assert_eq!(epoch_from_ms(i64::MAX), last);
        assert_eq!(
            epoch_from_ms(1_700_000_000_123),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
        assert_eq!(epoch_from_secs_f64(1e300), Some(last));
        assert_eq!(epoch_from_secs_f64(f64::INFINITY), Some(last));
        assert_eq!(epoch_from_secs_f64(f64::NEG_INFINITY), Some(UNIX_EPOCH));
        assert_eq!(epoch_from_secs_f64(f64::NAN), None);
        assert_eq!(
            epoch_from_secs_f64(1.5),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
    }

    #[test]
    fn conversions_and_shifts_saturate() {
        assert_eq!(epoch_ms(UNIX_EPOCH), 0);
        assert_eq!(epoch_ms(UNIX_EPOCH - Duration::from_millis(5)), -5);
        let now = SystemTime::now();
        assert_eq!(
            shift_ms(now, i64::MAX),
            now.checked_add(Duration::from_millis(i64::MAX as u64))
                .unwrap_or(now)
        );
        let _ = shift_ms(now, i64::MIN);
        assert_eq!(shift_ms(now, 1000), now + Duration::from_secs(1));
        assert_eq!(system_after(now, Duration::MAX), now);
    }
}
