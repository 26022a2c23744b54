//! The request envelope of cloud-storage calls and the response envelope of every call.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Endpoint;
use crate::error::{ApiError, Error, Result};
use crate::secret::SECRET_FIELDS;

/// `{"header":{"traceId":..,"timestamp":..},"payload":..}`, used by the cloud-storage calls.
#[derive(Serialize)]
pub(crate) struct RequestEnvelope<'a, P: Serialize> {
    pub header: EnvelopeHeader<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
}

/// The `header` of a [`RequestEnvelope`].
#[derive(Serialize)]
pub(crate) struct EnvelopeHeader<'a> {
    #[serde(rename = "traceId")]
    pub trace_id: &'a str,
    pub timestamp: i64,
}

/// A fresh UUID v4, the trace id of one cloud-storage request.
pub(crate) fn new_trace_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Deserialize)]
struct ResponseEnvelope<'a> {
    #[serde(default, deserialize_with = "super::wire::flexible_i64_opt")]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default, deserialize_with = "super::wire::flexible_i64_opt")]
    timestamp: Option<i64>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// What the first pass over a response body found.
pub(crate) enum Outcome<'a> {
    /// `code == 0`; `data` is still raw.
    Success(Option<&'a RawValue>),
    /// `code != 0`.
    Failure(ApiError),
}

/// Parses the envelope: success only when `code == 0`, any other code is an [`ApiError`].
pub(crate) fn parse_envelope<'a>(
    endpoint: Endpoint,
    http_status: u16,
    body: &'a [u8],
    trace_id: Option<&str>,
) -> Result<Outcome<'a>> {
    let envelope: ResponseEnvelope<'a> = serde_json::from_slice(body)
        .map_err(|e| decode_error(endpoint, http_status, body, trace_id, e.to_string()))?;
    let Some(code) = envelope.code else {
        return Err(decode_error(
            endpoint,
            http_status,
            body,
            trace_id,
            "the response has no \"code\" field".into(),
        ));
    };
    if code == 0 {
        Ok(Outcome::Success(envelope.data))
    } else {
        Ok(Outcome::Failure(ApiError {
            endpoint,
            http_status,
            code,
            msg: envelope.msg.unwrap_or_default(),
            server_timestamp_ms: envelope.timestamp,
            trace_id: trace_id.map(str::to_owned),
            attempts: Default::default(),
        }))
    }
}

/// Decodes a response body into `T` (the envelope's `data`), or a typed error.
pub(crate) fn decode_response<T: DeserializeOwned>(
    endpoint: Endpoint,
    http_status: u16,
    body: &[u8],
    trace_id: Option<&str>,
) -> Result<T> {
    if (http_status >= 500 || http_status == 429) && !is_envelope(body) {
        return Err(Error::Server {
            endpoint,
            http_status,
            excerpt: redacted_excerpt(body, 160),
            trace_id: trace_id.map(str::to_owned),
            attempts: Default::default(),
        });
    }
    match parse_envelope(endpoint, http_status, body, trace_id)? {
        Outcome::Failure(api) => Err(Error::Api(api)),
        Outcome::Success(data) => {
            let raw = data.map(RawValue::get).unwrap_or("null");
            serde_json::from_str(raw).map_err(|e| {
                decode_error(
                    endpoint,
                    http_status,
                    body,
                    trace_id,
                    format!("unexpected \"data\": {e}"),
                )
            })
        }
    }
}

pub(crate) fn decode_error(
    endpoint: Endpoint,
    http_status: u16,
    body: &[u8],
    trace_id: Option<&str>,
    message: String,
) -> Error {
    Error::Decode {
        endpoint,
        http_status,
        message,
        excerpt: redacted_excerpt(body, 160),
        trace_id: trace_id.map(str::to_owned),
        attempts: Default::default(),
    }
}

/// `true` when `body` is a JSON object with a `code` field: an Agora Link answer, as opposed to a
/// proxy's error page or a truncated body (which make an idempotent call try another host).
pub(crate) fn is_envelope(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct CodeOnly {
        #[serde(rename = "code")]
        _code: serde::de::IgnoredAny,
    }
    serde_json::from_slice::<CodeOnly>(body).is_ok()
}

/// The first `max_chars` characters of `body`, with the values of [`SECRET_FIELDS`] replaced by
/// `***` (also when the value is cut off by truncation) and control characters replaced by spaces.
pub(crate) fn redacted_excerpt(body: &[u8], max_chars: usize) -> String {
    if body.is_empty() {
        return "<empty>".into();
    }
    let head = &body[..body.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let redacted = mask_secret_values(&text);
    let mut out: String = redacted
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if redacted.chars().count() > max_chars || body.len() > head.len() {
        out.push('…');
    }
    out
}

fn mask_secret_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Every JSON string (key or value) is read whole, to its closing unescaped quote: an escaped
    // quote inside a value (`"msg":"bad \"grant\""`) must not shift keys and values.
    while let Some(quote) = rest.find('"') {
        out.push_str(&rest[..=quote]);
        rest = &rest[quote + 1..];
        let Some(end) = closing_quote(rest) else {
            break;
        };
        let key = &rest[..end];
        out.push_str(key);
        out.push('"');
        rest = &rest[end + 1..];
        if !SECRET_FIELDS.contains(&key) {
            continue;
        }
        let after_colon = rest.trim_start();
        let Some(value) = after_colon.strip_prefix(':') else {
            continue;
        };
        let value = value.trim_start();
        let Some(value_body) = value.strip_prefix('"') else {
            continue;
        };
        out.push_str(":\"***");
        // Skip to the closing, unescaped quote (or the end of the excerpt).
        match closing_quote(value_body) {
            Some(i) => {
                out.push('"');
                rest = &value_body[i + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The byte index of the first unescaped `"` in `text` (the end of a JSON string whose opening
/// quote was just read).
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_mask_secrets_even_when_truncated() {
        let body = br#"{"code":0,"data":{"access_token":"abcdef123456","refresh_token" : "zzz\"q","scope":"read","token":"tok-cut-off"#;
        let excerpt = redacted_excerpt(body, 500);
        assert!(!excerpt.contains("abcdef123456"), "{excerpt}");
        assert!(!excerpt.contains("zzz"), "{excerpt}");
        assert!(!excerpt.contains("tok-cut-off"), "{excerpt}");
        assert!(excerpt.contains(r#""scope":"read""#), "{excerpt}");
        assert!(excerpt.contains(r#""access_token":"***""#), "{excerpt}");
    }

    /// Found by fuzzing (`structured_token`): an escaped quote in a value before a secret
    /// (`"code":"\u0000\""`, or a `msg` quoting something) shifted the masking by one string,
    /// and the `access_token` that followed was quoted in clear.
    #[test]
    fn escaped_quotes_do_not_unmask_what_follows() {
        for before in [
            r#""code":"\u0000\"""#,
            r#""msg":"bad \"grant\"""#,
            r#""msg":"a\\""#,
            r#""msg":"\\\"""#,
        ] {
            let body = format!(
                r#"{{{before},"data":{{"access_token":"yoXXXXk","refresh_token":"08XXdk","token":"tk"}}}}"#
            );
            let excerpt = redacted_excerpt(body.as_bytes(), 500);
            for secret in ["yoXXXXk", "08XXdk", "\"tk\""] {
                assert!(!excerpt.contains(secret), "{excerpt}");
            }
            assert!(excerpt.contains(before), "{excerpt}");
        }
    }

    #[test]
    fn excerpts_are_short_and_printable() {
        let body = format!("<html>\n{}</html>", "x".repeat(10_000));
        let excerpt = redacted_excerpt(body.as_bytes(), 160);
        assert_eq!(excerpt.chars().count(), 161);
        assert!(!excerpt.contains('\n'));
        assert_eq!(redacted_excerpt(b"", 160), "<empty>");
    }

    #[test]
    fn nonzero_code_is_an_api_error_whatever_the_status() {
        let body = br#"{"code":999999,"msg":"The user not exists.","timestamp":1659003562090,"success":false}"#;
        let err = decode_response::<()>(Endpoint::ThirdPartyLogin, 201, body, None).unwrap_err();
        let api = err.api_error().expect("api error");
        assert_eq!(
            (api.code, api.http_status, api.msg.as_str()),
            (999999, 201, "The user not exists.")
        );
        assert_eq!(api.server_timestamp_ms, Some(1659003562090));
    }

    #[test]
    fn a_body_without_code_is_a_decode_error() {
        let err = decode_response::<()>(Endpoint::ThirdPartyLogin, 200, br#"{"data":1}"#, None)
            .unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
    }
}
