//! The IoT side of the emulated cloud: the temporary AWS credentials that `login` and Cognito
//! issue, Cognito `GetCredentialsForIdentity`, and an AWS-IoT-style WebSocket gateway that checks
//! the SigV4 query of the upgrade request (403 with a `Date` header when it is wrong, stale or
//! made with expired credentials) and then bridges the connection to a real MQTT broker.
//!
//! The SigV4 check is written here from AWS's documentation, independently of the client's
//! presigner, so that each checks the other.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ring::{digest, hmac};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Temporary AWS credentials issued by the sandbox.
#[derive(Debug, Clone)]
pub(crate) struct AwsSession {
    pub access_key_id: String,
    pub secret_key: String,
    pub session_token: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone)]
struct Identity {
    open_id_token: String,
    token_expires_ms: i64,
}

/// Identities and AWS sessions.
#[derive(Debug, Default)]
pub(crate) struct IotRegistry {
    identities: HashMap<String, Identity>,
    sessions: HashMap<String, AwsSession>,
}

impl IotRegistry {
    pub fn register_identity(&mut self, identity_id: &str, open_id_token: &str, expires_ms: i64) {
        self.identities.insert(
            identity_id.to_owned(),
            Identity {
                open_id_token: open_id_token.to_owned(),
                token_expires_ms: expires_ms,
            },
        );
    }

    pub fn register_session(&mut self, session: AwsSession) {
        self.sessions.insert(session.access_key_id.clone(), session);
    }

    /// Makes every AWS session expired now.
    pub fn expire_sessions(&mut self, now_ms: i64) {
        for session in self.sessions.values_mut() {
            session.expires_ms = session.expires_ms.min(now_ms - 1);
        }
    }

    /// Makes every OpenID token expired now (Cognito then refuses them).
    pub fn expire_open_id_tokens(&mut self, now_ms: i64) {
        for identity in self.identities.values_mut() {
            identity.token_expires_ms = identity.token_expires_ms.min(now_ms - 1);
        }
    }

    fn session(&self, access_key_id: &str) -> Option<&AwsSession> {
        self.sessions.get(access_key_id)
    }
}

/// Cognito's error body and status.
pub(crate) struct CognitoFailure {
    pub status: u16,
    pub body: Value,
}

fn cognito_failure(kind: &str, message: &str) -> CognitoFailure {
    CognitoFailure {
        status: 400,
        body: json!({"__type": kind, "message": message}),
    }
}

impl crate::state::Db {
    /// `GetCredentialsForIdentity`: `{"IdentityId", "Logins": {"<provider>": "<OpenID token>"}}`.
    pub(crate) fn cognito_get_credentials(
        &mut self,
        target: Option<&str>,
        body: &[u8],
    ) -> Result<Value, CognitoFailure> {
        self.stats.cognito_requests += 1;
        if target != Some("AWSCognitoIdentityService.GetCredentialsForIdentity") {
            return Err(cognito_failure(
                "UnknownOperationException",
                "unknown X-Amz-Target",
            ));
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|_| cognito_failure("SerializationException", "body is not JSON"))?;
        let identity_id = body
            .get("IdentityId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(identity) = self.iot.identities.get(&identity_id).cloned() else {
            return Err(cognito_failure(
                "ResourceNotFoundException",
                "Identity not found.",
            ));
        };
        let presented = body
            .get("Logins")
            .and_then(Value::as_object)
            .and_then(|logins| {
                logins
                    .iter()
                    .find(|(key, _)| key.starts_with("cognito-identity."))
                    .and_then(|(_, value)| value.as_str())
            })
            .unwrap_or_default();
        if presented != identity.open_id_token {
            return Err(cognito_failure(
                "NotAuthorizedException",
                "Invalid login token.",
            ));
        }
        if identity.token_expires_ms <= crate::state::now_ms() {
            return Err(cognito_failure(
                "NotAuthorizedException",
                "Invalid login token. Token expired.",
            ));
        }
        let session = self.issue_aws_session();
        Ok(json!({
            "IdentityId": identity_id,
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "SecretKey": session.secret_key,
                "SessionToken": session.session_token,
                "Expiration": session.expires_ms as f64 / 1000.0,
            }
        }))
    }
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => return None, // SigV4 queries encode spaces as %20
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn rfc3986(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Parses `YYYYMMDDTHHMMSSZ` to ms since the epoch.
fn parse_amz_date(text: &str) -> Option<i64> {
    if text.len() != 16 || &text[8..9] != "T" || !text.ends_with('Z') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + hour * 3600 + minute * 60 + second) * 1000)
}

/// Checks a presigned upgrade request; `Err` holds the reason of the refusal.
fn verify(
    registry: &IotRegistry,
    region: &str,
    path: &str,
    query: &str,
    host: &str,
    now_ms: i64,
) -> Result<(), String> {
    if path != "/mqtt" {
        return Err(format!("unknown path {path}"));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name).ok_or("bad query encoding")?;
        let value = percent_decode(value).ok_or("bad query encoding")?;
        params.push((name, value));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err("X-Amz-Algorithm must be AWS4-HMAC-SHA256".into());
    }
    if get("X-Amz-SignedHeaders") != Some("host") {
        return Err("X-Amz-SignedHeaders must be host".into());
    }
    let credential = get("X-Amz-Credential").ok_or("missing X-Amz-Credential")?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, cred_region, service, "aws4_request"] = parts[..] else {
        return Err("malformed X-Amz-Credential".into());
    };
    let session = registry
        .session(access_key_id)
        .ok_or("The security token included in the request is invalid (unknown access key)")?;
    if get("X-Amz-Security-Token") != Some(session.session_token.as_str()) {
        return Err("The security token included in the request is invalid".into());
    }
    if session.expires_ms <= now_ms {
        return Err("The security token included in the request is expired".into());
    }
    if cred_region != region {
        return Err(format!("wrong region {cred_region} (expected {region})"));
    }
    if service != "iotdevicegateway" && service != "iotdata" {
        return Err(format!("wrong service {service}"));
    }
    let amz_date = get("X-Amz-Date").ok_or("missing X-Amz-Date")?;
    let signed_at = parse_amz_date(amz_date).ok_or("malformed X-Amz-Date")?;
    if !amz_date.starts_with(date) {
        return Err("X-Amz-Date does not match the credential scope date".into());
    }
    if signed_at > now_ms + 5 * 60_000 {
        return Err(
            "Signature not yet current: the request time is more than 5 minutes ahead".into(),
        );
    }
    let valid_for_ms = match get("X-Amz-Expires") {
        Some(seconds) => {
            seconds
                .parse::<i64>()
                .map_err(|_| "bad X-Amz-Expires")?
                .min(15 * 60)
                * 1000
        }
        None => 15 * 60_000,
    };
    if signed_at + valid_for_ms < now_ms {
        return Err("Signature expired: the presigned URL is stale".into());
    }
    let signature = get("X-Amz-Signature").ok_or("missing X-Amz-Signature")?;

    // The canonical query: every parameter but the signature and the session token (AWS IoT
    // does not sign the token), sorted, values RFC 3986-encoded.
    let mut canonical: Vec<(String, String)> = params
        .iter()
        .filter(|(n, _)| n != "X-Amz-Signature" && n != "X-Amz-Security-Token")
        .map(|(n, v)| (rfc3986(n), rfc3986(v)))
        .collect();
    canonical.sort();
    let canonical_query = canonical
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request =
        format!("GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\n{EMPTY_SHA256}");
    let scope = format!("{date}/{cred_region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let sign = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let key = sign(format!("AWS4{}", session.secret_key).as_bytes(), date);
    let key = sign(key.as_ref(), cred_region);
    let key = sign(key.as_ref(), service);
    let key = sign(key.as_ref(), "aws4_request");
    let expected = hex(sign(key.as_ref(), &string_to_sign).as_ref());
    if expected != signature {
        return Err(
            "The request signature we calculated does not match the signature you provided".into(),
        );
    }
    Ok(())
}

/// Shared state of the gateway.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub shared: Arc<crate::server::Shared>,
    pub upstream: Option<SocketAddr>,
    /// Bumped to drop every open connection (as a broker restart or network loss would).
    pub drops: tokio::sync::watch::Sender<u64>,
    /// The sandbox's connections, under one cap with the HTTP listeners: the upgrade request
    /// must arrive within `header_read_timeout`; a connection is shed to make room until its
    /// upgrade is accepted.
    pub tracker: agora_link_server_guard::Tracker,
    /// Refusals logged at most once a second.
    pub refusal_log: agora_link_server_guard::RateLimited,
}

fn http_date_now() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

async fn refuse(stream: &mut TcpStream, reason: &str) {
    let body = json!({"message": reason}).to_string();
    let response = format!(
        "HTTP/1.1 403 Forbidden\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        http_date_now(),
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads the request head (up to 16 KiB, 5 s).
async fn read_head(
    stream: &mut TcpStream,
    connection: &agora_link_server_guard::RawConnection,
) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(2048);
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return None;
        }
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        connection.received();
        head.extend_from_slice(&buffer[..read]);
    }
    Some(head)
}

async fn serve_connection(
    gateway: Arc<Gateway>,
    mut stream: TcpStream,
    connection: agora_link_server_guard::RawConnection,
) {
    // The head must arrive before the connection's deadline (or it is shed to make room).
    let head = tokio::select! {
        head = read_head(&mut stream, &connection) => head,
        () = connection.closed() => None,
    };
    let Some(head) = head else {
        return;
    };
    let _serving = connection.start();
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut headers = HashMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let host = headers.get("host").cloned().unwrap_or_default();
    let outcome = if method != "GET" {
        Err("only GET upgrades are accepted".to_owned())
    } else if !headers
        .get("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    {
        Err("not a WebSocket upgrade".to_owned())
    } else {
        let db = gateway.shared.db();
        verify(
            &db.iot,
            &db.iot_region,
            path,
            query,
            &host,
            crate::state::now_ms(),
        )
    };
    {
        let mut db = gateway.shared.db();
        match &outcome {
            Ok(()) => db.stats.gateway_accepted += 1,
            Err(reason) => {
                db.stats.gateway_refused += 1;
                db.stats.record_gateway_refusal(reason);
            }
        }
    }
    if let Err(reason) = outcome {
        if let Some(held_back) = gateway.refusal_log.allow() {
            tracing::info!(%reason, held_back, "IoT gateway refused an upgrade (logged at most once a second)");
        }
        refuse(&mut stream, &reason).await;
        return;
    }
    match gateway.upstream {
        Some(upstream) => {
            let Ok(mut broker) = TcpStream::connect(upstream).await else {
                let _ = stream
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            };
            let _ = broker.set_nodelay(true);
            if broker.write_all(&head).await.is_err() {
                return;
            }
            let mut drops = gateway.drops.subscribe();
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut stream, &mut broker) => {}
                _ = drops.changed() => {}
            }
        }
        None => {
            // No broker: complete the WebSocket handshake and keep the connection open, silent.
            let key = headers
                .get("sec-websocket-key")
                .cloned()
                .unwrap_or_default();
            let mut input = key.into_bytes();
            input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            let accept = base64(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input).as_ref());
            let protocol = headers
                .get("sec-websocket-protocol")
                .map(|p| {
                    format!(
                        "Sec-WebSocket-Protocol: {}\r\n",
                        p.split(',').next().unwrap_or("mqtt").trim()
                    )
                })
                .unwrap_or_default();
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
            );
            if stream.write_all(response.as_bytes()).await.is_ok() {
                let mut drops = gateway.drops.subscribe();
                let mut sink = [0u8; 1024];
                loop {
                    tokio::select! {
                        read = stream.read(&mut sink) => if !matches!(read, Ok(n) if n > 0) { break },
                        _ = drops.changed() => break,
                    }
                }
            }
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The gateway's accept loop (aborted with the sandbox).
pub(crate) async fn run_gateway(listener: TcpListener, gateway: Arc<Gateway>) {
    let mut connections = tokio::task::JoinSet::new();
    let accept_log = agora_link_server_guard::RateLimited::new(Duration::from_secs(10));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(connection) = gateway.tracker.admit_raw(peer.ip()) else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(gateway.clone(), stream, connection));
            }
            Err(error) => {
                if let Some(held_back) = accept_log.allow() {
                    tracing::warn!(%error, held_back, "gateway accept failed (logged at most once per 10 s)");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_and_the_websocket_accept_key() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20170628T204845Z"), Some(1_498_682_925_000));
        assert_eq!(parse_amz_date("20170628T204845"), None);
        assert_eq!(parse_amz_date("20171328T204845Z"), None);
        // RFC 6455's example.
        let mut input = b"dGhlIHNhbXBsZSBub25jZQ==".to_vec();
        input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        assert_eq!(
            base64(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input).as_ref()),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_aws_iot_vector_verifies() {
        let mut registry = IotRegistry::default();
        registry.register_session(AwsSession {
            access_key_id: "TRUSTMETHISIDISFAKE0".into(),
            secret_key: "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11".into(),
            session_token: "token".into(),
            expires_ms: i64::MAX,
        });
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=TRUSTMETHISIDISFAKE0%2F20170628%2Fus-east-1%2Fiotdata%2Faws4_request&X-Amz-Date=20170628T204845Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=b79a4d7e31ccbf96b22d93cce1b500b9ee611ec966159547e140ae32e4dcebed&X-Amz-Security-Token=token";
        let signed_at = parse_amz_date("20170628T204845Z").unwrap();
        let host = "data.iot.us-east-1.amazonaws.com";
        assert_eq!(
            verify(
                &registry,
                "us-east-1",
                "/mqtt",
                query,
                host,
                signed_at + 1000
            ),
            Ok(())
        );
        let stale = verify(
            &registry,
            "us-east-1",
            "/mqtt",
            query,
            host,
            signed_at + 16 * 60_000,
        );
        assert!(stale.unwrap_err().contains("stale"));
        let ahead = verify(
            &registry,
            "us-east-1",
            "/mqtt",
            query,
            host,
            signed_at - 6 * 60_000,
        );
        assert!(ahead.unwrap_err().contains("ahead"));
        let tampered = query.replace("b79a", "c79a");
        assert!(
            verify(&registry, "us-east-1", "/mqtt", &tampered, host, signed_at)
                .unwrap_err()
                .contains("signature")
        );
        let wrong_token = query.replace("Token=token", "Token=other");
        assert!(verify(
            &registry,
            "us-east-1",
            "/mqtt",
            &wrong_token,
            host,
            signed_at
        )
        .is_err());
        assert!(verify(&registry, "eu-west-1", "/mqtt", query, host, signed_at).is_err());
        // Without X-Amz-Expires, for the service iotdevicegateway: the vector the client's C test
        // checks (computed by the client's presigner, verified here independently).
        let no_expiry = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=TRUSTMETHISIDISFAKE0%2F20170628%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20170628T204845Z&X-Amz-SignedHeaders=host&X-Amz-Signature=26b19e1d5f79e90c742aff838d2679be9ea0dcf4505a3e5d5e7262a5a255f938&X-Amz-Security-Token=token";
        assert_eq!(
            verify(&registry, "us-east-1", "/mqtt", no_expiry, host, signed_at),
            Ok(())
        );
        assert!(verify(
            &registry,
            "us-east-1",
            "/mqtt",
            query,
            "other.host",
            signed_at
        )
        .is_err());
    }
}
