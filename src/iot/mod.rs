//! IoT credentials: from a login's `gyToken` to a presigned MQTT-over-WebSocket URL for AWS IoT,
//! and a provider that keeps the credentials fresh.
//!
//! * [`sigv4`]: a small SigV4 query presigner (on `ring`, already linked for TLS).
//! * [`Clock`]: the client's estimate of the server clock, applied to signing and expiry checks.
//! * [`presign_mqtt_url`] and [`IotCredentials::mqtt_url`](crate::IotCredentials::mqtt_url):
//!   `wss://<endpoint>/mqtt?X-Amz-…&X-Amz-Signature=…&X-Amz-Security-Token=…`, signed for the
//!   service `iotdevicegateway` with the session token appended after signing (AWS IoT's rule).
//! * [`IotCredentialProvider`]: refresh ahead of expiry from `proof`, then Cognito
//!   `GetCredentialsForIdentity`, then a fresh login through the app's callback.

pub(crate) mod cognito;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub(crate) mod provider;
pub mod sigv4;

use std::time::{Duration, SystemTime};

pub use crate::clock::Clock;
pub use provider::{
    CredentialSource, IotCredentialProvider, IotCredentialProviderBuilder, ProviderEvent,
    ReloginCallback,
};

use crate::api::third_party::{AwsProof, IotCredentials};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The SigV4 service name of the AWS IoT device gateway (MQTT over WebSocket).
pub const IOT_SERVICE: &str = "iotdevicegateway";

/// Where to connect: scheme and the `Host` value (with the port only when it is not the
/// scheme's default).
#[derive(Debug, Clone, PartialEq, Eq)]
struct WebSocketTarget {
    secure: bool,
    host: String,
}

/// Parses `host`, `host:port`, `wss://host[:port][/mqtt]`, or `ws://<loopback>:port` (plain
/// WebSocket only to loopback, for local gateways such as the sandbox's).
fn websocket_target(endpoint: &str) -> Result<WebSocketTarget> {
    let trimmed = endpoint.trim();
    let bad = |why: &str| Error::InvalidArgument(format!("IoT endpoint {trimmed:?}: {why}"));
    let (secure, rest) = if let Some(rest) = trimmed.strip_prefix("wss://") {
        (true, rest)
    } else if let Some(rest) = trimmed.strip_prefix("ws://") {
        (false, rest)
    } else if trimmed.contains("://") {
        return Err(bad("the scheme must be wss:// (or ws:// to loopback)"));
    } else {
        (true, trimmed)
    };
    let authority = rest.split('/').next().unwrap_or_default();
    // AWS IoT hosts are ASCII, and the IDNA stub linked for size (`idna_adapter` 1.0) refuses
    // any other; given a host mixing non-ASCII and upper-case letters it fails a debug
    // assertion (a panic in debug builds), so such hosts are refused here, and ASCII is
    // lower-cased first (found by fuzzing).
    // Only what a host, a port or a bracketed IPv6 address is made of: the URL parser would
    // otherwise quietly drop user info, a query or a fragment, and strip tabs and newlines.
    if let Some(odd) = authority
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']')))
    {
        return Err(bad(&if odd.is_ascii() {
            format!("{odd:?} has no place in a host and port (no user info, query or fragment)")
        } else {
            "the host must be ASCII (use its xn-- form)".to_owned()
        }));
    }
    let url = url::Url::parse(&format!(
        "{}://{}/",
        if secure { "wss" } else { "ws" },
        authority.to_ascii_lowercase()
    ))
    .map_err(|e| bad(&e.to_string()))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    if !rest[authority.len()..].trim_end_matches('/').is_empty()
        && rest[authority.len()..].trim_end_matches('/') != "/mqtt"
    {
        return Err(bad("the path must be /mqtt"));
    }
    if !secure {
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if !loopback {
            return Err(bad("plain ws:// is allowed only to a loopback host"));
        }
    }
    // `Url` drops the scheme's default port: the Host header carries no `:443`.
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok(WebSocketTarget { secure, host })
}

/// Presigns `wss://<endpoint>/mqtt` with `credentials` for `region` at `time` (use a
/// [`Clock`]'s `now()`). The URL carries the session token: treat it as a secret, and sign it
/// right before every (re)connect (AWS IoT refuses presigned URLs older than about 15 minutes).
pub fn presign_mqtt_url(
    endpoint: &str,
    region: &str,
    credentials: &AwsProof,
    time: SystemTime,
) -> Result<SecretString> {
    let target = websocket_target(endpoint)?;
    if !sigv4::is_region_name(region) {
        return Err(Error::InvalidArgument(format!(
            "{region:?} is not an AWS region name (such as cn-north-1)"
        )));
    }
    if credentials.access_key_id.is_empty() || credentials.secret_key.is_empty() {
        return Err(Error::InvalidArgument(
            "the access key id and secret key must not be empty".into(),
        ));
    }
    let session_token = if credentials.session_token.is_empty() {
        sigv4::SessionToken::None
    } else {
        sigv4::SessionToken::AppendedUnsigned(credentials.session_token.expose())
    };
    let query = sigv4::presign_query(&sigv4::PresignParams {
        host: &target.host,
        path: "/mqtt",
        service: IOT_SERVICE,
        region,
        access_key_id: &credentials.access_key_id,
        secret_access_key: credentials.secret_key.expose(),
        session_token,
        time,
        expires: None,
    });
    let scheme = if target.secure { "wss" } else { "ws" };
    Ok(SecretString::new(format!(
        "{scheme}://{}/mqtt?{query}",
        target.host
    )))
}

impl IotCredentials {
    /// The AWS region to sign for: `gyToken.region`, or when that is empty, the region in the
    /// endpoint (`…iot.cn-north-1.amazonaws.com.cn` → `cn-north-1`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the region is not shaped like an AWS region (lowercase
    /// letters, digits and hyphens, e.g. `cn-north-1`; see [`sigv4::is_region_name`]): it goes
    /// into the Cognito host name and the signature scope, so a server's `x@attacker.example/`
    /// must not send the OpenID token elsewhere. The bad value is quoted cut to 32 characters.
    pub fn signing_region(&self) -> Result<String> {
        let region = self.region.trim();
        if !region.is_empty() {
            if !sigv4::is_region_name(region) {
                return Err(Error::InvalidArgument(format!(
                    "gyToken.region {} is not an AWS region name (like cn-north-1)",
                    crate::config::quoted_prefix(region, 32)
                )));
            }
            return Ok(region.to_owned());
        }
        sigv4::region_from_endpoint(&self.endpoint)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "gyToken has no region and none can be read from the endpoint {:?}",
                    self.endpoint
                ))
            })
    }

    /// The MQTT client id: `pool.identityId`.
    pub fn mqtt_client_id(&self) -> &str {
        &self.pool.identity_id
    }

    /// A presigned `wss://<endpoint>/mqtt` URL made with `proof`, signed at `time`.
    pub fn mqtt_url(&self, time: SystemTime) -> Result<SecretString> {
        presign_mqtt_url(&self.endpoint, &self.signing_region()?, &self.proof, time)
    }
}

/// How long before expiry credentials are renewed: the larger of 5 minutes and a tenth of their
/// lifetime, capped at half the lifetime.
pub fn refresh_margin(lifetime: Duration) -> Duration {
    Duration::from_secs(300)
        .max(lifetime / 10)
        .min(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn proof(token: &str) -> AwsProof {
        AwsProof {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_key: "secret/key+example".into(),
            session_token: token.into(),
            session_expiration: UNIX_EPOCH,
        }
    }

    #[test]
    fn endpoints_become_websocket_targets() {
        for (endpoint, secure, host) in [
            (
                "abc-ats.iot.cn-north-1.amazonaws.com.cn",
                true,
                "abc-ats.iot.cn-north-1.amazonaws.com.cn",
            ),
            (
                "wss://abc.iot.us-east-1.amazonaws.com:443/mqtt",
                true,
                "abc.iot.us-east-1.amazonaws.com",
            ),
            (
                "abc.iot.us-east-1.amazonaws.com:8443",
                true,
                "abc.iot.us-east-1.amazonaws.com:8443",
            ),
            ("ws://127.0.0.1:9001", false, "127.0.0.1:9001"),
            ("ws://localhost:9001/mqtt", false, "localhost:9001"),
        ] {
            let target = websocket_target(endpoint).unwrap();
            assert_eq!(
                (target.secure, target.host.as_str()),
                (secure, host),
                "{endpoint}"
            );
        }
        for bad in [
            "",
            "ws://example.com:9001",
            "https://abc.iot.us-east-1.amazonaws.com",
            "wss://abc/other",
            "wss://:443",
            // What the URL parser would quietly rewrite: a newline or tab inside the host,
            // user info, a query, a fragment, a backslash for a slash.
            "a\nb.iot.us-east-1.amazonaws.com",
            "a\tb.iot.us-east-1.amazonaws.com",
            "wss://user:pw@abc.iot.us-east-1.amazonaws.com/mqtt",
            "attacker.example@abc.iot.us-east-1.amazonaws.com",
            "abc.iot.us-east-1.amazonaws.com?x=1",
            "abc.iot.us-east-1.amazonaws.com#frag",
            "wss://abc.iot.us-east-1.amazonaws.com:443?x=1/mqtt",
            "abc.iot.us-east-1.amazonaws.com\\mqtt",
            "abc.iot us-east-1.amazonaws.com",
            "abc.iot.us-east-1.amazonaws.com\0",
            "abc.iot.us-east-1.amazonaws.com%2F",
        ] {
            assert!(
                matches!(websocket_target(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        // IPv6 loopback in brackets still works.
        let target = websocket_target("ws://[::1]:9001/mqtt").unwrap();
        assert_eq!(target.host, "[::1]:9001");
    }

    #[test]
    fn regions_that_are_not_aws_region_names_are_refused() {
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for region in [
            "",
            "   ",
            " cn-north-1",
            "cn-north-1 ",
            "cn-north-1\n",
            "cn-north-1\0",
            "x@attacker.example/",
            "\u{5317}\u{4eac}",
            "CN-NORTH-1",
            "cn-north",
            "cn--1",
        ] {
            let result = presign_mqtt_url(
                "abc-ats.iot.cn-north-1.amazonaws.com.cn",
                region,
                &proof("token"),
                time,
            );
            assert!(
                matches!(result, Err(Error::InvalidArgument(_))),
                "{region:?}: {result:?}"
            );
        }
    }

    /// Found by fuzzing (`structured_login`): a `gyToken.endpoint` mixing non-ASCII and
    /// upper-case letters (`",,ECRESSIѐA"`) reached the ASCII-only IDNA stub (`idna_adapter`
    /// 1.0), whose debug assertion panicked; release builds refused it as an invalid name.
    #[test]
    fn non_ascii_endpoints_are_refused_without_panicking() {
        for endpoint in [
            ",,ECRESSI\u{450}A",
            "\u{c4}B.iot.cn-north-1.amazonaws.com.cn",
            "wss://ABC.\u{4f8b}\u{5b50}.com/mqtt",
            "ws://LOCALHOST\u{450}:9001",
        ] {
            let result = std::panic::catch_unwind(|| websocket_target(endpoint));
            assert!(
                matches!(result, Ok(Err(Error::InvalidArgument(_)))),
                "{endpoint:?}: {result:?}"
            );
        }
        // Upper-case ASCII is fine, and lower-cased as before.
        let target = websocket_target("wss://ABC.IoT.us-east-1.AmazonAWS.com/mqtt").unwrap();
        assert_eq!(target.host, "abc.iot.us-east-1.amazonaws.com");
        let target = websocket_target("XN--BCHER-KVA.Example.com:8443").unwrap();
        assert_eq!(target.host, "xn--bcher-kva.example.com:8443");
    }

    #[test]
    fn presigned_urls_end_with_the_unsigned_session_token() {
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let url = presign_mqtt_url(
            "abc-ats.iot.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
            &proof("to/ken="),
            time,
        )
        .unwrap();
        let url = url.expose();
        assert!(url.starts_with("wss://abc-ats.iot.cn-north-1.amazonaws.com.cn/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLE%2F20231114%2Fcn-north-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-SignedHeaders=host&X-Amz-Signature="), "{url}");
        assert!(url.ends_with("&X-Amz-Security-Token=to%2Fken%3D"), "{url}");
        let without = presign_mqtt_url(
            "abc-ats.iot.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
            &proof("other"),
            time,
        )
        .unwrap();
        let signature = |u: &str| u.split("X-Amz-Signature=").nth(1).unwrap()[..64].to_owned();
        assert_eq!(
            signature(url),
            signature(without.expose()),
            "the token is not signed"
        );
        assert!(presign_mqtt_url("x.iot.us-east-1.amazonaws.com", " ", &proof("t"), time).is_err());
        assert!(
            format!("{without:?}").contains("***") || !format!("{without:?}").contains("Signature")
        );
    }

    #[test]
    fn refresh_margin_is_five_minutes_or_a_tenth() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(360)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(1800)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(120)),
            Duration::from_secs(60)
        );
    }
}
