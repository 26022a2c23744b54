//! HTTP proxies, chosen the way curl chooses them, with the library's own rules on top.
//!
//! Where a request goes, in order:
//!
//! 1. **Direct** to a loopback host (`localhost`, `127.0.0.0/8`, `::1`) and for any plain-`http`
//!    URL (the only plain-HTTP URLs a client accepts are loopback ones, and a request carrying
//!    a password or client secret is never handed to a proxy in clear);
//! 2. **direct** to a host pinned with a resolve override, and for every host when the client is
//!    limited to its overrides (a proxy would resolve the name itself);
//! 3. **direct** when the host matches the no-proxy list: the configured one, else `no_proxy` /
//!    `NO_PROXY` (curl's syntax: comma-separated host names matching themselves and their
//!    subdomains, a leading dot optional; IP addresses; CIDR ranges; `*` for every host);
//! 4. through the **configured proxy**, when one is set;
//! 5. else, unless the environment is turned off, through `https_proxy` / `HTTPS_PROXY` for
//!    `https` URLs (`http_proxy` — lower case only, as curl reads it — for `http` ones), then
//!    `all_proxy` / `ALL_PROXY`.
//!
//! HTTPS goes through the proxy with `CONNECT`. A proxy URL without a scheme is `http://`;
//! `https://` proxies are supported, SOCKS ones are refused. Credentials in the proxy URL
//! (`http://user:password@proxy:3128`) are sent as `Proxy-Authorization: Basic` and are secrets:
//! [`ProxyTarget::display`] and every error show the proxy without them.

use std::net::IpAddr;

use reqwest::Url;

use crate::config::ProxySetting;
use crate::error::{Error, Result};

/// A proxy a request is sent through.
#[derive(Clone)]
pub(crate) struct ProxyTarget {
    /// The proxy URL, credentials included (for reqwest only).
    url: Url,
    /// Where it came from: `"configured"` or the environment variable's name.
    pub source: &'static str,
}

impl ProxyTarget {
    /// The proxy URL without credentials, for messages: `http://***@proxy:3128`.
    pub fn display(&self) -> String {
        redacted(&self.url)
    }

    /// `host:port` of the proxy.
    pub fn authority(&self) -> Option<(String, u16)> {
        let host = self.url.host_str()?.trim_matches(['[', ']']).to_owned();
        Some((host, self.url.port_or_known_default()?))
    }
}

impl std::fmt::Debug for ProxyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyTarget")
            .field("url", &self.display())
            .field("source", &self.source)
            .finish()
    }
}

/// A proxy URL with any user name and password replaced by `***`.
pub(crate) fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = shown.set_password(None);
        let _ = shown.set_username("***");
    }
    shown.as_str().trim_end_matches('/').to_owned()
}

/// One entry of a no-proxy list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bypass {
    All,
    Domain(String),
    Ip(IpAddr),
    Cidr(IpAddr, u8),
}

fn parse_bypass(list: &str) -> Vec<Bypass> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            if entry == "*" {
                return Bypass::All;
            }
            if let Some((ip, bits)) = entry.split_once('/') {
                if let (Ok(ip), Ok(bits)) = (
                    ip.trim_matches(['[', ']']).parse::<IpAddr>(),
                    bits.parse::<u8>(),
                ) {
                    return Bypass::Cidr(ip, bits);
                }
            }
            let bare = entry.trim_matches(['[', ']']);
            if let Ok(ip) = bare.parse::<IpAddr>() {
                return Bypass::Ip(ip);
            }
            // `host:port` entries: curl ignores the port.
            let host = match entry.rsplit_once(':') {
                Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
                _ => entry,
            };
            Bypass::Domain(host.trim_start_matches('.').to_ascii_lowercase())
        })
        .collect()
}

fn in_cidr(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn bypassed(list: &[Bypass], host: &str) -> bool {
    let host = host
        .trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    list.iter().any(|entry| match entry {
        Bypass::All => true,
        Bypass::Ip(wanted) => ip == Some(*wanted),
        Bypass::Cidr(network, bits) => ip.is_some_and(|ip| in_cidr(ip, *network, *bits)),
        Bypass::Domain(domain) => {
            host == *domain
                || (host.len() > domain.len()
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
        }
    })
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses a proxy URL (`http://`, `https://`, or no scheme for `http://`).
fn parse_proxy(raw: &str, source: &'static str) -> Result<ProxyTarget> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    // Never echo the value: it may hold a password.
    let url = Url::parse(&with_scheme)
        .map_err(|e| Error::Config(format!("the proxy from {source} is not a valid URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Error::Config(format!(
                "the proxy from {source} uses {other:?}; only http:// and https:// proxies are supported"
            )))
        }
    }
    if url.host_str().map_or(true, str::is_empty) {
        return Err(Error::Config(format!(
            "the proxy from {source} has no host"
        )));
    }
    Ok(ProxyTarget { url, source })
}

/// The client's proxy rules, decided once when the client is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyPolicy {
    /// For `https` URLs.
    https: Option<ProxyTarget>,
    /// For `http` URLs (never used: see rule 1; kept so that the rule is explicit).
    http: Option<ProxyTarget>,
    bypass: Vec<Bypass>,
    /// Hosts pinned by resolve overrides (lower case).
    pinned: Vec<String>,
    /// Every host is pinned (`resolve_overrides_only`).
    all_pinned: bool,
}

/// Reads an environment variable, lower case first.
fn env_var(names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*name, v))
    })
}

impl ProxyPolicy {
    /// The rules for a client: its proxy setting, its resolve overrides, and (unless the
    /// setting says otherwise) the environment. An unusable proxy URL is [`Error::Config`].
    pub fn new(
        setting: &ProxySetting,
        no_proxy: Option<&str>,
        pinned_hosts: impl IntoIterator<Item = String>,
        all_pinned: bool,
    ) -> Result<Self> {
        let pinned = pinned_hosts
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let env_no_proxy = || env_var(&["no_proxy", "NO_PROXY"]).map(|(_, v)| v);
        let (https, http, bypass) = match setting {
            ProxySetting::Disabled => (None, None, String::new()),
            ProxySetting::Url(url) => {
                if all_pinned {
                    return Err(Error::Config(
                        "a proxy cannot be used with resolve_overrides_only: the proxy would resolve \
                         the API's name itself"
                            .into(),
                    ));
                }
                let target = parse_proxy(url.expose(), "the configuration")?;
                (
                    Some(target.clone()),
                    Some(target),
                    no_proxy
                        .map(str::to_owned)
                        .or_else(env_no_proxy)
                        .unwrap_or_default(),
                )
            }
            ProxySetting::FromEnvironment => {
                let all = env_var(&["all_proxy", "ALL_PROXY"]);
                let https = env_var(&["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone());
                // curl reads only the lower-case http_proxy (HTTP_PROXY can be set by a CGI
                // request's `Proxy:` header).
                let http = env_var(&["http_proxy"]).or(all);
                let https = https.map(|(name, v)| parse_proxy(&v, name)).transpose()?;
                let http = http.map(|(name, v)| parse_proxy(&v, name)).transpose()?;
                (
                    https,
                    http,
                    no_proxy
                        .map(str::to_owned)
                        .or_else(env_no_proxy)
                        .unwrap_or_default(),
                )
            }
        };
        Ok(Self {
            https,
            http,
            bypass: parse_bypass(&bypass),
            pinned,
            all_pinned,
        })
    }

    /// `true` when no request can ever go through a proxy.
    pub fn is_direct(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }

    /// The proxy for a request to `url`, or `None` to connect directly (rules 1-5 above).
    pub fn for_url(&self, url: &Url) -> Option<&ProxyTarget> {
        let host = url.host_str()?;
        if url.scheme() != "https" || is_loopback(host) {
            return None;
        }
        let lower = host.trim_matches(['[', ']']).to_ascii_lowercase();
        if self.all_pinned || self.pinned.contains(&lower) {
            return None;
        }
        if bypassed(&self.bypass, host) {
            return None;
        }
        self.https.as_ref()
    }

    /// The proxy for reqwest: the URL with its credentials.
    pub fn reqwest_proxy(policy: std::sync::Arc<ProxyPolicy>) -> reqwest::Proxy {
        reqwest::Proxy::custom(move |url| policy.for_url(url).map(|target| target.url.clone()))
    }

    #[cfg(test)]
    fn http_target(&self) -> Option<&ProxyTarget> {
        self.http.as_ref()
    }
}

/// Asks `proxy` to open a tunnel to `host:port` once more, to learn the status line of its
/// refusal (the HTTP stack reports only that the tunnel failed). At most `timeout`; `None` when
/// the proxy cannot be reached or does not answer in HTTP.
pub(crate) async fn probe_connect_status(
    proxy: &ProxyTarget,
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if proxy.url.scheme() != "http" {
        return None;
    }
    let (proxy_host, proxy_port) = proxy.authority()?;
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect((proxy_host.as_str(), proxy_port))
            .await
            .ok()?;
        let request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 256];
        let read = stream.read(&mut head).await.ok()?;
        let text = String::from_utf8_lossy(&head[..read]);
        let line = text.lines().next()?.trim();
        let status = line.strip_prefix("HTTP/1.")?.get(2..)?.trim();
        (!status.is_empty()).then(|| {
            status
                .chars()
                .filter(|c| !c.is_control())
                .take(60)
                .collect::<String>()
        })
    };
    tokio::time::timeout(timeout, probe).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn explicit(proxy: &str, no_proxy: Option<&str>) -> ProxyPolicy {
        ProxyPolicy::new(
            &ProxySetting::Url(proxy.into()),
            no_proxy,
            Vec::<String>::new(),
            false,
        )
        .unwrap()
    }

    #[test]
    fn loopback_and_plain_http_never_go_through_a_proxy() {
        let policy = explicit("http://proxy.example:3128", None);
        for direct in [
            "http://127.0.0.1:8080/x",
            "https://127.0.0.1:8443/x",
            "https://localhost/x",
            "https://[::1]:9/x",
            "http://api.sd-rtn.com/x",
        ] {
            assert!(policy.for_url(&url(direct)).is_none(), "{direct}");
        }
        assert!(policy.for_url(&url("https://api.sd-rtn.com/x")).is_some());
        assert!(policy.http_target().is_some());
    }

    #[test]
    fn no_proxy_follows_curl() {
        let policy = explicit(
            "proxy:3128",
            Some(" .agora.io, sd-rtn.com:443 ,10.0.0.0/8, 192.168.1.7,[2001:db8::1], fd00::/8"),
        );
        for direct in [
            "https://api.agora.io/",
            "https://agora.io/",
            "https://api.sd-rtn.com/",
            "https://sd-rtn.com/",
            "https://10.1.2.3/",
            "https://192.168.1.7/",
            "https://[2001:db8::1]/",
            "https://[fd00::5]/",
        ] {
            assert!(policy.for_url(&url(direct)).is_none(), "{direct}");
        }
        for proxied in [
            "https://notagora.io/",
            "https://api.sd-rtn.com.evil.example/",
            "https://11.0.0.1/",
            "https://192.168.1.8/",
            "https://cognito-identity.cn-north-1.amazonaws.com.cn/",
        ] {
            assert!(policy.for_url(&url(proxied)).is_some(), "{proxied}");
        }
        let all = explicit("proxy:3128", Some("*"));
        assert!(all.for_url(&url("https://api.sd-rtn.com/")).is_none());
    }

    #[test]
    fn pinned_hosts_go_direct_and_overrides_only_refuses_a_proxy() {
        let policy = ProxyPolicy::new(
            &ProxySetting::Url("http://proxy:3128".into()),
            None,
            vec!["API.sd-rtn.com".to_owned()],
            false,
        )
        .unwrap();
        assert!(policy.for_url(&url("https://api.sd-rtn.com/")).is_none());
        assert!(policy.for_url(&url("https://api.agora.io/")).is_some());
        let refused = ProxyPolicy::new(
            &ProxySetting::Url("http://proxy:3128".into()),
            None,
            Vec::<String>::new(),
            true,
        );
        assert!(matches!(refused, Err(Error::Config(_))));
    }

    #[test]
    fn proxy_urls_are_parsed_and_shown_without_credentials() {
        let policy = explicit("http://alice:s3cr3t-pw@proxy.example:3128", None);
        let target = policy.for_url(&url("https://api.agora.io/")).unwrap();
        assert_eq!(target.display(), "http://***@proxy.example:3128");
        assert!(!format!("{target:?}").contains("s3cr3t"));
        assert_eq!(target.authority(), Some(("proxy.example".into(), 3128)));
        let bare = explicit("proxy.example:8080", None);
        let target = bare.for_url(&url("https://api.agora.io/")).unwrap();
        assert_eq!(target.display(), "http://proxy.example:8080");
        for bad in [
            "socks5://proxy:1080",
            "http://",
            "ftp://proxy",
            "http://[::1",
        ] {
            let error = ProxyPolicy::new(
                &ProxySetting::Url(bad.into()),
                None,
                Vec::<String>::new(),
                false,
            )
            .unwrap_err();
            assert!(matches!(error, Error::Config(_)), "{bad}");
        }
        let secret = ProxyPolicy::new(
            &ProxySetting::Url("socks5://bob:hunter2@proxy:1080".into()),
            None,
            Vec::<String>::new(),
            false,
        )
        .unwrap_err();
        assert!(!secret.to_string().contains("hunter2"), "{secret}");
        assert!(
            ProxyPolicy::new(&ProxySetting::Disabled, None, Vec::<String>::new(), false)
                .unwrap()
                .is_direct()
        );
    }
}
