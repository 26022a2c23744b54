//! The sandbox's IoT gateway reading a WebSocket upgrade: a request head built from the shape
//! of a presigned MQTT-over-WebSocket URL (each SigV4 parameter valid, odd or anything; dates
//! from any instant or any text; expiries from any number or text; percent-encoded or raw;
//! signed correctly or not), with upgrade headers (`Host`, `Upgrade`, `Sec-WebSocket-Key`,
//! `Sec-WebSocket-Protocol`, anything) and line endings, checked at any clock reading. Checked:
//! no panic; the answer is a 101 when, and only when, everything is valid and the clock is in
//! the URL's window; the 101 has exactly the handshake's header lines (nothing echoed from the
//! request can add one); a refusal is a 400 or 403.
#![no_main]

use agora_link_sandbox::fuzzing::{
    gateway_answer, parse_amz_date, query_params, signature, Answer, ACCESS_KEY_ID, REGION,
    SESSION_TOKEN,
};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone)]
enum Date {
    /// `YYYYMMDDTHHMMSSZ` of 2026-11-24T08:00:00Z plus this many seconds.
    Near(i32),
    /// Any text.
    Any(String),
}

/// 2026-11-24T08:00:00Z.
const BASE_MS: i64 = 1_795_507_200_000;

impl Date {
    fn text(&self) -> String {
        match self {
            Date::Near(offset) => amz_date(BASE_MS + i64::from(*offset) * 1000),
            Date::Any(text) => text.clone(),
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` (ms since the epoch, years 0000 to 9999).
fn amz_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[derive(Arbitrary, Debug, Clone)]
enum Expires {
    Absent,
    Secs(i64),
    Any(String),
}

#[derive(Arbitrary, Debug, Clone)]
enum Field {
    Valid,
    Absent,
    Any(String),
}

#[derive(Arbitrary, Debug, Clone)]
enum Service {
    DeviceGateway,
    Data,
    Any(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    date: Date,
    /// Whether the credential's scope date is the date's first 8 characters, or this.
    scope_date: Option<String>,
    expires: Expires,
    algorithm: Field,
    access_key_id: Field,
    region: Field,
    service: Service,
    signed_headers: Field,
    token: Field,
    extra: Vec<(String, String)>,
    sign: bool,
    signature: String,
    /// Percent-encode names and values (else written raw).
    encode: bool,
    method: Field,
    path: Field,
    host: Field,
    upgrade: Field,
    key: Option<String>,
    protocol: Option<String>,
    extra_headers: Vec<(String, String)>,
    bare_lf: bool,
    /// The clock, in seconds after the date (or any ms).
    now: Now,
    session_expired: bool,
    trailing: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Now {
    After(i16),
    Any(i64),
}

fn field(field: &Field, valid: &str) -> Option<String> {
    match field {
        Field::Valid => Some(valid.to_owned()),
        Field::Absent => None,
        Field::Any(text) => Some(text.clone()),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let date = input.date.text();
    let scope_date = input
        .scope_date
        .clone()
        .unwrap_or_else(|| date.get(..8).unwrap_or_default().to_owned());
    let service = match &input.service {
        Service::DeviceGateway => "iotdevicegateway".to_owned(),
        Service::Data => "iotdata".to_owned(),
        Service::Any(text) => text.clone(),
    };
    let access_key_id = field(&input.access_key_id, ACCESS_KEY_ID);
    let region = field(&input.region, REGION);
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(algorithm) = field(&input.algorithm, "AWS4-HMAC-SHA256") {
        params.push(("X-Amz-Algorithm".into(), algorithm));
    }
    if let (Some(key), Some(region)) = (&access_key_id, &region) {
        params.push((
            "X-Amz-Credential".into(),
            format!("{key}/{scope_date}/{region}/{service}/aws4_request"),
        ));
    }
    params.push(("X-Amz-Date".into(), date.clone()));
    match &input.expires {
        Expires::Absent => {}
        Expires::Secs(n) => params.push(("X-Amz-Expires".into(), n.to_string())),
        Expires::Any(text) => params.push(("X-Amz-Expires".into(), text.clone())),
    }
    if let Some(signed) = field(&input.signed_headers, "host") {
        params.push(("X-Amz-SignedHeaders".into(), signed));
    }
    params.extend(input.extra.iter().cloned());
    let path = field(&input.path, "/mqtt").unwrap_or_default();
    let host = field(&input.host, "127.0.0.1:9001").unwrap_or_default();
    let signature = if input.sign {
        signature(&params, &path, &host, &date, &scope_date, &service)
    } else {
        input.signature.clone()
    };
    params.push(("X-Amz-Signature".into(), signature));
    if let Some(token) = field(&input.token, SESSION_TOKEN) {
        params.push(("X-Amz-Security-Token".into(), token));
    }
    let query = params
        .iter()
        .map(|(n, v)| {
            if input.encode {
                format!("{}={}", encode(n), encode(v))
            } else {
                format!("{n}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    // The decoder gives back what was encoded.
    if input.encode {
        assert_eq!(query_params(&query).as_deref(), Some(&params[..]));
    }

    let eol = if input.bare_lf { "\n" } else { "\r\n" };
    let method = field(&input.method, "GET").unwrap_or_default();
    let mut head = format!("{method} {path}?{query} HTTP/1.1{eol}Host: {host}{eol}");
    if let Some(upgrade) = field(&input.upgrade, "websocket") {
        head.push_str(&format!("Upgrade: {upgrade}{eol}Connection: Upgrade{eol}"));
    }
    if let Some(key) = &input.key {
        head.push_str(&format!("Sec-WebSocket-Key: {key}{eol}"));
    }
    if let Some(protocol) = &input.protocol {
        head.push_str(&format!("Sec-WebSocket-Protocol: {protocol}{eol}"));
    }
    for (name, value) in &input.extra_headers {
        head.push_str(&format!("{name}: {value}{eol}"));
    }
    head.push_str("\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&input.trailing);

    let signed_at = parse_amz_date(&date);
    let now_ms = match input.now {
        Now::After(secs) => signed_at
            .unwrap_or(BASE_MS)
            .saturating_add(i64::from(secs) * 1000),
        Now::Any(ms) => ms,
    };
    let session_expires_ms = if input.session_expired {
        now_ms.saturating_sub(1)
    } else {
        i64::MAX
    };
    let answer = gateway_answer(&bytes, now_ms, session_expires_ms);
    match &answer {
        Answer::Upgraded(response) => {
            let mut lines = response.split("\r\n");
            assert_eq!(lines.next(), Some("HTTP/1.1 101 Switching Protocols"));
            for line in lines.filter(|l| !l.is_empty()) {
                let name = line.split(':').next().unwrap_or_default();
                assert!(
                    matches!(
                        name,
                        "Upgrade"
                            | "Connection"
                            | "Sec-WebSocket-Accept"
                            | "Sec-WebSocket-Protocol"
                    ),
                    "{response:?}"
                );
                assert!(!line.contains(|c: char| c.is_control()), "{response:?}");
            }
            assert!(response.ends_with("\r\n\r\n"), "{response:?}");
            // Accepted only when signed here with the session's own key and token, on time.
            assert!(input.sign && !input.session_expired, "{input:?}");
            assert_eq!(access_key_id.as_deref(), Some(ACCESS_KEY_ID));
            let signed_at = signed_at.expect("an accepted date parses");
            assert!(signed_at <= now_ms.saturating_add(5 * 60_000));
            assert!(signed_at.saturating_add(15 * 60_000) >= now_ms);
        }
        Answer::Refused(response) => {
            assert!(
                response.starts_with("HTTP/1.1 400 ") || response.starts_with("HTTP/1.1 403 "),
                "{response:?}"
            );
        }
    }
    // A plainly valid request, signed, on time, is accepted.
    let plainly_valid = input.sign
        && !input.session_expired
        && matches!(input.date, Date::Near(_))
        && input.scope_date.is_none()
        && matches!(input.expires, Expires::Absent)
        && matches!(input.algorithm, Field::Valid)
        && matches!(input.access_key_id, Field::Valid)
        && matches!(input.region, Field::Valid)
        && matches!(input.service, Service::DeviceGateway | Service::Data)
        && matches!(input.signed_headers, Field::Valid)
        && matches!(input.token, Field::Valid)
        && input.extra.is_empty()
        && input.encode
        && matches!(input.method, Field::Valid)
        && matches!(input.path, Field::Valid)
        && matches!(input.host, Field::Valid)
        && matches!(input.upgrade, Field::Valid)
        && input
            .key
            .iter()
            .all(|k| k.bytes().all(|b| b.is_ascii_alphanumeric()))
        && input.protocol.is_none()
        && input.extra_headers.is_empty()
        && matches!(input.now, Now::After(secs) if (-299..=899).contains(&secs));
    if plainly_valid {
        assert!(
            matches!(answer, Answer::Upgraded(_)),
            "{answer:?} for {input:?}"
        );
    }
});
