//! Name resolution: the configured overrides first, then the system resolver (unless the client
//! is limited to its overrides). Remembers the address each host last resolved to, which is how
//! the failover plan learns the region the primary host "resolved to".

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The client's resolver. Shared (`Arc`) between the HTTP stack and the failover plan.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    overrides: HashMap<String, Vec<SocketAddr>>,
    overrides_only: bool,
    last: Mutex<HashMap<String, IpAddr>>,
}

/// The error of a host that is not in the override table of a client limited to it.
#[derive(Debug)]
struct NotInOverrides(String);

impl std::fmt::Display for NotInOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to lookup address information: {:?} has no resolve override and system DNS is disabled",
            self.0
        )
    }
}

impl std::error::Error for NotInOverrides {}

impl Resolver {
    pub fn new(overrides: &[(String, SocketAddr)], overrides_only: bool) -> Self {
        let mut table: HashMap<String, Vec<SocketAddr>> = HashMap::new();
        for (host, address) in overrides {
            table
                .entry(host.to_ascii_lowercase())
                .or_default()
                .push(*address);
        }
        Self {
            overrides: table,
            overrides_only,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// The address `host` resolved to most recently, if it was resolved.
    pub fn last_address(&self, host: &str) -> Option<IpAddr> {
        let key = host.to_ascii_lowercase();
        if let Some(first) = self.overrides.get(&key).and_then(|a| a.first()) {
            return Some(first.ip());
        }
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
    }

    fn remember(&self, host: &str, address: IpAddr) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_ascii_lowercase(), address);
    }
}

/// The `reqwest` face of the resolver (an `Arc` so that the plan can read what it learned).
#[derive(Debug, Clone)]
pub(crate) struct SharedResolver(pub std::sync::Arc<Resolver>);

impl Resolve for SharedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.0.clone();
        // Taken now, while the attempt's task is being polled (see `phase`).
        let phase = super::phase::current();
        if let Some(phase) = &phase {
            phase.resolve_started();
        }
        let lookup = async move {
            let host = name.as_str().to_ascii_lowercase();
            if let Some(addresses) = resolver.overrides.get(&host) {
                let addresses: Addrs = Box::new(addresses.clone().into_iter());
                return Ok(addresses);
            }
            if resolver.overrides_only {
                return Err(Box::new(NotInOverrides(host)) as Box<_>);
            }
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(first) = addresses.first() {
                resolver.remember(&host, first.ip());
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        };
        Box::pin(async move {
            let result = lookup.await;
            if let Some(phase) = phase {
                phase.resolve_finished();
            }
            result
        })
    }
}
