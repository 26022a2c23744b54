//! The IoT gateway of the emulated cloud: an AWS-IoT-style WebSocket gateway that checks the
//! SigV4 query of the upgrade request against the AWS sessions the state issued (403 with a
//! `Date` header when it is wrong, stale or made with expired credentials) and then bridges the
//! connection to a real MQTT broker. It reads and counts through the [`Shared`] state it shares
//! with the HTTP server.
//!
//! The SigV4 check is written here from AWS's documentation, independently of the client's
//! presigner, so that each checks the other.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ring::{digest, hmac};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::aws::IotRegistry;
use crate::shared::Shared;
use crate::state::now_ms;

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

/// Parses `YYYYMMDDTHHMMSSZ` (ASCII digits only) to ms since the epoch.
pub(crate) fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    // Digits only (no sign, no multi-byte character): each field is then small and every step
    // below is far from overflowing.
    let number = |range: std::ops::Range<usize>| {
        let digits = bytes.get(range)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse::<i64>().ok()
    };
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

/// The longest `X-Amz-Expires` AWS accepts (7 days, in seconds); AWS IoT then caps the
/// validity of a WebSocket upgrade at 15 minutes.
const MAX_EXPIRES_SECS: i64 = 604_800;

/// How long an upgrade request stays valid after `X-Amz-Date`: `X-Amz-Expires` (1 to
/// [`MAX_EXPIRES_SECS`] seconds, digits only), at most 15 minutes; 15 minutes without it.
fn validity_ms(expires: Option<&str>) -> Result<i64, String> {
    let Some(seconds) = expires else {
        return Ok(15 * 60_000);
    };
    let seconds = Some(seconds)
        .filter(|s| !s.is_empty() && s.len() <= 7 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| (1..=MAX_EXPIRES_SECS).contains(s))
        .ok_or("X-Amz-Expires must be a number of seconds from 1 to 604800")?;
    Ok(seconds.min(15 * 60) * 1000)
}

/// The SigV4 signature (lowercase hex) of a presigned WebSocket upgrade: `params` are the
/// decoded query parameters; `date` the scope date (`YYYYMMDD`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn expected_signature(
    params: &[(String, String)],
    path: &str,
    host: &str,
    secret_key: &str,
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
) -> String {
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
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let sign = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let key = sign(format!("AWS4{secret_key}").as_bytes(), date);
    let key = sign(key.as_ref(), region);
    let key = sign(key.as_ref(), service);
    let key = sign(key.as_ref(), "aws4_request");
    hex(sign(key.as_ref(), &string_to_sign).as_ref())
}

/// The decoded parameters of a query (`None` for a bad percent-encoding or a `+`).
pub(crate) fn query_params(query: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((percent_decode(name)?, percent_decode(value)?));
    }
    Some(params)
}

/// Checks a presigned upgrade request; `Err` holds the reason of the refusal.
pub(crate) fn verify(
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
    let params = query_params(query).ok_or("bad query encoding")?;
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
    if date.len() != 8 || !amz_date.starts_with(date) {
        return Err("X-Amz-Date does not match the credential scope date".into());
    }
    if signed_at > now_ms.saturating_add(5 * 60_000) {
        return Err(
            "Signature not yet current: the request time is more than 5 minutes ahead".into(),
        );
    }
    let valid_for_ms = validity_ms(get("X-Amz-Expires"))?;
    // `signed_at` is within years 0000 to 9999 and `valid_for_ms` at most 15 minutes.
    if signed_at.saturating_add(valid_for_ms) < now_ms {
        return Err("Signature expired: the presigned URL is stale".into());
    }
    let signature = get("X-Amz-Signature").ok_or("missing X-Amz-Signature")?;
    let expected = expected_signature(
        &params,
        path,
        host,
        &session.secret_key,
        amz_date,
        date,
        cred_region,
        service,
    );
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
    pub shared: Arc<Shared>,
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

/// Why the gateway does not upgrade a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: the request head is not a well-formed HTTP/1.1 request.
    BadRequest(String),
    /// 403: a well-formed request the gateway refuses (as AWS IoT does).
    Forbidden(String),
}

impl Refusal {
    fn reason(&self) -> &str {
        match self {
            Refusal::BadRequest(reason) | Refusal::Forbidden(reason) => reason,
        }
    }
}

/// The refusal's response (JSON body, `Date` header, connection closed).
pub(crate) fn refusal_response(refusal: &Refusal) -> String {
    let status = match refusal {
        Refusal::BadRequest(_) => "400 Bad Request",
        Refusal::Forbidden(_) => "403 Forbidden",
    };
    let body = json!({"message": refusal.reason()}).to_string();
    format!(
        "HTTP/1.1 {status}\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        http_date_now(),
        body.len()
    )
}

async fn refuse(stream: &mut TcpStream, refusal: &Refusal) {
    let _ = stream.write_all(refusal_response(refusal).as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads the request head (up to 16 KiB, 5 s).
async fn read_head(
    stream: &mut TcpStream,
    connection: &agora_link_server_guard::RawConnection,
) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(2048);
    let mut buffer = [0u8; 2048];
    while head_end(&head).is_none() {
        if head.len() > MAX_HEAD_BYTES {
            return None;
        }
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        connection.received();
        head.extend_from_slice(buffer.get(..read)?);
    }
    Some(head)
}

/// The most bytes of a request head the gateway reads.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Where the head ends (the index of its blank line's `\r\n\r\n`).
fn head_end(head: &[u8]) -> Option<usize> {
    head.windows(4).position(|w| w == b"\r\n\r\n")
}

/// A parsed upgrade request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UpgradeHead {
    /// The request method.
    pub method: String,
    /// The path of the request target.
    pub path: String,
    /// The query of the request target (after `?`), still percent-encoded.
    pub query: String,
    /// Header names (lowercase) and values (trimmed); the last of repeated headers wins.
    pub headers: HashMap<String, String>,
}

impl UpgradeHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Whether `byte` may stand in an HTTP token (a method or a header name, RFC 9110).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Parses a request head (what [`read_head`] read, possibly followed by more bytes): UTF-8,
/// lines ending in CRLF (or LF), a request line `METHOD TARGET HTTP/1.x`, headers `name: value`
/// with token names and no control character but tab.
pub(crate) fn parse_head(head: &[u8]) -> Result<UpgradeHead, Refusal> {
    let bad = |reason: &str| Refusal::BadRequest(reason.to_owned());
    let head = head
        .get(..head_end(head).unwrap_or(head.len()))
        .unwrap_or(head);
    let text = std::str::from_utf8(head).map_err(|_| bad("the request head is not UTF-8"))?;
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty()
        || !method.bytes().all(is_token_byte)
        || !matches!(version, "HTTP/1.1" | "HTTP/1.0")
        || !target.starts_with('/')
        || target.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad("malformed request line"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HashMap::new();
    // The head ends at the first empty line (a bare LF ends lines too).
    for line in lines.take_while(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("malformed header line"));
        };
        if name.is_empty()
            || !name.bytes().all(is_token_byte)
            || value.chars().any(|c| c.is_control() && c != '\t')
        {
            return Err(bad("malformed header line"));
        }
        headers.insert(
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_owned(),
        );
    }
    Ok(UpgradeHead {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
    })
}

/// Checks a parsed upgrade request against the issued credentials.
pub(crate) fn check_upgrade(
    head: &UpgradeHead,
    registry: &IotRegistry,
    region: &str,
    now_ms: i64,
) -> Result<(), Refusal> {
    if head.method != "GET" {
        return Err(Refusal::Forbidden("only GET upgrades are accepted".into()));
    }
    if !head
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    {
        return Err(Refusal::Forbidden("not a WebSocket upgrade".into()));
    }
    verify(
        registry,
        region,
        &head.path,
        &head.query,
        head.header("host").unwrap_or_default(),
        now_ms,
    )
    .map_err(Refusal::Forbidden)
}

/// The `101 Switching Protocols` answer to an accepted upgrade (when no broker is bridged):
/// the accept key of `Sec-WebSocket-Key`, and the first offered subprotocol when it is a token.
pub(crate) fn handshake_response(head: &UpgradeHead) -> String {
    let key = head.header("sec-websocket-key").unwrap_or_default();
    let mut input = key.as_bytes().to_vec();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input).as_ref());
    let protocol = head
        .header("sec-websocket-protocol")
        .and_then(|p| p.split(',').next())
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.bytes().all(is_token_byte))
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
    )
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
    let outcome = parse_head(&head).and_then(|parsed| {
        let db = gateway.shared.db();
        check_upgrade(&parsed, &db.iot, &db.iot_region, now_ms()).map(|()| parsed)
    });
    {
        let mut db = gateway.shared.db();
        match &outcome {
            Ok(_) => db.stats.gateway_accepted += 1,
            Err(refusal) => {
                db.stats.gateway_refused += 1;
                db.stats.record_gateway_refusal(refusal.reason());
            }
        }
    }
    let parsed = match outcome {
        Ok(parsed) => parsed,
        Err(refusal) => {
            if let Some(held_back) = gateway.refusal_log.allow() {
                tracing::info!(
                    reason = refusal.reason(),
                    held_back,
                    "IoT gateway refused an upgrade (logged at most once a second)"
                );
            }
            refuse(&mut stream, &refusal).await;
            return;
        }
    };
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
            let response = handshake_response(&parsed);
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
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            match ALPHABET.get(((n >> shift) & 63) as usize) {
                Some(&c) if i <= chunk.len() => out.push(char::from(c)),
                _ => out.push('='),
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
    use crate::aws::AwsSession;

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
    fn heads_are_parsed_strictly_and_nothing_is_echoed_unchecked() {
        let head = parse_head(b"GET /mqtt?a=b HTTP/1.1\r\nHost: h\r\nUpgrade:  websocket\t\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Protocol: mqtt, mqttv3.1\r\n\r\nframes").unwrap();
        assert_eq!((head.path.as_str(), head.query.as_str()), ("/mqtt", "a=b"));
        assert_eq!(head.header("upgrade"), Some("websocket"));
        assert!(handshake_response(&head).contains("\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"));
        for bad in [
            &b"GET /mqtt HTTP/1.1\r\nSec-WebSocket-Protocol: mqtt\rX-Injected: 1\r\n\r\n"[..],
            b"GET /mqtt HTTP/1.1\r\nX: \x1b[2J\r\n\r\n",
            b"GET /mqtt HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET /mqtt HTTP/1.1\r\nBad name: v\r\n\r\n",
            b"GET /mqtt HTTP/1.1 extra\r\n\r\n",
            b"GET mqtt HTTP/1.1\r\n\r\n",
            b"GET /mqtt HTTP/2\r\n\r\n",
            b"G\xc3\xa9T /mqtt HTTP/1.1\r\n\r\n",
            b"GET /mqtt HTTP/1.1\r\nHost: \xff\r\n\r\n",
            b"",
        ] {
            assert!(
                matches!(parse_head(bad), Err(Refusal::BadRequest(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A subprotocol that is not a token is not echoed.
        let head =
            parse_head(b"GET /mqtt HTTP/1.1\r\nSec-WebSocket-Protocol: a b;c\r\n\r\n").unwrap();
        assert!(!handshake_response(&head).contains("Sec-WebSocket-Protocol"));
        assert!(refusal_response(&Refusal::BadRequest("x".into())).starts_with("HTTP/1.1 400 "));
    }

    #[test]
    fn odd_dates_and_expiries_are_refused_without_overflow() {
        assert_eq!(parse_amz_date("2017062\u{e9}204845Z"), None);
        assert_eq!(parse_amz_date("+0170628T204845Z"), None);
        assert_eq!(parse_amz_date("2017-628T204845Z"), None);
        assert_eq!(
            parse_amz_date("99991231T235960Z"),
            Some(253_402_300_800_000)
        );
        assert_eq!(
            parse_amz_date("00000101T000000Z"),
            Some(-62_167_219_200_000)
        );
        for expires in [
            "-9223372036854775808",
            "9223372036854775807",
            "0",
            "-1",
            "+5",
            "",
            "604801",
            "1e3",
        ] {
            assert!(validity_ms(Some(expires)).is_err(), "{expires}");
        }
        assert_eq!(validity_ms(Some("604800")), Ok(900_000));
        assert_eq!(validity_ms(Some("60")), Ok(60_000));
        assert_eq!(validity_ms(None), Ok(900_000));
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
