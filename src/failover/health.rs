//! Host health (a circuit breaker per host) and the client's failover counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::attempt::FailureClass;
use crate::policy::FailoverPolicy;

/// Whether a host may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The host is healthy.
    Closed,
    /// The host's cool-down is over: this call probes it (others keep skipping it meanwhile).
    Probe,
    /// The host is cooling down after a failure: skip it.
    Open,
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    last_failure: Option<FailureClass>,
}

/// The health and counters of one host, shared by every call of a client.
#[derive(Debug, Default)]
pub(crate) struct HostHealth {
    breaker: Mutex<Breaker>,
    pub attempts: AtomicU64,
    pub successes: AtomicU64,
    pub failures: AtomicU64,
    pub skipped: AtomicU64,
}

fn cooldown(policy: &FailoverPolicy, consecutive_failures: u32) -> Duration {
    let doublings = consecutive_failures.saturating_sub(1).min(20);
    policy
        .cooldown
        .saturating_mul(1u32 << doublings)
        .min(policy.max_cooldown)
}

impl HostHealth {
    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides whether a call may try this host now. A probe re-arms the cool-down, so only one
    /// call at a time probes, and a probe abandoned half-way cannot leave the host stuck.
    pub fn admit(&self, now: Instant, policy: &FailoverPolicy) -> Admission {
        let mut breaker = self.breaker();
        match breaker.open_until {
            None => Admission::Closed,
            Some(until) if now < until => Admission::Open,
            Some(_) => {
                breaker.open_until = Some(now + cooldown(policy, breaker.consecutive_failures));
                Admission::Probe
            }
        }
    }

    /// The failure that opened the breaker, while it is open.
    pub fn open_failure(&self, now: Instant) -> Option<FailureClass> {
        let breaker = self.breaker();
        match breaker.open_until {
            Some(until) if now < until => breaker.last_failure,
            _ => None,
        }
    }

    pub fn record_success(&self) {
        self.successes.fetch_add(1, Ordering::Relaxed);
        let mut breaker = self.breaker();
        if breaker.open_until.is_some() || breaker.consecutive_failures > 0 {
            *breaker = Breaker::default();
        }
    }

    /// Records a failure and (re)opens the breaker. `repeat` marks a call's second failure on the
    /// same host (the spec's same-host retry): it re-arms the cool-down without lengthening it.
    pub fn record_failure(
        &self,
        class: FailureClass,
        now: Instant,
        policy: &FailoverPolicy,
        repeat: bool,
    ) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut breaker = self.breaker();
        if !repeat || breaker.consecutive_failures == 0 {
            breaker.consecutive_failures = breaker.consecutive_failures.saturating_add(1);
        }
        breaker.open_until = Some(now + cooldown(policy, breaker.consecutive_failures));
        breaker.last_failure = Some(class);
    }

    fn snapshot(&self, host: &str, now: Instant) -> HostStats {
        let breaker = self.breaker();
        let remaining = breaker
            .open_until
            .map(|until| until.saturating_duration_since(now))
            .unwrap_or_default();
        HostStats {
            host: host.to_owned(),
            attempts: self.attempts.load(Ordering::Relaxed),
            successes: self.successes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            state: if remaining.is_zero() {
                HostState::Healthy
            } else {
                HostState::CoolingDown
            },
            cooldown_remaining: remaining,
            last_failure: breaker.last_failure,
        }
    }
}

/// The client-wide counters (see [`ClientStats`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    pub failovers: AtomicU64,
    pub failed_requests: AtomicU64,
}

impl Counters {
    pub fn snapshot<'a>(
        &self,
        hosts: impl Iterator<Item = (&'a str, &'a HostHealth, bool)>,
    ) -> ClientStats {
        let now = Instant::now();
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            failovers: self.failovers.load(Ordering::Relaxed),
            failed_requests: self.failed_requests.load(Ordering::Relaxed),
            hosts: hosts
                .filter(|(_, health, always)| {
                    *always
                        || health.attempts.load(Ordering::Relaxed) > 0
                        || health.skipped.load(Ordering::Relaxed) > 0
                })
                .map(|(host, health, _)| health.snapshot(host, now))
                .collect(),
        }
    }
}

/// Whether a host is being used or avoided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostState {
    /// Calls use the host.
    Healthy,
    /// The host failed recently; calls skip it until its cool-down ends, then one call probes it.
    CoolingDown,
}

/// The counters of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStats {
    /// The host (`host` or `host:port`).
    pub host: String,
    /// Requests sent (or attempted) to the host.
    pub attempts: u64,
    /// Attempts that got a usable answer.
    pub successes: u64,
    /// Attempts that failed as a host failure (see [`FailureClass`]).
    pub failures: u64,
    /// Times a call skipped the host because it was cooling down.
    pub skipped: u64,
    /// The breaker state now.
    pub state: HostState,
    /// How long the host stays skipped (zero when healthy).
    pub cooldown_remaining: Duration,
    /// The last failure, until the next success.
    pub last_failure: Option<FailureClass>,
}

/// A snapshot of a client's request counters, from [`Client::stats`](crate::Client::stats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests the client made (a call that renews its token makes two).
    pub requests: u64,
    /// Attempts over every host (at least `requests`).
    pub attempts: u64,
    /// Attempts that went to the same host again.
    pub retries: u64,
    /// Times a request moved on to another host.
    pub failovers: u64,
    /// Requests that ended in a failure after every permitted attempt.
    pub failed_requests: u64,
    /// The primary hosts, and every other host that was tried or skipped.
    pub hosts: Vec<HostStats>,
}

impl ClientStats {
    /// The counters of `host`, if listed.
    pub fn host(&self, host: &str) -> Option<&HostStats> {
        self.hosts.iter().find(|h| h.host == host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_host_cools_down_then_admits_one_probe() {
        let policy = FailoverPolicy {
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(25),
            ..FailoverPolicy::default()
        };
        let health = HostHealth::default();
        let t0 = Instant::now();
        assert_eq!(health.admit(t0, &policy), Admission::Closed);
        health.record_failure(FailureClass::Refused, t0, &policy, false);
        health.record_failure(FailureClass::Refused, t0, &policy, true);
        assert_eq!(
            health.admit(t0 + Duration::from_secs(9), &policy),
            Admission::Open
        );
        assert_eq!(
            health.open_failure(t0 + Duration::from_secs(1)),
            Some(FailureClass::Refused)
        );
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(health.admit(t1, &policy), Admission::Probe);
        // The probe re-armed the cool-down: a concurrent call skips the host.
        assert_eq!(health.admit(t1, &policy), Admission::Open);
        // A failed probe doubles the cool-down (capped at the maximum).
        health.record_failure(FailureClass::Refused, t1, &policy, false);
        assert_eq!(
            health.admit(t1 + Duration::from_secs(19), &policy),
            Admission::Open
        );
        assert_eq!(
            health.admit(t1 + Duration::from_secs(20), &policy),
            Admission::Probe
        );
        health.record_failure(FailureClass::Refused, t1, &policy, false);
        assert_eq!(
            health.admit(t1 + Duration::from_secs(24), &policy),
            Admission::Open
        );
        assert_eq!(
            health.admit(t1 + Duration::from_secs(25), &policy),
            Admission::Probe
        );
        // A success closes it.
        health.record_success();
        assert_eq!(health.admit(t1, &policy), Admission::Closed);
        assert_eq!(health.open_failure(t1), None);
    }
}
