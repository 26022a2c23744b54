//! Entry points into the IoT gateway's request handling for the fuzz targets in `fuzz/`
//! (feature `fuzzing`, off by default; hidden, not a stable API).

use crate::aws::{AwsSession, IotRegistry};
use crate::iot;

/// The access key id of the one session the fuzzed gateway knows.
pub const ACCESS_KEY_ID: &str = "ASIAFUZZFUZZFUZZFUZZ";
/// Its secret key.
pub const SECRET_KEY: &str = "fuzzSecretKeyfuzzSecretKeyfuzzSecretKey0";
/// Its session token.
pub const SESSION_TOKEN: &str = "FwoDYXdzEfuzz/session+token=";
/// The gateway's region.
pub const REGION: &str = "cn-north-1";

/// What the gateway answered a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Upgraded: the `101 Switching Protocols` response sent when no broker is bridged.
    Upgraded(String),
    /// Refused: the 400 or 403 response.
    Refused(String),
}

/// Runs `head` through the gateway as a connection would, at `now_ms`: parse, check against a
/// session that expires at `session_expires_ms`, answer. Never touches the network.
pub fn gateway_answer(head: &[u8], now_ms: i64, session_expires_ms: i64) -> Answer {
    let mut registry = IotRegistry::default();
    registry.register_session(AwsSession {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_key: SECRET_KEY.into(),
        session_token: SESSION_TOKEN.into(),
        expires_ms: session_expires_ms,
    });
    match iot::parse_head(head)
        .and_then(|parsed| iot::check_upgrade(&parsed, &registry, REGION, now_ms).map(|()| parsed))
    {
        Ok(parsed) => Answer::Upgraded(iot::handshake_response(&parsed)),
        Err(refusal) => Answer::Refused(iot::refusal_response(&refusal)),
    }
}

/// The signature the gateway expects for these decoded query parameters (see
/// [`gateway_answer`]'s session), so that a target can reach the checks past it.
pub fn signature(
    params: &[(String, String)],
    path: &str,
    host: &str,
    amz_date: &str,
    date: &str,
    service: &str,
) -> String {
    iot::expected_signature(
        params, path, host, SECRET_KEY, amz_date, date, REGION, service,
    )
}

/// The gateway's `X-Amz-Date` parser: ms since the epoch.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    iot::parse_amz_date(text)
}

/// The gateway's query decoder.
pub fn query_params(query: &str) -> Option<Vec<(String, String)>> {
    iot::query_params(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry point accepts a correctly signed request in its window, so that the fuzz
    /// target's "accepted only when valid" check can be reached.
    #[test]
    fn a_signed_upgrade_is_accepted_and_a_stale_one_refused() {
        let date = "20261124T080000Z";
        let params: Vec<(String, String)> = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
            (
                "X-Amz-Credential",
                format!("{ACCESS_KEY_ID}/20261124/{REGION}/iotdevicegateway/aws4_request"),
            ),
            ("X-Amz-Date", date.to_owned()),
            ("X-Amz-SignedHeaders", "host".to_owned()),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect();
        let signature = signature(&params, "/mqtt", "h", date, "20261124", "iotdevicegateway");
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ACCESS_KEY_ID}%2F20261124%2F{REGION}%2Fiotdevicegateway%2Faws4_request&X-Amz-Date={date}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}&X-Amz-Security-Token=FwoDYXdzEfuzz%2Fsession%2Btoken%3D"
        );
        assert_eq!(query_params(&query).map(|p| p.len()), Some(6));
        let head = format!(
            "GET /mqtt?{query} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        let signed_at = parse_amz_date(date).unwrap_or_default();
        let answer = gateway_answer(head.as_bytes(), signed_at + 1000, i64::MAX);
        assert!(
            matches!(&answer, Answer::Upgraded(r) if r.contains("Sec-WebSocket-Protocol: mqtt\r\n")),
            "{answer:?}"
        );
        let stale = gateway_answer(head.as_bytes(), signed_at + 16 * 60_000, i64::MAX);
        assert!(
            matches!(&stale, Answer::Refused(r) if r.contains("stale")),
            "{stale:?}"
        );
        let expired = gateway_answer(head.as_bytes(), signed_at, signed_at);
        assert!(matches!(&expired, Answer::Refused(r) if r.starts_with("HTTP/1.1 403")));
        assert!(matches!(
            gateway_answer(b"\xff\r\n\r\n", 0, 0),
            Answer::Refused(r) if r.starts_with("HTTP/1.1 400")
        ));
    }
}
