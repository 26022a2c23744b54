//! The configuration builder handle.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::time::Duration;

use super::{
    agora_link_error, agora_link_result, free_box, guard, require_out, str_arg, write_out, FfiError,
};
use crate::config::{ClientConfig, ClientConfigBuilder, Region};

use super::agora_link_result::*;

/// Region value for mainland China: `https://api.sd-rtn.com/agoralink/cn/api`.
pub const AGORA_LINK_REGION_CN: u32 = 0;
/// Region value for North America: `https://api.agora.io/agoralink/na/api`.
pub const AGORA_LINK_REGION_NA: u32 = 1;

/// A client configuration being built. Create it with `agora_link_config_new`, adjust it with the
/// `agora_link_config_set_*`/`_add_*` functions, pass it to `agora_link_client_new` (which copies
/// it), free it with `agora_link_config_free`. Not thread-safe: use it from one thread at a time.
/// Holds the client secret and password until freed; they are zeroized then.
pub struct agora_link_config {
    builder: ClientConfigBuilder,
}

impl agora_link_config {
    pub(crate) fn build(&self) -> Result<ClientConfig, FfiError> {
        self.builder.clone().build().map_err(FfiError::from)
    }
}

/// Applies `change` to the failover policy of the builder behind `config`.
///
/// # Safety
/// `config` is NULL or a live configuration not used by another thread during the call.
pub(crate) unsafe fn update_failover(
    config: *mut agora_link_config,
    error_out: *mut *mut agora_link_error,
    change: impl FnOnce(&mut crate::failover::FailoverPolicy) -> Result<(), FfiError>,
) -> agora_link_result {
    // SAFETY: forwarded contract.
    unsafe {
        update(config, error_out, |b| {
            let mut policy = b.failover_policy().clone();
            change(&mut policy)?;
            Ok(b.failover(policy))
        })
    }
}

/// Applies `change` to the builder behind `config` (for the other adapter modules).
///
/// # Safety
/// `config` is NULL or a live configuration not used by another thread during the call.
pub(crate) unsafe fn update_builder(
    config: *mut agora_link_config,
    error_out: *mut *mut agora_link_error,
    change: impl FnOnce(ClientConfigBuilder) -> Result<ClientConfigBuilder, FfiError>,
) -> agora_link_result {
    // SAFETY: forwarded contract.
    unsafe { update(config, error_out, change) }
}

/// Applies `change` to the builder behind `config`.
///
/// # Safety
/// `config` is NULL or a live configuration not used by another thread during the call.
unsafe fn update(
    config: *mut agora_link_config,
    error_out: *mut *mut agora_link_error,
    change: impl FnOnce(ClientConfigBuilder) -> Result<ClientConfigBuilder, FfiError>,
) -> agora_link_result {
    guard(error_out, || {
        // SAFETY: NULL or live and unshared, per the contract.
        let config = unsafe { config.as_mut() }.ok_or_else(|| FfiError::null("config"))?;
        config.builder = change(config.builder.clone())?;
        Ok(())
    })
}

fn millis(value: u32, name: &str) -> Result<Duration, FfiError> {
    if value == 0 {
        Err(FfiError::new(
            AGORA_LINK_ERROR_INVALID_ARGUMENT,
            format!("{name} must be greater than 0"),
        ))
    } else {
        Ok(Duration::from_millis(u64::from(value)))
    }
}

/// Creates a configuration for `region` (`AGORA_LINK_REGION_CN` or `AGORA_LINK_REGION_NA`) with
/// the client id and secret Agora issued (both copied). The grant defaults to client
/// credentials. On success `*config_out` receives a new configuration owned by the caller.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `config_out` is NULL or writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_new(
    region: u32,
    client_id: *const c_char,
    client_secret: *const c_char,
    config_out: *mut *mut agora_link_config,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(config_out, "config_out")?;
        let region = match region {
            AGORA_LINK_REGION_CN => Region::China,
            AGORA_LINK_REGION_NA => Region::NorthAmerica,
            other => {
                return Err(FfiError::new(
                    AGORA_LINK_ERROR_INVALID_ARGUMENT,
                    format!(
                        "unknown region {other}; use AGORA_LINK_REGION_CN or AGORA_LINK_REGION_NA"
                    ),
                ))
            }
        };
        // SAFETY: forwarded string contract.
        let (client_id, client_secret) = unsafe {
            (
                str_arg(client_id, "client_id")?,
                str_arg(client_secret, "client_secret")?,
            )
        };
        write_out(
            config_out,
            agora_link_config {
                builder: ClientConfig::builder(region, client_id, client_secret),
            },
        );
        Ok(())
    })
}

/// Uses the password grant with `username` and `password` (both copied).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; strings are NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_password_grant(
    config: *mut agora_link_config,
    username: *const c_char,
    password: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            Ok(b.password_grant(
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            ))
        })
    }
}

/// Uses the client-credentials grant (the default).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_client_credentials_grant(
    config: *mut agora_link_config,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe { update(config, error_out, |b| Ok(b.client_credentials_grant())) }
}

/// Replaces scheme and host (e.g. `"http://127.0.0.1:8080"`); the region's
/// `/agoralink/<cn|na>/api` path is still appended. Plain `http` is accepted for loopback hosts
/// only (checked by `agora_link_client_new`).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `base_url` is NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_base_url(
    config: *mut agora_link_config,
    base_url: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            Ok(b.base_url(str_arg(base_url, "base_url")?))
        })
    }
}

/// Sets the connect timeout in milliseconds (default 5000; 0 is invalid).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_connect_timeout_ms(
    config: *mut agora_link_config,
    timeout_ms: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            Ok(b.connect_timeout(millis(timeout_ms, "timeout_ms")?))
        })
    }
}

/// Sets the timeout of one whole HTTP exchange in milliseconds (default 15000; 0 is invalid).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_request_timeout_ms(
    config: *mut agora_link_config,
    timeout_ms: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            Ok(b.request_timeout(millis(timeout_ms, "timeout_ms")?))
        })
    }
}

/// Sets how long an idle pooled connection is kept for reuse, in milliseconds (default 4000;
/// 0 keeps none). Keep it below the idle timeout of the servers and load balancers on the way to
/// the API. Whatever it is, `open`, `register` and `removeAccount` never reuse a pooled
/// connection, and an idempotent call whose pooled connection turns out to be closed is retried
/// at once on a fresh one.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_pool_idle_timeout_ms(
    config: *mut agora_link_config,
    timeout_ms: u32,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            Ok(b.pool_idle_timeout(std::time::Duration::from_millis(u64::from(timeout_ms))))
        })
    }
}

/// Adds trusted root certificates from a PEM buffer of `pem_len` bytes (copied; validated by
/// `agora_link_client_new`).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `pem` is NULL or readable for
/// `pem_len` bytes; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_add_root_certificates_pem(
    config: *mut agora_link_config,
    pem: *const u8,
    pem_len: usize,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: `pem` is non-NULL (checked) and readable for `pem_len` bytes, per the contract.
    let bytes = (!pem.is_null()).then(|| unsafe { std::slice::from_raw_parts(pem, pem_len) });
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            let bytes = bytes.ok_or_else(|| FfiError::null("pem"))?;
            Ok(b.add_root_certificates_pem(bytes.to_vec()))
        })
    }
}

/// Whether to trust the Mozilla roots compiled into the library (default true in `release`
/// builds; the firmware bundles carry none, and there `true` makes `agora_link_client_new` fail
/// with `AGORA_LINK_ERROR_CONFIG`).
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_use_bundled_roots(
    config: *mut agora_link_config,
    enabled: bool,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe { update(config, error_out, |b| Ok(b.use_bundled_roots(enabled))) }
}

/// Whether to trust the system's root store, read by `agora_link_client_new` (default false in
/// `release` builds, true in the firmware bundles unless they were built with
/// `scripts/dist --bundled-roots`): the PEM file named by `SSL_CERT_FILE` and the
/// directories of `SSL_CERT_DIR` when either is set, else the distribution's CA bundle
/// (`/etc/ssl/certs/ca-certificates.crt` on Debian, Buildroot and Yocto). `agora_link_client_new`
/// fails with `AGORA_LINK_ERROR_CONFIG` when no usable certificate is found and no other root is
/// trusted.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_use_system_roots(
    config: *mut agora_link_config,
    enabled: bool,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe { update(config, error_out, |b| Ok(b.use_system_roots(enabled))) }
}

/// Sends connections for `host` to `address` (`"ip:port"`, e.g. `"127.0.0.1:8443"` or
/// `"[::1]:8443"`), like curl's `--resolve`; TLS still checks the certificate against `host`.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; strings are NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_add_resolve(
    config: *mut agora_link_config,
    host: *const c_char,
    address: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            let host = str_arg(host, "host")?;
            let text = str_arg(address, "address")?;
            if host.trim().is_empty() {
                return Err(FfiError::new(
                    AGORA_LINK_ERROR_INVALID_ARGUMENT,
                    "host is empty",
                ));
            }
            let address: SocketAddr = text.parse().map_err(|_| {
                FfiError::new(
                    AGORA_LINK_ERROR_INVALID_ARGUMENT,
                    format!("address {text:?} is not \"ip:port\""),
                )
            })?;
            Ok(b.resolve(host, address))
        })
    }
}

/// Sets the `User-Agent` header.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `user_agent` is NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_user_agent(
    config: *mut agora_link_config,
    user_agent: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            Ok(b.user_agent(str_arg(user_agent, "user_agent")?))
        })
    }
}

/// Sends requests through this HTTP proxy, like curl's `--proxy`:
/// `http://[user:password@]host:port`, `https://...`, or `host:port`; HTTPS goes through
/// `CONNECT`. NULL (or `""`) goes back to the default, the environment as curl reads it
/// (`https_proxy`/`HTTPS_PROXY`, then `all_proxy`/`ALL_PROXY`, with `no_proxy`/`NO_PROXY`).
/// Loopback hosts, plain-HTTP URLs and hosts pinned with `agora_link_config_add_resolve` are
/// always reached directly. The URL (copied) is a secret: credentials in it are sent as
/// `Proxy-Authorization: Basic` and never appear in an error or log. An unusable URL, or a proxy
/// with `resolve_overrides_only`, makes `agora_link_client_new` fail with
/// `AGORA_LINK_ERROR_CONFIG`.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `proxy_url` is NULL or
/// NUL-terminated; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_proxy(
    config: *mut agora_link_config,
    proxy_url: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            if proxy_url.is_null() {
                return Ok(b.proxy_setting(crate::config::ProxySetting::FromEnvironment));
            }
            let url = str_arg(proxy_url, "proxy_url")?;
            Ok(if url.trim().is_empty() {
                b.proxy_setting(crate::config::ProxySetting::FromEnvironment)
            } else {
                b.proxy(url)
            })
        })
    }
}

/// Sets the hosts reached without a proxy, like curl's `--noproxy` (replacing
/// `no_proxy`/`NO_PROXY`): comma-separated host names (matching their subdomains), IP
/// addresses, CIDR ranges; `"*"` uses no proxy at all, whatever the environment says.
///
/// # Safety
/// `config` is NULL or live and not used by another thread; `hosts` is NUL-terminated;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_set_no_proxy(
    config: *mut agora_link_config,
    hosts: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    // SAFETY: forwarded contracts.
    unsafe {
        update(config, error_out, |b| {
            let hosts = str_arg(hosts, "hosts")?;
            Ok(if hosts.trim() == "*" {
                b.disable_proxy()
            } else {
                b.no_proxy(hosts)
            })
        })
    }
}

/// Frees a configuration (clients built from it are unaffected). NULL is a no-op.
///
/// # Safety
/// `config` is NULL or a configuration from `agora_link_config_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_config_free(config: *mut agora_link_config) {
    // SAFETY: forwarded contract.
    unsafe { free_box(config) }
}
