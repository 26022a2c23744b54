//! Client configuration: region, credentials, grant, endpoint override, timeouts and trust.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

use crate::error::{Error, Result};
use crate::policy::{FailoverPolicy, ServerLocation};
use crate::secret::SecretString;

/// Whether this build carries the Mozilla roots (`bundled-roots` feature, from `webpki-roots`):
/// the default of [`ClientConfigBuilder::use_bundled_roots`].
pub const BUNDLED_ROOTS_BUILT_IN: bool = cfg!(feature = "bundled-roots");

/// The default limit on the size of a response body: 4 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default timeout of one whole HTTP exchange.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an idle pooled connection is kept by default: 4 s, below the idle timeouts of common
/// servers and load balancers (Apache and Node.js 5 s, nginx 75 s, AWS ALB 60 s), so that the
/// client rarely reuses a connection the server is closing.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// The Agora Link deployment to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// Mainland China: `https://api.sd-rtn.com/agoralink/cn/api`.
    China,
    /// North America: `https://api.agora.io/agoralink/na/api`.
    NorthAmerica,
}

impl FailoverPolicy {
    /// Where the business server runs for `region`: the policy's own setting, or else the
    /// region's (spec step 1).
    pub(crate) fn location(&self, region: Region) -> ServerLocation {
        self.server_location
            .unwrap_or_else(|| ServerLocation::for_region(region))
    }
}

impl ServerLocation {
    fn for_region(region: Region) -> Self {
        match region {
            Region::China => ServerLocation::MainlandChina,
            Region::NorthAmerica => ServerLocation::Elsewhere,
        }
    }
}

impl Region {
    /// The primary host of this region.
    pub fn primary_host(self) -> &'static str {
        match self {
            Region::China => "api.sd-rtn.com",
            Region::NorthAmerica => "api.agora.io",
        }
    }

    /// The path segment of this region (`cn` or `na`).
    pub fn path_segment(self) -> &'static str {
        match self {
            Region::China => "cn",
            Region::NorthAmerica => "na",
        }
    }

    /// The API path prefix of this region: `/agoralink/<segment>/api`.
    pub fn api_path(self) -> String {
        format!("/agoralink/{}/api", self.path_segment())
    }
}

impl std::str::FromStr for Region {
    type Err = Error;

    /// Parses `cn`/`china` or `na`/`north-america` (case-insensitive). An unknown name is a
    /// `Config` error quoting at most its first 32 characters.
    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "cn" | "china" => Ok(Region::China),
            "na" | "north-america" | "northamerica" => Ok(Region::NorthAmerica),
            _ => Err(Error::Config(format!(
                "unknown region {}; expected \"cn\" or \"na\"",
                quoted_prefix(value, 32)
            ))),
        }
    }
}

/// Which HTTP proxy requests go through (see [`ClientConfigBuilder::proxy`]). Whatever the
/// setting, loopback hosts, plain-`http` URLs and hosts pinned with [`ClientConfigBuilder::resolve`]
/// are reached directly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// The environment, as curl reads it: `https_proxy`/`HTTPS_PROXY`, then
    /// `all_proxy`/`ALL_PROXY` (`http_proxy`, lower case only, for plain-HTTP URLs), with
    /// `no_proxy`/`NO_PROXY`. The default.
    #[default]
    FromEnvironment,
    /// No proxy, whatever the environment says (curl's `--noproxy '*'`).
    Disabled,
    /// This proxy (`http://[user:password@]host:port` or `https://…`; no scheme means
    /// `http://`). The URL is a secret when it carries credentials: it is never shown.
    Url(SecretString),
}

/// How the client obtains its REST token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// `grant_type=password` with a user name and password.
    Password {
        /// The user name.
        username: String,
        /// The password (redacted in `Debug`, zeroized on drop).
        password: SecretString,
    },
    /// `grant_type=client_credentials`: the client id and secret alone.
    ClientCredentials,
}

/// A validated client configuration. Build one with [`ClientConfig::builder`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub(crate) region: Region,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) grant: Grant,
    pub(crate) api_base: Url,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) root_certificates_pem: Vec<Vec<u8>>,
    pub(crate) use_bundled_roots: bool,
    pub(crate) use_system_roots: bool,
    pub(crate) resolve_overrides: Vec<(String, SocketAddr)>,
    pub(crate) user_agent: String,
    pub(crate) max_response_bytes: usize,
    pub(crate) failover: FailoverPolicy,
    pub(crate) custom_base_url: bool,
    pub(crate) resolve_overrides_only: bool,
    pub(crate) proxy: ProxySetting,
    pub(crate) no_proxy: Option<String>,
}

impl ClientConfig {
    /// Starts a configuration for `region` with the client id and secret Agora issued.
    pub fn builder(
        region: Region,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> ClientConfigBuilder {
        ClientConfigBuilder {
            region,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            grant: Grant::ClientCredentials,
            base_url: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            root_certificates_pem: Vec::new(),
            use_bundled_roots: BUNDLED_ROOTS_BUILT_IN,
            use_system_roots: !BUNDLED_ROOTS_BUILT_IN,
            resolve_overrides: Vec::new(),
            user_agent: default_user_agent(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            failover: FailoverPolicy::default(),
            resolve_overrides_only: false,
            proxy: ProxySetting::default(),
            no_proxy: None,
        }
    }

    /// The region.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The API base URL of the primary host, every endpoint path is appended to, e.g.
    /// `https://api.sd-rtn.com/agoralink/cn/api`. The primary host is the base URL's host when one
    /// is set, else the failover policy's primary (by default the region's host).
    pub fn api_base(&self) -> &Url {
        &self.api_base
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The configured grant.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The failover policy.
    pub fn failover(&self) -> &FailoverPolicy {
        &self.failover
    }
}

/// Builder of a [`ClientConfig`]; [`ClientConfigBuilder::build`] validates everything at once.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientConfigBuilder {
    region: Region,
    client_id: String,
    client_secret: SecretString,
    grant: Grant,
    base_url: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    pool_idle_timeout: Duration,
    root_certificates_pem: Vec<Vec<u8>>,
    use_bundled_roots: bool,
    use_system_roots: bool,
    resolve_overrides: Vec<(String, SocketAddr)>,
    user_agent: String,
    max_response_bytes: usize,
    failover: FailoverPolicy,
    resolve_overrides_only: bool,
    proxy: ProxySetting,
    no_proxy: Option<String>,
}

impl ClientConfigBuilder {
    /// One line for the bindings' string forms (`toString`, `description`, `repr`): `name(...)`
    /// with the region, the client id, the user name, the base URL when set and the proxy when
    /// set; the client secret, the password, the proxy URL and any user info of the base URL as
    /// `***`.
    #[cfg(feature = "uniffi")]
    pub(crate) fn summarize(&self, name: &str) -> String {
        let region = match self.region {
            Region::China => "Region.CHINA",
            Region::NorthAmerica => "Region.NORTH_AMERICA",
        };
        let mut line = format!(
            "{name}(region={region}, client_id={:?}, client_secret=***",
            self.client_id
        );
        if let Grant::Password { username, .. } = &self.grant {
            line.push_str(&format!(", username={username:?}, password=***"));
        }
        if let Some(base_url) = &self.base_url {
            // Not validated yet: any user info masked, as in error messages.
            line.push_str(&format!(", base_url={}", quoted_url(base_url)));
        }
        match &self.proxy {
            ProxySetting::Url(_) => line.push_str(", proxy=***"),
            ProxySetting::Disabled => line.push_str(", no_proxy=\"*\""),
            ProxySetting::FromEnvironment => {}
        }
        line.push(')');
        line
    }

    /// Uses the password grant with this user name and password.
    pub fn password_grant(
        mut self,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.grant = Grant::Password {
            username: username.into(),
            password: password.into(),
        };
        self
    }

    /// Uses the client-credentials grant (the default).
    pub fn client_credentials_grant(mut self) -> Self {
        self.grant = Grant::ClientCredentials;
        self
    }

    /// Sets the grant.
    pub fn grant(mut self, grant: Grant) -> Self {
        self.grant = grant;
        self
    }

    /// Replaces scheme, host and port (e.g. `http://127.0.0.1:8080`); the region's
    /// `/agoralink/<cn|na>/api` path is still appended to any path the URL has.
    /// Plain `http` is accepted only for loopback hosts.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets the TCP+TLS connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the timeout of one whole HTTP exchange (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long an idle pooled connection is kept for reuse (default 4 s,
    /// [`DEFAULT_POOL_IDLE_TIMEOUT`]). Keep it below the idle timeout of the servers and load
    /// balancers between the client and the API. Whatever it is, a call that must not be resent
    /// (`open`, `register`, `removeAccount`) never reuses a pooled connection, and an idempotent
    /// call whose pooled connection turns out to be closed is retried at once on a fresh one.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Adds trusted root certificates from a PEM bundle (one or more certificates).
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates_pem.push(pem.into());
        self
    }

    /// Whether to trust the Mozilla web PKI roots compiled into the library (`webpki-roots`;
    /// default `true` when the `bundled-roots` feature is on, as in every build but the C
    /// library's `firmware` bundles). Turn it off to trust only the system store
    /// ([`Self::use_system_roots`]) and the certificates added with
    /// [`Self::add_root_certificates_pem`]. `true` in a build without the feature makes
    /// [`Self::build`] fail with [`Error::Config`].
    pub fn use_bundled_roots(mut self, enabled: bool) -> Self {
        self.use_bundled_roots = enabled;
        self
    }

    /// Whether to trust the system's root store, read when the client is created (default
    /// `false`, or `true` in a build without the `bundled-roots` feature). Read by
    /// `rustls-native-certs`: the PEM file named by `SSL_CERT_FILE` and the directories named by
    /// `SSL_CERT_DIR` (colon-separated) when either is set, else the distribution's bundle as
    /// OpenSSL would find it (`/etc/ssl/certs/ca-certificates.crt` on Debian, Buildroot and
    /// Yocto, `/etc/pki/tls/certs/ca-bundle.crt` on Fedora, ...). Creating the client fails with
    /// [`Error::Config`] when no usable certificate is found there and no other root is trusted.
    pub fn use_system_roots(mut self, enabled: bool) -> Self {
        self.use_system_roots = enabled;
        self
    }

    /// Sends connections for `host` to `address` instead of resolving it, like curl's
    /// `--resolve host:port:address`. TLS still checks the certificate against `host`.
    pub fn resolve(mut self, host: impl Into<String>, address: SocketAddr) -> Self {
        self.resolve_overrides.push((host.into(), address));
        self
    }

    /// Sets the `User-Agent` header (default `agora-link-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Sets the largest response body accepted, in bytes (default 4 MiB).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Sets the failover policy (domain switching, back-off, deadline, host cool-down); the
    /// default follows the spec. See [`crate::failover`].
    pub fn failover(mut self, policy: FailoverPolicy) -> Self {
        self.failover = policy;
        self
    }

    /// The failover policy set so far.
    pub fn failover_policy(&self) -> &FailoverPolicy {
        &self.failover
    }

    /// Sets the overall deadline of one call (default 30 s), whatever the failover plan.
    pub fn call_deadline(mut self, deadline: Duration) -> Self {
        self.failover.call_deadline = deadline;
        self
    }

    /// Resolves only the hosts given with [`Self::resolve`]; any other host fails at once as a
    /// DNS failure, without asking the system resolver (pinned endpoints, hermetic tests).
    pub fn resolve_overrides_only(mut self, enabled: bool) -> Self {
        self.resolve_overrides_only = enabled;
        self
    }

    /// Sends requests through this HTTP proxy (`http://[user:password@]host:port`,
    /// `https://…`, or `host:port`), like curl's `--proxy`; HTTPS goes through `CONNECT`. The
    /// environment's proxy variables are then ignored, `no_proxy`/`NO_PROXY` still applies
    /// unless [`Self::no_proxy`] is set. Loopback hosts, plain-`http` URLs and hosts pinned with
    /// [`Self::resolve`] never go through it; with [`Self::resolve_overrides_only`] a proxy is a
    /// configuration error (it would resolve the names itself). Credentials in the URL are
    /// sent as `Proxy-Authorization: Basic` and never shown. Validated by
    /// [`crate::Client::new`] (`Error::Config`).
    pub fn proxy(mut self, url: impl Into<SecretString>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Uses no proxy at all, whatever the environment says (curl's `--noproxy '*'`).
    pub fn disable_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Disabled;
        self
    }

    /// Sets the proxy setting (the default reads the environment: [`ProxySetting`]).
    pub fn proxy_setting(mut self, setting: ProxySetting) -> Self {
        self.proxy = setting;
        self
    }

    /// Hosts reached directly, not through the proxy, replacing `no_proxy`/`NO_PROXY`: curl's
    /// `--noproxy` list (comma-separated host names, which match their subdomains too, IP
    /// addresses, CIDR ranges, or `*` for every host).
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = Some(hosts.into());
        self
    }

    /// Validates the settings and returns the configuration.
    pub fn build(self) -> Result<ClientConfig> {
        if self.client_id.trim().is_empty() {
            return Err(Error::Config("client_id is empty".into()));
        }
        if self.client_secret.is_empty() {
            return Err(Error::Config("client_secret is empty".into()));
        }
        if let Grant::Password { username, password } = &self.grant {
            if username.trim().is_empty() || password.is_empty() {
                return Err(Error::Config(
                    "the password grant needs a non-empty username and password".into(),
                ));
            }
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(Error::Config("timeouts must be greater than zero".into()));
        }
        if self.max_response_bytes < 1024 {
            return Err(Error::Config(
                "max_response_bytes must be at least 1024".into(),
            ));
        }
        if self.use_bundled_roots && !BUNDLED_ROOTS_BUILT_IN {
            return Err(Error::Config(
                "this build has no bundled roots (feature `bundled-roots` is off): use the system \
                 roots or add root certificates"
                    .into(),
            ));
        }
        if !self.use_bundled_roots
            && !self.use_system_roots
            && self.root_certificates_pem.is_empty()
        {
            return Err(Error::Config(
                "no root certificate is trusted: bundled and system roots are off and no root \
                 certificate was added"
                    .into(),
            ));
        }
        reqwest::header::HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::Config("user agent is not a valid header value".into()))?;
        self.failover.validate()?;
        let primary = self.failover.location(self.region).primary_host();
        let api_base = api_base_url(self.region, primary, self.base_url.as_deref())?;
        Ok(ClientConfig {
            region: self.region,
            client_id: self.client_id,
            client_secret: self.client_secret,
            grant: self.grant,
            api_base,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            pool_idle_timeout: self.pool_idle_timeout,
            root_certificates_pem: self.root_certificates_pem,
            use_bundled_roots: self.use_bundled_roots,
            use_system_roots: self.use_system_roots,
            resolve_overrides: self.resolve_overrides,
            user_agent: self.user_agent,
            max_response_bytes: self.max_response_bytes,
            failover: self.failover,
            custom_base_url: self.base_url.is_some(),
            resolve_overrides_only: self.resolve_overrides_only,
            proxy: self.proxy,
            no_proxy: self.no_proxy,
        })
    }
}

fn default_user_agent() -> String {
    format!("agora-link-rust/{}", env!("CARGO_PKG_VERSION"))
}

/// Builds `<scheme>://<host>[:port][/path]/agoralink/<seg>/api` and enforces HTTPS for remote hosts.
fn api_base_url(region: Region, primary_host: &str, base_url: Option<&str>) -> Result<Url> {
    let raw = base_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{primary_host}"));
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        Error::Config(format!(
            "base URL {} is not a valid URL: {e}",
            quoted_url(&raw)
        ))
    })?;
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "base URL {} has no host",
            quoted_url(&raw)
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "base URL must not carry user info; use the client id/secret settings".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "base URL {} must not have a query or fragment",
            quoted_url(&raw)
        )));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(Error::Config(format!(
                "plain HTTP is allowed only to a loopback host, not {:?}; use https",
                url.host_str().unwrap_or_default()
            )))
        }
        other => {
            return Err(Error::Config(format!(
                "unsupported URL scheme {other:?}; use https"
            )))
        }
    }
    let path = format!("{}{}", url.path().trim_end_matches('/'), region.api_path());
    url.set_path(&path);
    Ok(url)
}

/// A URL from the caller, quoted for an error message: any user info masked (`https://***@host`,
/// found even when the URL does not parse), and cut to 64 characters.
pub(crate) fn quoted_url(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(at) => raw.split_at(at + 3),
        None => ("", raw),
    };
    // A password may hold `/`, `?` or `#` (then the URL does not parse, and those do not end
    // the authority): everything up to the last `@` is masked. An `@` in a path masks more
    // than needed, which an error message can afford.
    let shown = match rest.rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_owned(),
    };
    quoted_prefix(&format!("{scheme}{shown}"), 64)
}

/// `text` quoted (`{:?}`) for an error message, cut to its first `max_chars` characters (an `…`
/// after the quote says it was cut): caller input is never echoed whole.
pub(crate) fn quoted_prefix(text: &str, max_chars: usize) -> String {
    let shown: String = text.chars().take(max_chars).collect();
    let cut = if shown.len() < text.len() { "…" } else { "" };
    format!("{shown:?}{cut}")
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ClientConfigBuilder {
        ClientConfig::builder(Region::China, "id", "secret")
    }

    #[test]
    fn regions_map_to_the_spec_hosts_and_paths() {
        let cn = builder().build().unwrap();
        assert_eq!(
            cn.api_base().as_str(),
            "https://api.sd-rtn.com/agoralink/cn/api"
        );
        let na = ClientConfig::builder(Region::NorthAmerica, "id", "secret")
            .build()
            .unwrap();
        assert_eq!(
            na.api_base().as_str(),
            "https://api.agora.io/agoralink/na/api"
        );
    }

    #[test]
    fn base_url_override_keeps_the_region_path() {
        let config = builder()
            .base_url("http://127.0.0.1:8080/")
            .build()
            .unwrap();
        assert_eq!(
            config.api_base().as_str(),
            "http://127.0.0.1:8080/agoralink/cn/api"
        );
        let config = builder()
            .base_url("https://gw.example.com/prefix")
            .build()
            .unwrap();
        assert_eq!(
            config.api_base().as_str(),
            "https://gw.example.com/prefix/agoralink/cn/api"
        );
        assert!(builder().base_url("http://[::1]:9/").build().is_ok());
        assert!(builder().base_url("http://localhost:9").build().is_ok());
    }

    #[test]
    fn plain_http_to_a_remote_host_is_refused() {
        let err = builder()
            .base_url("http://api.sd-rtn.com")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("loopback")),
            "{err}"
        );
        for bad in [
            "ftp://x",
            "not a url",
            "https://u:p@host",
            "https://h/?q=1",
            "data:text",
        ] {
            assert!(builder().base_url(bad).build().is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_credentials_and_zero_timeouts_are_refused() {
        assert!(ClientConfig::builder(Region::China, " ", "s")
            .build()
            .is_err());
        assert!(ClientConfig::builder(Region::China, "i", "")
            .build()
            .is_err());
        assert!(builder().password_grant("", "p").build().is_err());
        assert!(builder().password_grant("u", "").build().is_err());
        assert!(builder().connect_timeout(Duration::ZERO).build().is_err());
        assert!(builder().user_agent("bad\nagent").build().is_err());
        assert!(builder()
            .use_bundled_roots(false)
            .use_system_roots(false)
            .build()
            .is_err());
    }

    #[test]
    fn roots_follow_the_build_and_a_missing_source_is_refused() {
        // Bundled roots asked for in a build without them is a configuration error, never a
        // client that trusts nothing.
        let bundled = builder().use_bundled_roots(true).build();
        assert_eq!(bundled.is_ok(), BUNDLED_ROOTS_BUILT_IN);
        // The system store alone, or PEM roots alone, are enough.
        assert!(builder()
            .use_bundled_roots(false)
            .use_system_roots(true)
            .build()
            .is_ok());
        assert!(builder()
            .use_bundled_roots(false)
            .use_system_roots(false)
            .add_root_certificates_pem(b"-----BEGIN CERTIFICATE-----".to_vec())
            .build()
            .is_ok());
        // Without bundled roots, the default is the system store.
        let default = ClientConfig::builder(Region::China, "i", "s").build();
        let config = default.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.use_bundled_roots, BUNDLED_ROOTS_BUILT_IN);
        assert_eq!(config.use_system_roots, !BUNDLED_ROOTS_BUILT_IN);
    }

    #[test]
    fn regions_parse_from_cli_names() {
        assert_eq!("cn".parse::<Region>().unwrap(), Region::China);
        assert_eq!("NA".parse::<Region>().unwrap(), Region::NorthAmerica);
        assert!("eu".parse::<Region>().is_err());
        // An unknown name is quoted, cut to 32 characters: a huge input is not echoed whole.
        let huge = "x".repeat(1 << 20);
        let message = huge.parse::<Region>().unwrap_err().to_string();
        assert!(message.len() < 120, "{} bytes", message.len());
        assert!(message.contains("\"cn\" or \"na\""), "{message}");
    }

    #[test]
    fn urls_in_errors_hide_user_info_and_stay_short() {
        for (raw, shown) in [
            ("https://user:PW@[::1", "\"https://***@[::1\""),
            ("https://user:PW@host/p@th?q", "\"https://***@th?q\""),
            ("https://user:p/w@host", "\"https://***@host\""),
            ("https://user:p?w#d@host/x", "\"https://***@host/x\""),
            ("user:PW@host", "\"***@host\""),
            ("https://host/x", "\"https://host/x\""),
        ] {
            assert_eq!(quoted_url(raw), shown);
        }
        assert!(quoted_url(&"x".repeat(1 << 20)).len() < 80);
        for raw in [
            "https://user:URLPW@[::1",
            "https://u:URLPW@h?q#f",
            "ftp://u:URLPW@host",
            "https://u:URLPW/x@host",
            "https://u:x/URLPW@host",
            "https://u:URLPW?#@host",
        ] {
            let message = builder().base_url(raw).build().unwrap_err().to_string();
            assert!(!message.contains("URLPW"), "{message}");
        }
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let config = builder()
            .password_grant("alice", "pa55word-XYZ")
            .build()
            .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("pa55word-XYZ"));
        assert!(!debug.contains("\"secret\""));
        assert!(debug.contains("alice"));
    }
}
