//! Failover settings, the client's counters and the hosts tried, for the bindings.

use std::time::Duration;

use super::{AgoraLinkError, FailureKind, Outcome};
use crate::failover::{
    AgoraRegion, FailoverPolicy, FailureClass, IpNetwork, RegionalFallback, ServerLocation,
};

/// Where the business server runs: picks the primary host (spec step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ServerSite {
    /// Mainland China: primary `api.sd-rtn.com`.
    MainlandChina,
    /// Elsewhere: primary `api.agora.io`.
    Elsewhere,
}

/// An address range and the Agora region it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegionMapping {
    /// `"192.0.2.0/24"`, `"2001:db8::/32"` or one address.
    pub network: String,
    /// A region code such as `"eu-central-1"`.
    pub region: String,
}

/// Spec step 4: the regional hosts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RegionalStep {
    /// No regional step.
    Off,
    /// The hosts of the region adjacent to where the primary resolved: the address map first,
    /// then `region`; skipped when neither says.
    Adjacent {
        /// The region the primary resolves to, if known (e.g. `"eu-central-1"`).
        region: Option<String>,
        /// Address ranges of Agora's front ends and their regions.
        address_map: Vec<RegionMapping>,
    },
    /// These hosts (`"host"` or `"host:port"`), in order.
    Hosts {
        /// The hosts.
        hosts: Vec<String>,
    },
}

/// The failover policy; start from the defaults (`default_failover_settings()`, in Kotlin and
/// Swift `defaultFailoverSettings()`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FailoverSettings {
    /// `false`: one attempt on the primary host.
    pub enabled: bool,
    /// Where the business server runs; absent (null, nil, None) derives it from the region.
    pub server_site: Option<ServerSite>,
    /// Spec step 2: the same host once more.
    pub retry_same_host: bool,
    /// Spec step 3: the other primary host.
    pub other_primary: bool,
    /// Spec step 4.
    pub regional: RegionalStep,
    /// Delays before retries in milliseconds (the last repeats); default 1000, 3000, 6000.
    /// Signed (Kotlin `Long`, readable from Java); a negative value is `InvalidArgument`.
    pub backoff_ms: Vec<i64>,
    /// Jitter of each delay in percent (0 to 100; default 20).
    pub jitter_percent: i32,
    /// The overall deadline of one call in milliseconds (default 30000).
    pub call_deadline_ms: i64,
    /// How long a failed host is skipped in milliseconds (default 30000; 0 turns it off).
    pub cooldown_ms: i64,
    /// The longest cool-down in milliseconds (default 300000).
    pub max_cooldown_ms: i64,
}

fn invalid(message: String) -> AgoraLinkError {
    AgoraLinkError::new(FailureKind::InvalidArgument, message)
}

fn region(code: &str) -> Outcome<AgoraRegion> {
    code.parse()
        .map_err(|_| invalid(format!("unknown Agora region {code:?}")))
}

/// Milliseconds from the foreign side (signed, so Java can use them): negative is refused.
fn ms(name: &str, value: i64) -> Outcome<Duration> {
    u64::try_from(value)
        .map(Duration::from_millis)
        .map_err(|_| invalid(format!("{name} must not be negative (got {value})")))
}

/// A counter or duration for the foreign side: signed, saturating at `i64::MAX`.
pub(crate) fn signed(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

impl FailoverSettings {
    /// The core policy; invalid values give `InvalidArgument`.
    pub(crate) fn to_policy(&self) -> Outcome<FailoverPolicy> {
        if !(0..=100).contains(&self.jitter_percent) {
            return Err(invalid(format!(
                "jitter_percent must be between 0 and 100 (got {})",
                self.jitter_percent
            )));
        }
        let regional = match &self.regional {
            RegionalStep::Off => RegionalFallback::Off,
            RegionalStep::Hosts { hosts } => RegionalFallback::Hosts(hosts.clone()),
            RegionalStep::Adjacent {
                region: configured,
                address_map,
            } => RegionalFallback::Adjacent {
                region: configured.as_deref().map(region).transpose()?,
                address_map: address_map
                    .iter()
                    .map(|m| {
                        let network: IpNetwork = m.network.parse().map_err(|_| {
                            invalid(format!("{:?} is not an IP network", m.network))
                        })?;
                        Ok((network, region(&m.region)?))
                    })
                    .collect::<Outcome<Vec<_>>>()?,
            },
        };
        let policy = FailoverPolicy {
            enabled: self.enabled,
            server_location: self.server_site.map(|site| match site {
                ServerSite::MainlandChina => ServerLocation::MainlandChina,
                ServerSite::Elsewhere => ServerLocation::Elsewhere,
            }),
            retry_same_host: self.retry_same_host,
            other_primary: self.other_primary,
            regional,
            backoff: self
                .backoff_ms
                .iter()
                .map(|&delay| ms("backoff_ms", delay))
                .collect::<Outcome<_>>()?,
            jitter: f64::from(self.jitter_percent) / 100.0,
            call_deadline: ms("call_deadline_ms", self.call_deadline_ms)?,
            cooldown: ms("cooldown_ms", self.cooldown_ms)?,
            max_cooldown: ms("max_cooldown_ms", self.max_cooldown_ms)?,
            observer: None,
        };
        policy
            .validate()
            .map_err(|e| invalid(e.to_string().replace("invalid configuration: ", "")))?;
        Ok(policy)
    }
}

/// The default failover settings (the spec's plan, 1 s/3 s/6 s back-off, 30 s deadline).
#[uniffi::export]
pub fn default_failover_settings() -> FailoverSettings {
    let policy = FailoverPolicy::default();
    let millis = |d: Duration| signed(d.as_millis());
    FailoverSettings {
        enabled: policy.enabled,
        server_site: None,
        retry_same_host: policy.retry_same_host,
        other_primary: policy.other_primary,
        regional: RegionalStep::Adjacent {
            region: None,
            address_map: Vec::new(),
        },
        backoff_ms: policy.backoff.iter().copied().map(millis).collect(),
        jitter_percent: (policy.jitter * 100.0).round() as i32,
        call_deadline_ms: millis(policy.call_deadline),
        cooldown_ms: millis(policy.cooldown),
        max_cooldown_ms: millis(policy.max_cooldown),
    }
}

/// How an attempt on a host failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HostFailure {
    /// The host name did not resolve (nothing was sent).
    Dns,
    /// Connection refused or host unreachable (nothing was sent).
    Refused,
    /// No connection within the connect timeout (nothing was sent).
    ConnectTimeout,
    /// TLS handshake failure (nothing was sent).
    Tls,
    /// The connection broke after the request may have been sent.
    ResetAfterSend,
    /// No complete answer in time.
    ReadTimeout,
    /// HTTP 5xx.
    ServerError,
    /// HTTP 429.
    RateLimited,
    /// An answer that is not an Agora Link envelope.
    Malformed,
    /// Not tried: the host was cooling down.
    CoolingDown,
    /// The HTTP proxy failed (unreachable, or it refused the tunnel); nothing reached the host.
    Proxy,
}

impl From<FailureClass> for HostFailure {
    fn from(class: FailureClass) -> Self {
        match class {
            FailureClass::Dns => HostFailure::Dns,
            FailureClass::Refused => HostFailure::Refused,
            FailureClass::ConnectTimeout => HostFailure::ConnectTimeout,
            FailureClass::Tls => HostFailure::Tls,
            FailureClass::ResetAfterSend => HostFailure::ResetAfterSend,
            FailureClass::ReadTimeout => HostFailure::ReadTimeout,
            FailureClass::ServerError(_) => HostFailure::ServerError,
            FailureClass::RateLimited => HostFailure::RateLimited,
            FailureClass::Malformed => HostFailure::Malformed,
            FailureClass::CoolingDown => HostFailure::CoolingDown,
            FailureClass::Proxy => HostFailure::Proxy,
        }
    }
}

/// One failed attempt of a call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FailedAttempt {
    /// `"host"` or `"host:port"`.
    pub host: String,
    /// How it failed.
    pub failure: HostFailure,
}

/// The counters of one host.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HostStats {
    /// `"host"` or `"host:port"`.
    pub host: String,
    /// Requests sent (or attempted) to the host.
    pub attempts: i64,
    /// Attempts that got a usable answer.
    pub successes: i64,
    /// Attempts that failed as a host failure.
    pub failures: i64,
    /// Times a call skipped the host while it was cooling down.
    pub skipped: i64,
    /// Whether calls skip the host now.
    pub cooling_down: bool,
    /// How long it stays skipped, in milliseconds.
    pub cooldown_remaining_ms: i64,
    /// The last failure, until the next success.
    pub last_failure: Option<HostFailure>,
}

/// A snapshot of a client's request counters and host health.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientStats {
    /// HTTP requests made.
    pub requests: i64,
    /// Attempts over every host.
    pub attempts: i64,
    /// Attempts that went to the same host again.
    pub retries: i64,
    /// Times a request moved on to another host.
    pub failovers: i64,
    /// Requests that failed after every permitted attempt.
    pub failed_requests: i64,
    /// The primary hosts and every host tried or skipped.
    pub hosts: Vec<HostStats>,
}

impl From<crate::failover::ClientStats> for ClientStats {
    fn from(stats: crate::failover::ClientStats) -> Self {
        ClientStats {
            requests: signed(stats.requests),
            attempts: signed(stats.attempts),
            retries: signed(stats.retries),
            failovers: signed(stats.failovers),
            failed_requests: signed(stats.failed_requests),
            hosts: stats
                .hosts
                .into_iter()
                .map(|h| HostStats {
                    host: h.host,
                    attempts: signed(h.attempts),
                    successes: signed(h.successes),
                    failures: signed(h.failures),
                    skipped: signed(h.skipped),
                    cooling_down: h.state == crate::failover::HostState::CoolingDown,
                    cooldown_remaining_ms: signed(h.cooldown_remaining.as_millis()),
                    last_failure: h.last_failure.map(HostFailure::from),
                })
                .collect(),
        }
    }
}
