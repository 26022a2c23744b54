//! Failover settings of the configuration builder, and the client's counters.

use std::ffi::c_char;
use std::ptr;
use std::time::Duration;

use super::agora_link_result::*;
use super::client::agora_link_client;
use super::config::{agora_link_config, update_failover};
use super::{
    agora_link_error, agora_link_result, free_box, guard, guard_value, require_out, str_arg,
    write_out, FfiError,
};
use crate::failover::{
    AgoraRegion, ClientStats, FailureClass, HostState, IpNetwork, RegionalFallback, ServerLocation,
};

/// Server location: mainland China (primary `api.sd-rtn.com`).
pub const AGORA_LINK_SERVER_LOCATION_MAINLAND_CHINA: u32 = 0;
/// Server location: elsewhere (primary `api.agora.io`).
pub const AGORA_LINK_SERVER_LOCATION_ELSEWHERE: u32 = 1;

/// No failure.
pub const AGORA_LINK_FAILURE_NONE: u32 = 0;
/// The host name did not resolve (nothing was sent).
pub const AGORA_LINK_FAILURE_DNS: u32 = 1;
/// Connection refused or host unreachable (nothing was sent).
pub const AGORA_LINK_FAILURE_REFUSED: u32 = 2;
/// No connection within the connect timeout (nothing was sent).
pub const AGORA_LINK_FAILURE_CONNECT_TIMEOUT: u32 = 3;
/// TLS handshake failure (nothing was sent).
pub const AGORA_LINK_FAILURE_TLS: u32 = 4;
/// The connection broke after the request may have been sent.
pub const AGORA_LINK_FAILURE_RESET_AFTER_SEND: u32 = 5;
/// No complete answer in time.
pub const AGORA_LINK_FAILURE_READ_TIMEOUT: u32 = 6;
/// HTTP 5xx.
pub const AGORA_LINK_FAILURE_SERVER_ERROR: u32 = 7;
/// HTTP 429.
pub const AGORA_LINK_FAILURE_RATE_LIMITED: u32 = 8;
/// An answer that is not an Agora Link envelope.
pub const AGORA_LINK_FAILURE_MALFORMED: u32 = 9;
/// Not tried: the host was cooling down.
pub const AGORA_LINK_FAILURE_COOLING_DOWN: u32 = 10;
/// The HTTP proxy failed (unreachable, or it refused the tunnel); nothing reached the host.
pub const AGORA_LINK_FAILURE_PROXY: u32 = 11;

/// The `AGORA_LINK_FAILURE_*` code of a failure class.
pub(crate) fn failure_code(class: Option<FailureClass>) -> u32 {
    match class {
        None => AGORA_LINK_FAILURE_NONE,
        Some(FailureClass::Dns) => AGORA_LINK_FAILURE_DNS,
        Some(FailureClass::Refused) => AGORA_LINK_FAILURE_REFUSED,
        Some(FailureClass::ConnectTimeout) => AGORA_LINK_FAILURE_CONNECT_TIMEOUT,
        Some(FailureClass::Tls) => AGORA_LINK_FAILURE_TLS,
        Some(FailureClass::ResetAfterSend) => AGORA_LINK_FAILURE_RESET_AFTER_SEND,
        Some(FailureClass::ReadTimeout) => AGORA_LINK_FAILURE_READ_TIMEOUT,
        Some(FailureClass::ServerError(_)) => AGORA_LINK_FAILURE_SERVER_ERROR,
        Some(FailureClass::RateLimited) => AGORA_LINK_FAILURE_RATE_LIMITED,
        Some(FailureClass::Malformed) => AGORA_LINK_FAILURE_MALFORMED,
        Some(FailureClass::CoolingDown) => AGORA_LINK_FAILURE_COOLING_DOWN,
        Some(FailureClass::Proxy) => AGORA_LINK_FAILURE_PROXY,
    }
}

fn invalid(message: String) -> FfiError {
    FfiError::new(AGORA_LINK_ERROR_INVALID_ARGUMENT, message)
}

/// Turns domain switching on (the default) or off (one attempt on the primary host).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_failover_enabled(
    config: *mut agora_link_config,
    enabled: bool,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            p.enabled = enabled;
            Ok(())
        })
    }
}

/// Sets where the business server runs (`AGORA_LINK_SERVER_LOCATION_*`), which picks the primary
/// host (default: from the region).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_server_location(
    config: *mut agora_link_config,
    location: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            p.server_location = Some(match location {
                AGORA_LINK_SERVER_LOCATION_MAINLAND_CHINA => ServerLocation::MainlandChina,
                AGORA_LINK_SERVER_LOCATION_ELSEWHERE => ServerLocation::Elsewhere,
                other => return Err(invalid(format!("unknown server location {other}"))),
            });
            Ok(())
        })
    }
}

/// Sets the overall deadline of one call in milliseconds (default 30000; 0 is invalid).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_call_deadline_ms(
    config: *mut agora_link_config,
    deadline_ms: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            if deadline_ms == 0 {
                return Err(invalid("deadline_ms must be greater than 0".into()));
            }
            p.call_deadline = Duration::from_millis(u64::from(deadline_ms));
            Ok(())
        })
    }
}

/// Sets the back-off schedule: `count` delays in milliseconds (copied; the last one repeats;
/// `count` 0 means no delay) and the jitter in percent (0 to 100; default 20).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `delays_ms` is readable for `count`
/// values (may be NULL when `count` is 0); `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_backoff(
    config: *mut agora_link_config,
    delays_ms: *const u32,
    count: usize,
    jitter_percent: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    let delays = if count == 0 {
        Some(Vec::new())
    } else if delays_ms.is_null() {
        None
    } else {
        // SAFETY: non-NULL (checked) and readable for `count` values, per the contract.
        Some(unsafe { std::slice::from_raw_parts(delays_ms, count) }.to_vec())
    };
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            let delays = delays.ok_or_else(|| FfiError::null("delays_ms"))?;
            if jitter_percent > 100 {
                return Err(invalid("jitter_percent must be at most 100".into()));
            }
            p.backoff = delays
                .into_iter()
                .map(|ms| Duration::from_millis(u64::from(ms)))
                .collect();
            p.jitter = f64::from(jitter_percent) / 100.0;
            Ok(())
        })
    }
}

/// Sets how long a failed host is skipped (doubled per further failure, up to `max_cooldown_ms`;
/// defaults 30000 and 300000). `cooldown_ms` 0 turns host memory off.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_host_cooldown_ms(
    config: *mut agora_link_config,
    cooldown_ms: u32,
    max_cooldown_ms: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            if cooldown_ms > max_cooldown_ms {
                return Err(invalid("cooldown_ms exceeds max_cooldown_ms".into()));
            }
            p.cooldown = Duration::from_millis(u64::from(cooldown_ms));
            p.max_cooldown = Duration::from_millis(u64::from(max_cooldown_ms));
            Ok(())
        })
    }
}

/// Turns the spec's steps 2 (the same host once more) and 3 (the other primary) on or off
/// (both on by default).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_failover_steps(
    config: *mut agora_link_config,
    retry_same_host: bool,
    other_primary: bool,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            p.retry_same_host = retry_same_host;
            p.other_primary = other_primary;
            Ok(())
        })
    }
}

/// Turns the regional step (spec step 4) off.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_regional_off(
    config: *mut agora_link_config,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            p.regional = RegionalFallback::Off;
            Ok(())
        })
    }
}

fn adjacent(
    p: &mut crate::failover::FailoverPolicy,
) -> (&mut Option<AgoraRegion>, &mut Vec<(IpNetwork, AgoraRegion)>) {
    if !matches!(p.regional, RegionalFallback::Adjacent { .. }) {
        p.regional = RegionalFallback::default();
    }
    match &mut p.regional {
        RegionalFallback::Adjacent {
            region,
            address_map,
        } => (region, address_map),
        _ => unreachable!("set just above"),
    }
}

fn region_arg(text: &str) -> Result<AgoraRegion, FfiError> {
    text.parse::<AgoraRegion>()
        .map_err(|_| invalid(format!("unknown Agora region {text:?}")))
}

/// Uses the adjacent regional hosts (the default mode) with `region` (e.g. `"eu-central-1"`) as
/// the region the primary resolves to when no address-map entry matches; NULL clears it.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `region` is NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_regional_region(
    config: *mut agora_link_config,
    region: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            let parsed = if region.is_null() {
                None
            } else {
                Some(region_arg(str_arg(region, "region")?)?)
            };
            *adjacent(p).0 = parsed;
            Ok(())
        })
    }
}

/// Maps the addresses of `network` (`"192.0.2.0/24"`, `"2001:db8::/32"` or one address) to
/// `region`: when the primary host resolves into it, the regional step uses the adjacent region.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; strings are NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_add_regional_address_map(
    config: *mut agora_link_config,
    network: *const c_char,
    region: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            let text = str_arg(network, "network")?;
            let network: IpNetwork = text
                .parse()
                .map_err(|_| invalid(format!("{text:?} is not an IP network")))?;
            let region = region_arg(str_arg(region, "region")?)?;
            adjacent(p).1.push((network, region));
            Ok(())
        })
    }
}

/// Appends `host` (`"host"` or `"host:port"`) to an explicit regional host list, which replaces
/// the adjacent hosts.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `host` is NULL or NUL-terminated;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_add_regional_host(
    config: *mut agora_link_config,
    host: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update_failover(config, error_out, |p| {
            let host = str_arg(host, "host")?.to_owned();
            match &mut p.regional {
                RegionalFallback::Hosts(hosts) => hosts.push(host),
                other => *other = RegionalFallback::Hosts(vec![host]),
            }
            Ok(())
        })
    }
}

/// Resolves only the hosts given with `agora_link_config_add_resolve`; others fail at once as
/// DNS failures (pinned endpoints, hermetic tests). Default false.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_resolve_overrides_only(
    config: *mut agora_link_config,
    enabled: bool,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        super::config::update_builder(config, error_out, |b| Ok(b.resolve_overrides_only(enabled)))
    }
}

/// The counters of one host, borrowed from an `agora_link_stats`.
#[repr(C)]
pub struct agora_link_host_stats_view {
    /// `"host"` or `"host:port"`.
    pub host: *const c_char,
    /// Requests sent (or attempted) to the host.
    pub attempts: u64,
    /// Attempts that got a usable answer.
    pub successes: u64,
    /// Attempts that failed as a host failure.
    pub failures: u64,
    /// Times a call skipped the host while it was cooling down.
    pub skipped: u64,
    /// true while the host is cooling down (skipped by calls).
    pub cooling_down: bool,
    /// How long it stays skipped, in milliseconds (0 when healthy).
    pub cooldown_remaining_ms: u64,
    /// The last failure (`AGORA_LINK_FAILURE_*`), `AGORA_LINK_FAILURE_NONE` after a success.
    pub last_failure: u32,
}

/// The counters of a client, borrowed from an `agora_link_stats`.
#[repr(C)]
pub struct agora_link_stats_view {
    /// HTTP requests the client made.
    pub requests: u64,
    /// Attempts over every host.
    pub attempts: u64,
    /// Attempts that went to the same host again.
    pub retries: u64,
    /// Times a request moved on to another host.
    pub failovers: u64,
    /// Requests that failed after every permitted attempt.
    pub failed_requests: u64,
    /// The number of entries of `hosts`.
    pub host_count: usize,
    /// The primary hosts and every host tried or skipped; `host_count` entries.
    pub hosts: *const agora_link_host_stats_view,
}

/// A snapshot of a client's counters. Free with `agora_link_stats_free`. Immutable: readable
/// from any thread.
pub struct agora_link_stats {
    view: agora_link_stats_view,
    _hosts: Vec<agora_link_host_stats_view>,
    _names: Vec<std::ffi::CString>,
}

impl From<ClientStats> for agora_link_stats {
    fn from(stats: ClientStats) -> Self {
        let names: Vec<_> = stats
            .hosts
            .iter()
            .map(|h| super::cstring(&h.host))
            .collect();
        let hosts: Vec<_> = stats
            .hosts
            .iter()
            .zip(&names)
            .map(|(h, name)| agora_link_host_stats_view {
                host: name.as_ptr(),
                attempts: h.attempts,
                successes: h.successes,
                failures: h.failures,
                skipped: h.skipped,
                cooling_down: h.state == HostState::CoolingDown,
                cooldown_remaining_ms: h.cooldown_remaining.as_millis() as u64,
                last_failure: failure_code(h.last_failure),
            })
            .collect();
        Self {
            view: agora_link_stats_view {
                requests: stats.requests,
                attempts: stats.attempts,
                retries: stats.retries,
                failovers: stats.failovers,
                failed_requests: stats.failed_requests,
                host_count: hosts.len(),
                hosts: if hosts.is_empty() {
                    ptr::null()
                } else {
                    hosts.as_ptr()
                },
            },
            _hosts: hosts,
            _names: names,
        }
    }
}

/// Takes a snapshot of the client's request counters and host health. Never blocks on the
/// network. On success `*stats_out` receives a snapshot owned by the caller.
///
/// # Safety
/// `client` is NULL or live; `stats_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_get_stats(
    client: *const agora_link_client,
    stats_out: *mut *mut agora_link_stats,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(stats_out, "stats_out")?;
        // SAFETY: NULL or live, per the contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| FfiError::null("client"))?;
        write_out(stats_out, agora_link_stats::from(client.client.stats()));
        Ok(())
    })
}

/// The fields of `stats`, borrowed from it; NULL if `stats` is NULL.
///
/// # Safety
/// `stats` is NULL or a live snapshot.
#[no_mangle]
pub unsafe extern "C" fn agora_link_stats_get(
    stats: *const agora_link_stats,
) -> *const agora_link_stats_view {
    guard_value(ptr::null(), || {
        // SAFETY: NULL or live, per the contract.
        unsafe { stats.as_ref() }.map_or(ptr::null(), |s| &s.view)
    })
}

/// Frees a snapshot. NULL is a no-op.
///
/// # Safety
/// `stats` is NULL or a snapshot from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_stats_free(stats: *mut agora_link_stats) {
    // SAFETY: forwarded contract.
    unsafe { free_box(stats) }
}
