//! The client's estimate of the server's clock: device clocks are often minutes off, and a SigV4
//! signature more than a few minutes off is refused (HTTP 403 on the WebSocket upgrade).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// A clock offset shared by a client and its credential providers: `now()` is the local clock
/// corrected by the last offset observed from a server's `Date` header. Thread-safe.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
    observed: AtomicBool,
}

use crate::wire_time::epoch_ms;

impl Clock {
    /// The corrected current time.
    pub fn now(&self) -> SystemTime {
        self.correct(SystemTime::now())
    }

    /// `local` corrected by the offset.
    pub fn correct(&self, local: SystemTime) -> SystemTime {
        crate::wire_time::shift_ms(local, self.offset_ms.load(Ordering::Relaxed))
    }

    /// The server's clock minus the local clock, in milliseconds (0 until observed).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// `true` once a server time was observed.
    pub fn is_synchronized(&self) -> bool {
        self.observed.load(Ordering::Relaxed)
    }

    /// Records that the server's clock read `server` when the local clock read `local`. A
    /// `Date` header has one-second resolution: offsets under a second are kept as they were.
    pub fn observe(&self, server: SystemTime, local: SystemTime) {
        let offset = epoch_ms(server).saturating_sub(epoch_ms(local));
        let current = self.offset_ms.load(Ordering::Relaxed);
        if !self.is_synchronized() || offset.abs_diff(current) >= 1000 {
            self.offset_ms.store(offset, Ordering::Relaxed);
        }
        self.observed.store(true, Ordering::Relaxed);
    }

    /// Records an HTTP `Date` header value received now. Returns `false` when it does not parse.
    pub fn observe_date_header(&self, value: &str) -> bool {
        match httpdate::parse_http_date(value.trim()) {
            Ok(server) => {
                // The header was written up to a second before it was read: use the middle.
                self.observe(
                    crate::wire_time::system_after(server, Duration::from_millis(500)),
                    SystemTime::now(),
                );
                true
            }
            Err(_) => false,
        }
    }

    /// Sets the offset directly (tests and hosts with their own time source).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        self.observed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn offsets_follow_the_server_and_ignore_sub_second_noise() {
        let clock = Clock::default();
        let local = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(clock.correct(local), local);
        clock.observe(local + Duration::from_secs(600), local);
        assert_eq!(clock.offset_ms(), 600_000);
        assert_eq!(clock.correct(local), local + Duration::from_secs(600));
        clock.observe(local + Duration::from_millis(600_400), local);
        assert_eq!(clock.offset_ms(), 600_000, "under a second: kept");
        clock.observe(local - Duration::from_secs(30), local);
        assert_eq!(clock.offset_ms(), -30_000);
        assert_eq!(clock.correct(local), local - Duration::from_secs(30));
        assert!(clock.observe_date_header("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(clock.offset_ms() < -900_000_000_000);
        assert!(!clock.observe_date_header("yesterday"));
    }
}
