//! The host table of a client (every host a plan can name, with its endpoint URLs and health)
//! and the plan of steps of one call.

use std::sync::Arc;

use reqwest::Url;

use super::health::{Counters, HostHealth};
use crate::config::ClientConfig;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::policy::validate_host;
use crate::policy::{AgoraRegion, FailoverPolicy, IpNetwork, RegionalFallback};
use crate::transport::Resolver;

/// The spec step a host is tried in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Step 1.
    Primary,
    /// Step 2: the same host once more.
    PrimaryAgain,
    /// Step 3.
    OtherPrimary,
    /// Step 4.
    Regional,
}

/// One host: its name, the URL of every endpoint on it, and its health.
#[derive(Debug)]
pub(crate) struct HostEntry {
    /// `host` or `host:port`, as reported in errors and counters.
    pub name: String,
    /// The host name alone, as the resolver sees it.
    pub domain: String,
    urls: Vec<Url>,
    pub health: HostHealth,
}

#[derive(Debug)]
enum Regional {
    Off,
    Fixed(Vec<usize>),
    Adjacent {
        region: Option<AgoraRegion>,
        address_map: Vec<(IpNetwork, AgoraRegion)>,
        /// Host indexes of each region (in `AgoraRegion::ALL` order): primary's suffix first.
        by_region: Vec<[usize; 2]>,
    },
}

/// Every host a client's plans can use, built once per client.
#[derive(Debug)]
pub(crate) struct HostTable {
    pub policy: FailoverPolicy,
    pub hosts: Vec<HostEntry>,
    pub counters: Counters,
    primary: usize,
    other_primary: Option<usize>,
    regional: Regional,
    resolver: Arc<Resolver>,
}

impl HostTable {
    pub fn new(config: &ClientConfig, resolver: Arc<Resolver>) -> Result<Self> {
        let policy = config.failover.clone();
        let base = config.api_base();
        let mut hosts = Vec::new();
        let mut add = |name: &str| -> Result<usize> {
            if let Some(index) = hosts.iter().position(|h: &HostEntry| h.name == name) {
                return Ok(index);
            }
            hosts.push(host_entry(base, name)?);
            Ok(hosts.len() - 1)
        };
        let base_name = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        let primary = add(&base_name)?;
        let location = policy.location(config.region);
        // The other primary and the adjacent regional hosts exist only for Agora's own hosts; a
        // custom base URL (the sandbox, a gateway) gets only an explicit host list.
        let agora_hosts = !config.custom_base_url;
        let other_primary = if agora_hosts && policy.other_primary {
            Some(add(location.other_primary_host())?)
        } else {
            None
        };
        let regional = match &policy.regional {
            RegionalFallback::Off => Regional::Off,
            RegionalFallback::Hosts(list) => Regional::Fixed(
                list.iter()
                    .map(|host| add(host))
                    .collect::<Result<Vec<_>>>()?,
            ),
            RegionalFallback::Adjacent { .. } if !agora_hosts => Regional::Off,
            RegionalFallback::Adjacent {
                region,
                address_map,
            } => {
                let mut by_region = Vec::with_capacity(AgoraRegion::ALL.len());
                for candidate in AgoraRegion::ALL {
                    by_region.push([
                        add(&candidate.host_like(location.primary_host()))?,
                        add(&candidate.host_like(location.other_primary_host()))?,
                    ]);
                }
                Regional::Adjacent {
                    region: *region,
                    address_map: address_map.clone(),
                    by_region,
                }
            }
        };
        Ok(Self {
            policy,
            hosts,
            counters: Counters::default(),
            primary,
            other_primary,
            regional,
            resolver,
        })
    }

    /// The URL of `endpoint` on host `host`.
    pub fn url(&self, host: usize, endpoint: Endpoint) -> &Url {
        let index = Endpoint::ALL
            .iter()
            .position(|e| *e == endpoint)
            .unwrap_or_default();
        &self.hosts[host].urls[index]
    }

    /// Steps 1 to 3 of the plan (step 4 depends on where the primary resolved: see
    /// [`HostTable::regional_steps`]).
    pub fn head_steps(&self) -> Vec<(Step, usize)> {
        let mut steps = vec![(Step::Primary, self.primary)];
        if !self.policy.enabled {
            return steps;
        }
        if self.policy.retry_same_host {
            steps.push((Step::PrimaryAgain, self.primary));
        }
        if let Some(other) = self.other_primary {
            steps.push((Step::OtherPrimary, other));
        }
        steps
    }

    /// Step 4: the regional hosts, decided when the call gets there.
    pub fn regional_steps(&self) -> Vec<(Step, usize)> {
        if !self.policy.enabled {
            return Vec::new();
        }
        let hosts: Vec<usize> = match &self.regional {
            Regional::Off => Vec::new(),
            Regional::Fixed(hosts) => hosts.clone(),
            Regional::Adjacent {
                region,
                address_map,
                by_region,
            } => {
                let primary = &self.hosts[self.primary].domain;
                let resolved = self.resolver.last_address(primary).and_then(|address| {
                    address_map
                        .iter()
                        .find(|(network, _)| network.contains(address))
                        .map(|(_, region)| *region)
                });
                match resolved.or(*region) {
                    Some(region) => {
                        let adjacent = region.adjacent();
                        let index = AgoraRegion::ALL
                            .iter()
                            .position(|r| *r == adjacent)
                            .unwrap_or_default();
                        by_region[index].to_vec()
                    }
                    None => Vec::new(),
                }
            }
        };
        hosts.into_iter().map(|h| (Step::Regional, h)).collect()
    }

    /// `(name, health, always listed)` of every host, for the counters.
    pub fn host_health(&self) -> impl Iterator<Item = (&str, &HostHealth, bool)> {
        self.hosts.iter().enumerate().map(move |(index, host)| {
            (
                host.name.as_str(),
                &host.health,
                index == self.primary || Some(index) == self.other_primary,
            )
        })
    }
}

fn host_entry(base: &Url, name: &str) -> Result<HostEntry> {
    validate_host(name)?;
    let parsed = Url::parse(&format!("https://{name}/"))
        .map_err(|e| Error::Config(format!("bad host {name:?}: {e}")))?;
    let domain = parsed.host_str().unwrap_or_default().to_owned();
    let mut url = base.clone();
    url.set_host(Some(&domain))
        .map_err(|e| Error::Config(format!("bad host {name:?}: {e}")))?;
    if let Some(port) = explicit_port(name) {
        url.set_port(Some(port))
            .map_err(|()| Error::Config(format!("bad port in {name:?}")))?;
    }
    let urls = Endpoint::ALL
        .iter()
        .map(|endpoint| endpoint_url(&url, *endpoint))
        .collect::<Result<Vec<_>>>()?;
    Ok(HostEntry {
        name: name.to_owned(),
        domain: domain
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        urls,
        health: HostHealth::default(),
    })
}

/// The port written in `host:port` (not the scheme's default).
fn explicit_port(name: &str) -> Option<u16> {
    let (_, port) = name.rsplit_once(':')?;
    if name.starts_with('[') && !name.contains("]:") {
        return None;
    }
    port.parse().ok()
}

/// The URL of `endpoint` on the host whose API base is `base`.
fn endpoint_url(base: &Url, endpoint: Endpoint) -> Result<Url> {
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), endpoint.path());
    Url::parse(&joined).map_err(|e| Error::Config(format!("bad endpoint URL {joined:?}: {e}")))
}
