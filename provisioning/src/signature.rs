//! Request authentication: Agora's documented signature ("agora-v1": HMAC-SHA1 over the source
//! string, Base64, possibly URL-encoded) and an optional stronger scheme ("hmac-sha256-v2":
//! HMAC-SHA256 over method, raw path, timestamp and the raw body, ±5 minutes), both compared in
//! constant time, with several API keys active at once for rotation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;
use serde_json::Value;

/// An API key and its secret (several may be active at once, for rotation).
#[derive(Clone)]
pub struct ApiCredential {
    /// The `apiKey` Agora sends.
    pub api_key: String,
    /// Its secret (never logged).
    pub api_secret: String,
}

impl std::fmt::Debug for ApiCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredential")
            .field("api_key", &self.api_key)
            .field("api_secret", &"***")
            .finish()
    }
}

/// Percent-encodes everything but `A-Z a-z 0-9 - _ . ~`.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub(crate) fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How a parameter value is rendered in the source string: strings as is, integers in decimal,
/// other JSON values in their compact JSON form.
fn render(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `METHOD&URLEncode(path)&URLEncode(k1=v1&k2=v2…)`, parameters sorted by key, `signature`
/// left out.
pub fn source_string(method: &str, path: &str, params: &BTreeMap<String, Value>) -> String {
    let joined = params
        .iter()
        .filter(|(key, _)| key.as_str() != "signature")
        .map(|(key, value)| format!("{key}={}", render(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        url_encode(path),
        url_encode(&joined)
    )
}

/// Agora's signature of a request: `Base64(HMAC-SHA1(apiSecret + "&", source string))`.
pub fn agora_v1(
    secret: &str,
    method: &str,
    path: &str,
    params: &BTreeMap<String, Value>,
) -> String {
    let key = hmac::Key::new(
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("{secret}&").as_bytes(),
    );
    STANDARD.encode(hmac::sign(
        &key,
        source_string(method, path, params).as_bytes(),
    ))
}

/// The JSON body Agora sends: the fields of `fields` (a JSON object), `apiKey`, and the agora-v1
/// `signature` over them. For clients, simulators and tests.
pub fn signed_body(
    api_key: &str,
    api_secret: &str,
    method: &str,
    path: &str,
    fields: &Value,
) -> Vec<u8> {
    let mut body: BTreeMap<String, Value> = fields
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    body.insert("apiKey".into(), Value::String(api_key.into()));
    let signature = agora_v1(api_secret, method, path, &body);
    body.insert("signature".into(), Value::String(signature));
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Constant-time comparison of two signatures (after decoding the URL-encoded form).
fn same(expected: &str, presented: &str) -> bool {
    let presented = if presented.contains('%') {
        match url_decode(presented) {
            Some(decoded) => decoded,
            None => return false,
        }
    } else {
        presented.to_owned()
    };
    constant_time_eq(expected.as_bytes(), presented.as_bytes())
}

/// Compares two byte strings in time independent of where they differ (and of their lengths,
/// beyond hashing them): both are MACed with a fixed key, the MACs compared in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"agora-link-provisioning compare");
    let tag = hmac::sign(&key, a);
    hmac::verify(&key, b, tag.as_ref()).is_ok()
}

/// Why a request was not authenticated (no secret in the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `apiKey` field, or it is not a string.
    #[error("apiKey is missing")]
    MissingApiKey,
    /// No `signature` field, or it is not a string.
    #[error("signature is missing")]
    MissingSignature,
    /// The `apiKey` is not one of the configured keys.
    #[error("unknown apiKey")]
    UnknownApiKey,
    /// The signature does not match.
    #[error("signature mismatch")]
    BadSignature,
    /// The v2 scheme's timestamp is missing, malformed or more than 5 minutes off.
    #[error("timestamp missing or outside the 5-minute tolerance")]
    BadTimestamp,
}

/// The keys a server accepts and whether it requires the v2 scheme.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    credentials: Vec<ApiCredential>,
    require_v2: bool,
}

/// What a v2 request carries in its headers.
#[derive(Debug, Clone, Copy)]
pub struct V2Headers<'a> {
    /// `X-Agora-Timestamp`: unix seconds.
    pub timestamp: Option<&'a str>,
    /// `X-Agora-Signature`: hex HMAC-SHA256.
    pub signature: Option<&'a str>,
    /// `X-Agora-Key`: the API key.
    pub api_key: Option<&'a str>,
}

impl Verifier {
    /// A verifier for these keys.
    pub fn new(credentials: Vec<ApiCredential>) -> Self {
        Self {
            credentials,
            require_v2: false,
        }
    }

    /// Requires the v2 scheme (refuses agora-v1 requests).
    pub fn require_v2(mut self, required: bool) -> Self {
        self.require_v2 = required;
        self
    }

    /// `true` when the v2 scheme is required.
    pub fn requires_v2(&self) -> bool {
        self.require_v2
    }

    fn secret(&self, api_key: &str) -> Result<&str, AuthError> {
        self.credentials
            .iter()
            .find(|c| same(&c.api_key, api_key))
            .map(|c| c.api_secret.as_str())
            .ok_or(AuthError::UnknownApiKey)
    }

    /// Checks an agora-v1 request: the body's `apiKey` and `signature` against `method`, the
    /// raw path (and, as some stacks collapse `//`, the normalised path) and the body fields.
    pub fn verify_v1(
        &self,
        method: &str,
        raw_path: &str,
        body: &BTreeMap<String, Value>,
    ) -> Result<String, AuthError> {
        let api_key = body
            .get("apiKey")
            .and_then(Value::as_str)
            .ok_or(AuthError::MissingApiKey)?;
        let signature = body
            .get("signature")
            .and_then(Value::as_str)
            .ok_or(AuthError::MissingSignature)?;
        let secret = self.secret(api_key)?;
        let normalised = normalise(raw_path);
        let candidates = [raw_path, normalised.as_str()];
        for path in candidates {
            if same(&agora_v1(secret, method, path, body), signature) {
                return Ok(api_key.to_owned());
            }
        }
        Err(AuthError::BadSignature)
    }

    /// Checks a v2 request: `hex(HMAC-SHA256(secret, METHOD \n raw path \n timestamp \n body))`,
    /// timestamp within ±5 minutes of `now_unix`.
    pub fn verify_v2(
        &self,
        method: &str,
        raw_path: &str,
        body: &[u8],
        headers: V2Headers<'_>,
        now_unix: i64,
    ) -> Result<String, AuthError> {
        let api_key = headers.api_key.ok_or(AuthError::MissingApiKey)?;
        let signature = headers.signature.ok_or(AuthError::MissingSignature)?;
        let timestamp: i64 = headers
            .timestamp
            .and_then(|t| t.trim().parse().ok())
            .ok_or(AuthError::BadTimestamp)?;
        // `abs_diff`: `now - timestamp` overflows for timestamps near `i64::MIN` (a panic in debug
        // builds; in release builds `now - 2^63` wrapped to `i64::MIN`, whose `abs()` is negative,
        // and passed the check).
        if now_unix.abs_diff(timestamp) > 300 {
            return Err(AuthError::BadTimestamp);
        }
        let secret = self.secret(api_key)?;
        if same(
            &v2_signature(secret, method, raw_path, timestamp, body),
            signature,
        ) {
            Ok(api_key.to_owned())
        } else {
            Err(AuthError::BadSignature)
        }
    }
}

/// The v2 signature: `hex(HMAC-SHA256(secret, METHOD + "\n" + raw path + "\n" + timestamp + "\n" + body))`.
pub fn v2_signature(
    secret: &str,
    method: &str,
    raw_path: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context
        .update(format!("{}\n{raw_path}\n{timestamp}\n", method.to_ascii_uppercase()).as_bytes());
    context.update(body);
    context
        .sign()
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The path with runs of `/` collapsed (`//customers/…` → `/customers/…`).
pub fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        if ch == '/' && out.ends_with('/') {
            continue;
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";
    const KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";

    fn params(value: Value) -> BTreeMap<String, Value> {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn the_documented_vectors() {
        let cases = [
            (
                "GET",
                "/usage",
                json!({"fromTs": "1619913600", "toTs": "1619917200", "pageNum": "1", "apiKey": KEY}),
                "SFVnCVlRbrZcjMPGTWVxAE4QWZ8=",
            ),
            (
                "PUT",
                "/license/customers/123456/activate",
                json!({"platform": "android|ios", "expire": "1619913600-1619917200", "type": "normal", "apiKey": KEY}),
                "xBkXLwlry+ptdeo32RqEt64onY0=",
            ),
            (
                "POST",
                "/customers/123456/projects/new",
                json!({"projectId": 430892, "apiKey": KEY}),
                "QRJDBm3gGmlFb5ZF9XBqm7u4EkI=",
            ),
            (
                "PUT",
                "/customers/123456/projects/430892/deactivate",
                json!({"apiKey": KEY}),
                "nFQxZ+rRQvM4sxyni0MP0pJK7bE=",
            ),
        ];
        let verifier = Verifier::new(vec![ApiCredential {
            api_key: KEY.into(),
            api_secret: SECRET.into(),
        }]);
        for (method, path, body, expected) in cases {
            let mut body = params(body);
            assert_eq!(
                agora_v1(SECRET, method, path, &body),
                expected,
                "{method} {path}"
            );
            // Plain Base64 and URL-encoded Base64 are both accepted.
            for form in [expected.to_owned(), url_encode(expected)] {
                body.insert("signature".into(), Value::String(form));
                assert_eq!(verifier.verify_v1(method, path, &body), Ok(KEY.to_owned()));
            }
            body.insert(
                "signature".into(),
                Value::String("YZOl2v5q3I7o0x3F13tpnkq5aDI=".into()),
            );
            assert_eq!(
                verifier.verify_v1(method, path, &body),
                Err(AuthError::BadSignature)
            );
        }
        // The GET example is sent URL-encoded.
        assert_eq!(
            url_encode("SFVnCVlRbrZcjMPGTWVxAE4QWZ8="),
            "SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D"
        );
    }

    #[test]
    fn the_double_slash_path_verifies_against_the_raw_and_the_normalised_path() {
        let verifier = Verifier::new(vec![ApiCredential {
            api_key: KEY.into(),
            api_secret: SECRET.into(),
        }]);
        let mut body = params(json!({"apiKey": KEY}));
        body.insert(
            "signature".into(),
            Value::String("nFQxZ+rRQvM4sxyni0MP0pJK7bE=".into()),
        );
        assert!(verifier
            .verify_v1(
                "PUT",
                "//customers/123456/projects/430892/deactivate",
                &body
            )
            .is_ok());
        let signed_raw = agora_v1(
            SECRET,
            "PUT",
            "//customers/1/projects/2/deactivate",
            &params(json!({"apiKey": KEY})),
        );
        body.insert("signature".into(), Value::String(signed_raw));
        assert!(verifier
            .verify_v1("PUT", "//customers/1/projects/2/deactivate", &body)
            .is_ok());
    }

    #[test]
    fn keys_rotate_and_unknown_keys_are_refused() {
        let verifier = Verifier::new(vec![
            ApiCredential {
                api_key: "old-key".into(),
                api_secret: "old-secret".into(),
            },
            ApiCredential {
                api_key: KEY.into(),
                api_secret: SECRET.into(),
            },
        ]);
        let mut body = params(json!({"apiKey": "old-key", "projectId": 1}));
        let signature = agora_v1("old-secret", "POST", "/customers/c/projects/new", &body);
        body.insert("signature".into(), Value::String(signature));
        assert!(verifier
            .verify_v1("POST", "/customers/c/projects/new", &body)
            .is_ok());
        body.insert("apiKey".into(), Value::String("nope".into()));
        assert_eq!(
            verifier.verify_v1("POST", "/customers/c/projects/new", &body),
            Err(AuthError::UnknownApiKey)
        );
        body.remove("apiKey");
        assert_eq!(
            verifier.verify_v1("POST", "/customers/c/projects/new", &body),
            Err(AuthError::MissingApiKey)
        );
    }

    #[test]
    fn the_v2_scheme_binds_the_raw_body_and_the_time() {
        let verifier = Verifier::new(vec![ApiCredential {
            api_key: KEY.into(),
            api_secret: SECRET.into(),
        }]);
        let body = br#"{"projectId":430892}"#;
        let signature = v2_signature(
            SECRET,
            "POST",
            "/customers/1/projects/new",
            1_700_000_000,
            body,
        );
        let headers = V2Headers {
            timestamp: Some("1700000000"),
            signature: Some(&signature),
            api_key: Some(KEY),
        };
        assert!(verifier
            .verify_v2(
                "POST",
                "/customers/1/projects/new",
                body,
                headers,
                1_700_000_200
            )
            .is_ok());
        assert_eq!(
            verifier.verify_v2(
                "POST",
                "/customers/1/projects/new",
                body,
                headers,
                1_700_000_400
            ),
            Err(AuthError::BadTimestamp)
        );
        assert_eq!(
            verifier.verify_v2(
                "POST",
                "/customers/1/projects/new",
                br#"{"projectId":430893}"#,
                headers,
                1_700_000_000
            ),
            Err(AuthError::BadSignature)
        );
    }

    /// Found by fuzzing (`provisioning_body`): a body signed by [`signed_body`] verifies whatever
    /// numbers it holds. A number beyond `u64` is an `f64`, rendered in its shortest form; that
    /// text must parse back to the same `f64` (serde_json's `float_roundtrip`), or the server
    /// renders the field differently from the signer.
    #[test]
    fn signed_bodies_with_any_number_verify() {
        let verifier = Verifier::new(vec![ApiCredential {
            api_key: KEY.into(),
            api_secret: SECRET.into(),
        }]);
        let huge = format!("4{}0892", "3".repeat(95));
        for number in [
            huge.as_str(),
            "1e308",
            "-1.7976931348623157e308",
            "5e-324",
            "0.1",
            "12.5",
        ] {
            let fields: Value =
                serde_json::from_str(&format!(r#"{{"projectId":{number},"planId":{number}}}"#))
                    .unwrap();
            let signed = signed_body(KEY, SECRET, "PUT", "/license/customers/1/activate", &fields);
            let body: BTreeMap<String, Value> = serde_json::from_slice(&signed).unwrap();
            assert_eq!(
                verifier.verify_v1("PUT", "/license/customers/1/activate", &body),
                Ok(KEY.to_owned()),
                "{number}"
            );
        }
    }

    /// Found by fuzzing (`provisioning_signature`): extreme timestamps and clocks are refused,
    /// never overflow.
    #[test]
    fn extreme_v2_timestamps_are_refused_without_overflow() {
        let verifier = Verifier::new(vec![ApiCredential {
            api_key: KEY.into(),
            api_secret: SECRET.into(),
        }]);
        let body = br#"{"projectId":430892}"#;
        let now = 1_700_000_000i64;
        for (timestamp, now_unix) in [
            (i64::MIN, now),
            (i64::MAX, now),
            // `now - timestamp` is exactly 2^63: wrapped to `i64::MIN`, whose `abs()` is negative.
            (now.wrapping_add(i64::MIN), now),
            (now, i64::MIN),
            (now, i64::MAX),
            (i64::MIN, i64::MAX),
        ] {
            let text = timestamp.to_string();
            let signature =
                v2_signature(SECRET, "POST", "/customers/1/projects/new", timestamp, body);
            let headers = V2Headers {
                timestamp: Some(&text),
                signature: Some(&signature),
                api_key: Some(KEY),
            };
            assert_eq!(
                verifier.verify_v2("POST", "/customers/1/projects/new", body, headers, now_unix),
                Err(AuthError::BadTimestamp),
                "timestamp {timestamp}, now {now_unix}"
            );
        }
    }
}
