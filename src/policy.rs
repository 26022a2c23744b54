//! The failover policy as plain data: the hosts of the spec's plan ([`ServerLocation`],
//! [`AgoraRegion`], [`RegionalFallback`]), back-off and cool-down ([`FailoverPolicy`]), per-call
//! options ([`CallOptions`]) and the events an observer is told of ([`FailoverEvent`]). Part of
//! the configuration ([`crate::config::ClientConfig`] holds a policy); the plan that uses it is
//! [`crate::failover`], which re-exports every item as `agora_link::failover::…`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

use crate::attempt::FailureClass;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// The default back-off schedule between tries (the spec family's guidance: about 1 s, 3 s, 6 s).
pub const DEFAULT_BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(6),
];
/// The default overall deadline of one call, whatever the plan.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(30);
/// The default cool-down of a host after a failure (doubled for each further failure).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// The default longest cool-down.
pub const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// Where the business server runs: decides the primary host (spec step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerLocation {
    /// Mainland China: primary `api.sd-rtn.com`, other primary `api.agora.io`.
    MainlandChina,
    /// Anywhere else: primary `api.agora.io`, other primary `api.sd-rtn.com`.
    Elsewhere,
}

impl ServerLocation {
    /// The primary host for this location.
    pub fn primary_host(self) -> &'static str {
        match self {
            ServerLocation::MainlandChina => "api.sd-rtn.com",
            ServerLocation::Elsewhere => "api.agora.io",
        }
    }

    /// The other primary host (spec step 3).
    pub fn other_primary_host(self) -> &'static str {
        match self {
            ServerLocation::MainlandChina => "api.agora.io",
            ServerLocation::Elsewhere => "api.sd-rtn.com",
        }
    }
}

/// The regions of Agora's regional hosts (`api-<code>.sd-rtn.com`, `api-<code>.agora.io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgoraRegion {
    /// `us-west-1` (adjacent: `us-east-1`).
    UsWest1,
    /// `us-east-1` (adjacent: `us-west-1`).
    UsEast1,
    /// `ap-southeast-1` (adjacent: `ap-northeast-1`).
    ApSoutheast1,
    /// `ap-northeast-1` (adjacent: `ap-southeast-1`).
    ApNortheast1,
    /// `eu-west-1` (adjacent: `eu-central-1`).
    EuWest1,
    /// `eu-central-1` (adjacent: `eu-west-1`).
    EuCentral1,
    /// `cn-east-1` (adjacent: `cn-north-1`).
    CnEast1,
    /// `cn-north-1` (adjacent: `cn-east-1`).
    CnNorth1,
}

impl AgoraRegion {
    /// Every region, in the spec's table order.
    pub const ALL: [AgoraRegion; 8] = [
        AgoraRegion::UsWest1,
        AgoraRegion::UsEast1,
        AgoraRegion::ApSoutheast1,
        AgoraRegion::ApNortheast1,
        AgoraRegion::EuWest1,
        AgoraRegion::EuCentral1,
        AgoraRegion::CnEast1,
        AgoraRegion::CnNorth1,
    ];

    /// The region code, e.g. `eu-central-1`.
    pub fn code(self) -> &'static str {
        match self {
            AgoraRegion::UsWest1 => "us-west-1",
            AgoraRegion::UsEast1 => "us-east-1",
            AgoraRegion::ApSoutheast1 => "ap-southeast-1",
            AgoraRegion::ApNortheast1 => "ap-northeast-1",
            AgoraRegion::EuWest1 => "eu-west-1",
            AgoraRegion::EuCentral1 => "eu-central-1",
            AgoraRegion::CnEast1 => "cn-east-1",
            AgoraRegion::CnNorth1 => "cn-north-1",
        }
    }

    /// The adjacent region, per the spec's pairs.
    pub fn adjacent(self) -> AgoraRegion {
        match self {
            AgoraRegion::UsWest1 => AgoraRegion::UsEast1,
            AgoraRegion::UsEast1 => AgoraRegion::UsWest1,
            AgoraRegion::ApSoutheast1 => AgoraRegion::ApNortheast1,
            AgoraRegion::ApNortheast1 => AgoraRegion::ApSoutheast1,
            AgoraRegion::EuWest1 => AgoraRegion::EuCentral1,
            AgoraRegion::EuCentral1 => AgoraRegion::EuWest1,
            AgoraRegion::CnEast1 => AgoraRegion::CnNorth1,
            AgoraRegion::CnNorth1 => AgoraRegion::CnEast1,
        }
    }

    /// The regional host of this region under the suffix of `primary_host`
    /// (`api-<code>.sd-rtn.com` or `api-<code>.agora.io`).
    pub fn host_like(self, primary_host: &str) -> String {
        let suffix = primary_host.strip_prefix("api.").unwrap_or(primary_host);
        format!("api-{}.{suffix}", self.code())
    }
}

impl fmt::Display for AgoraRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for AgoraRegion {
    type Err = Error;

    /// Parses a region code such as `eu-central-1` (case-insensitive).
    fn from_str(value: &str) -> Result<Self> {
        AgoraRegion::ALL
            .into_iter()
            .find(|region| region.code().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| Error::Config(format!("unknown Agora region {value:?}")))
    }
}

/// An IP network (`address/prefix`), for mapping resolved addresses to regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// A network from an address and a prefix length (at most 32 for IPv4, 128 for IPv6).
    pub fn new(address: IpAddr, prefix: u8) -> Result<Self> {
        let max = if address.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::Config(format!(
                "prefix /{prefix} is longer than {max} bits"
            )));
        }
        Ok(Self { address, prefix })
    }

    /// `true` when `address` is inside this network.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (network, candidate, bits) = match (self.address, address.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(a)) << 96,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let _ = bits;
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        network & mask == candidate & mask
    }
}

impl FromStr for IpNetwork {
    type Err = Error;

    /// Parses `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a single host).
    fn from_str(value: &str) -> Result<Self> {
        let bad = || Error::Config(format!("{value:?} is not an IP network like 192.0.2.0/24"));
        let (address, prefix) = match value.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (value.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| bad())?;
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| bad())?,
            None if address.is_ipv4() => 32,
            None => 128,
        };
        IpNetwork::new(address, prefix)
    }
}

/// Spec step 4: which regional hosts to try after the primaries.
///
/// Agora does not document whether `/agoralink/...` is served on every regional host, so the
/// step is explicit. With [`RegionalFallback::Adjacent`], the region the primary "resolved to"
/// is found like this, first match wins:
/// 1. the address the primary host last resolved to (recorded by the client's resolver, even
///    when the connection then failed) is looked up in `address_map`;
/// 2. otherwise `region`, the region you configured for your deployment;
/// 3. otherwise the step is skipped (the client cannot guess where the primary resolved).
///
/// The default is `Adjacent` with no region and an empty map: the regional step runs only once
/// you say where the primary resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionalFallback {
    /// No regional step.
    Off,
    /// The hosts of the region adjacent to the primary's resolved region, primary's suffix first.
    Adjacent {
        /// The region the primary resolves to from where the business server is, if known.
        region: Option<AgoraRegion>,
        /// Address ranges of Agora's regional front ends and their regions.
        address_map: Vec<(IpNetwork, AgoraRegion)>,
    },
    /// These hosts (`host` or `host:port`), in this order.
    Hosts(Vec<String>),
}

impl Default for RegionalFallback {
    fn default() -> Self {
        RegionalFallback::Adjacent {
            region: None,
            address_map: Vec::new(),
        }
    }
}

/// The failover policy of a client. [`FailoverPolicy::default`] follows the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverPolicy {
    /// `false` makes every call a single attempt on the primary host (no step 2, 3 or 4).
    pub enabled: bool,
    /// Where the business server runs (spec step 1); `None` derives it from the API region.
    pub server_location: Option<ServerLocation>,
    /// Spec step 2: retry the same host once (skipped after a connect timeout or a TLS failure,
    /// which would cost the same again; the breaker's probe retries such a host later).
    pub retry_same_host: bool,
    /// Spec step 3: try the other primary host.
    pub other_primary: bool,
    /// Spec step 4.
    pub regional: RegionalFallback,
    /// Delays before a retry: the n-th delay of a call uses entry n (the last one repeats).
    /// Moving to a different host after a failure before sending (DNS, refused, connect timeout,
    /// TLS) has no delay; any other retry waits (and at least `Retry-After` after HTTP 429).
    pub backoff: Vec<Duration>,
    /// Each delay is scaled by a random factor in `1 ± jitter` (0.0 to 1.0; default 0.2).
    pub jitter: f64,
    /// The overall deadline of one call (token renewal, every host, every delay included).
    pub call_deadline: Duration,
    /// How long a failed host is skipped by later calls; doubled for each further consecutive
    /// failure, up to `max_cooldown`.
    pub cooldown: Duration,
    /// The longest cool-down.
    pub max_cooldown: Duration,
    /// Told of every failover step (in addition to the `tracing` event).
    pub observer: Option<FailoverObserver>,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            server_location: None,
            retry_same_host: true,
            other_primary: true,
            regional: RegionalFallback::default(),
            backoff: DEFAULT_BACKOFF.to_vec(),
            jitter: 0.2,
            call_deadline: DEFAULT_CALL_DEADLINE,
            cooldown: DEFAULT_COOLDOWN,
            max_cooldown: DEFAULT_MAX_COOLDOWN,
            observer: None,
        }
    }
}

impl FailoverPolicy {
    /// A policy that never retries: one attempt on the primary host.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.call_deadline.is_zero() {
            return Err(Error::Config(
                "the call deadline must be greater than zero".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::Config("jitter must be between 0.0 and 1.0".into()));
        }
        if self.cooldown > self.max_cooldown {
            return Err(Error::Config(
                "the cool-down must not exceed the maximum cool-down".into(),
            ));
        }
        if let RegionalFallback::Hosts(hosts) = &self.regional {
            for host in hosts {
                validate_host(host)?;
            }
        }
        Ok(())
    }

    /// The delay before retry number `index` (0-based), jittered with `random` in [0, 1).
    pub(crate) fn backoff_delay(&self, index: usize, random: f64) -> Duration {
        let Some(base) = self
            .backoff
            .get(index)
            .or_else(|| self.backoff.last())
            .copied()
        else {
            return Duration::ZERO;
        };
        let factor = 1.0 + self.jitter * (2.0 * random - 1.0);
        base.mul_f64(factor.max(0.0))
    }
}

/// Options of one call, set with [`Client::with_call_options`](crate::Client::with_call_options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallOptions {
    /// Lets a non-idempotent call (`open`, `register`, `removeAccount`) be sent again to the same
    /// or another host after a failure that may have reached the server (read timeout, reset
    /// after sending, 5xx, malformed answer). Only for callers who can reconcile duplicates.
    pub allow_resend: bool,
    /// Overrides the policy's overall deadline for these calls.
    pub deadline: Option<Duration>,
}

impl CallOptions {
    /// Sets [`CallOptions::allow_resend`].
    pub fn allow_resend(mut self, allow: bool) -> Self {
        self.allow_resend = allow;
        self
    }

    /// Sets [`CallOptions::deadline`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// One step of a call from a failed host to the next try (the same host again or another one),
/// reported to a [`FailoverObserver`] and as a `tracing` event (target `agora_link`, level WARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverEvent {
    /// The endpoint called.
    pub endpoint: Endpoint,
    /// The host that failed.
    pub from: String,
    /// How it failed.
    pub failure: FailureClass,
    /// The host tried next (equal to `from` for the spec's same-host retry).
    pub to: String,
    /// The back-off waited before the next try.
    pub delay: Duration,
}

/// A callback told of every [`FailoverEvent`] of a client, for metrics and diagnostics. It runs
/// on the thread that drives the call: keep it short and non-blocking.
#[derive(Clone)]
pub struct FailoverObserver(pub std::sync::Arc<dyn Fn(&FailoverEvent) + Send + Sync>);

impl FailoverObserver {
    /// Wraps a closure.
    pub fn new(callback: impl Fn(&FailoverEvent) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(callback))
    }
}

impl fmt::Debug for FailoverObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FailoverObserver")
    }
}

impl PartialEq for FailoverObserver {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Checks a `host` or `host:port` entry of an explicit host list.
pub(crate) fn validate_host(host: &str) -> Result<()> {
    let bad = || Error::Config(format!("{host:?} is not a host name or host:port"));
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad());
    }
    let url = Url::parse(&format!("https://{host}/")).map_err(|_| bad())?;
    if url.host_str().is_none() {
        return Err(bad());
    }
    Ok(())
}

/// A random number in [0, 1) for jitter (std's randomly keyed hasher; no RNG crate).
pub(crate) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_hosts_follow_the_spec_pairs_and_suffixes() {
        assert_eq!(
            AgoraRegion::EuCentral1.adjacent().host_like("api.agora.io"),
            "api-eu-west-1.agora.io"
        );
        assert_eq!(
            AgoraRegion::EuCentral1
                .adjacent()
                .host_like("api.sd-rtn.com"),
            "api-eu-west-1.sd-rtn.com"
        );
        for region in AgoraRegion::ALL {
            assert_eq!(region.adjacent().adjacent(), region);
            assert_eq!(region.code().parse::<AgoraRegion>().unwrap(), region);
        }
        assert!("mars-1".parse::<AgoraRegion>().is_err());
    }

    #[test]
    fn networks_match_by_prefix() {
        let net: IpNetwork = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let host: IpNetwork = "127.0.0.1".parse().unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: IpNetwork = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_follows_the_schedule_with_bounded_jitter() {
        let policy = FailoverPolicy::default();
        assert_eq!(policy.backoff_delay(0, 0.5), Duration::from_secs(1));
        assert_eq!(policy.backoff_delay(1, 0.5), Duration::from_secs(3));
        assert_eq!(policy.backoff_delay(2, 0.5), Duration::from_secs(6));
        assert_eq!(policy.backoff_delay(9, 0.5), Duration::from_secs(6));
        assert_eq!(policy.backoff_delay(0, 0.0), Duration::from_millis(800));
        assert!(policy.backoff_delay(0, 0.999_999) <= Duration::from_millis(1200));
        let none = FailoverPolicy {
            backoff: Vec::new(),
            ..FailoverPolicy::default()
        };
        assert_eq!(none.backoff_delay(0, 0.5), Duration::ZERO);
    }

    #[test]
    fn only_pre_send_failures_allow_resending_a_purchase() {
        use FailureClass::*;
        for class in [Dns, Refused, ConnectTimeout, Tls, CoolingDown] {
            assert!(class.before_request_sent(), "{class}");
        }
        for class in [
            ResetAfterSend,
            ReadTimeout,
            ServerError(503),
            RateLimited,
            Malformed,
        ] {
            assert!(!class.before_request_sent(), "{class}");
        }
        assert!(!Dns.is_network());
        assert!(Refused.is_network());
    }

    #[test]
    fn policies_are_validated() {
        assert!(FailoverPolicy::default().validate().is_ok());
        let bad = [
            FailoverPolicy {
                call_deadline: Duration::ZERO,
                ..FailoverPolicy::default()
            },
            FailoverPolicy {
                jitter: 1.5,
                ..FailoverPolicy::default()
            },
            FailoverPolicy {
                cooldown: Duration::from_secs(600),
                ..FailoverPolicy::default()
            },
            FailoverPolicy {
                regional: RegionalFallback::Hosts(vec!["bad host/".into()]),
                ..FailoverPolicy::default()
            },
        ];
        for policy in bad {
            assert!(policy.validate().is_err(), "{policy:?}");
        }
    }
}
