//! Logs that cost a line per interval, however many events there are.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows one log line per interval and counts the events it held back.
#[derive(Debug)]
pub struct RateLimited {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimited {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        RateLimited {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// An event happened: `Some(n)` when it may be logged now, `n` being the events held back
    /// since the last line; `None` when it is only counted.
    pub fn allow(&self) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.interval => {
                state.1 = state.1.saturating_add(1);
                None
            }
            _ => {
                let held_back = state.1;
                *state = (Some(now), 0);
                Some(held_back)
            }
        }
    }
}

/// Counts events by kind (an HTTP status, say) over an interval: the first few of each interval
/// are to be logged in full, the rest only counted, and [`Tally::take`] gives the counts for one
/// summary line per interval.
#[derive(Debug)]
pub struct Tally {
    in_full: u64,
    state: Mutex<TallyState>,
}

#[derive(Debug, Default)]
struct TallyState {
    logged: u64,
    counts: BTreeMap<String, u64>,
}

impl Tally {
    /// The most kinds counted separately; further kinds are counted as `"other"`.
    pub const MAX_KINDS: usize = 32;

    /// `in_full` events per interval are to be logged in full.
    pub fn new(in_full: u64) -> Self {
        Tally {
            in_full,
            state: Mutex::new(TallyState::default()),
        }
    }

    /// Counts an event of `kind`; `true` when it is to be logged in full.
    pub fn record(&self, kind: &str) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = state.counts.contains_key(kind);
        let key = if known || state.counts.len() < Self::MAX_KINDS {
            kind
        } else {
            "other"
        };
        match state.counts.get_mut(key) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                state.counts.insert(key.to_owned(), 1);
            }
        }
        if state.logged < self.in_full {
            state.logged += 1;
            true
        } else {
            false
        }
    }

    /// The counts since the last call, and how many of those events were not logged in full;
    /// `None` when every event since the last call was logged in full (no summary is needed).
    pub fn take(&self) -> Option<(BTreeMap<String, u64>, u64)> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = std::mem::take(&mut *state);
        let total: u64 = state.counts.values().copied().fold(0, u64::saturating_add);
        let not_logged = total.saturating_sub(state.logged);
        (not_logged > 0).then_some((state.counts, not_logged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let limited = RateLimited::new(Duration::from_secs(3600));
        assert_eq!(limited.allow(), Some(0));
        for _ in 0..1000 {
            assert_eq!(limited.allow(), None);
        }
        let limited = RateLimited::new(Duration::ZERO);
        assert_eq!(limited.allow(), Some(0));
        assert_eq!(limited.allow(), Some(0));
    }

    #[test]
    fn a_tally_logs_the_first_and_counts_the_rest_in_bounded_kinds() {
        let tally = Tally::new(2);
        assert!(tally.record("401"));
        assert!(tally.record("404"));
        for i in 0..10_000 {
            assert!(!tally.record(&format!("kind-{i}")));
        }
        let (counts, not_logged) = tally.take().unwrap();
        assert_eq!(not_logged, 10_000);
        assert!(counts.len() <= Tally::MAX_KINDS + 1, "{}", counts.len());
        assert_eq!(counts.values().sum::<u64>(), 10_002);
        assert!(counts["other"] > 9_000);
        // A new interval logs again; an interval with only logged events needs no summary.
        assert!(tally.record("401"));
        assert_eq!(tally.take(), None);
        assert_eq!(tally.take(), None);
    }
}
