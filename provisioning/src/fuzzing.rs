//! Entry points for the fuzz targets in `../fuzz/` (feature `fuzzing`, off by default). Not a
//! stable API: hidden from the documentation and for fuzzing only.
//!
//! Each function runs the server's real request handling, short of the store, on input as it
//! would come from the network: the body parsing and field reading of every route, the routing
//! and path normalisation, and both signature schemes. None of them may panic, whatever the
//! input: a panic is a bug the fuzzer reports.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

use crate::server;
use crate::signature::{self, ApiCredential, AuthError, V2Headers, Verifier};

/// The documented test key (its vectors: "Signature" in `docs/spec-summary.md`).
pub const API_KEY: &str = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd";
/// The documented test secret.
pub const API_SECRET: &str = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB";

/// The method and path of every signed route, with the documented example ids.
pub const ROUTES: [(&str, &str); 6] = [
    ("PUT", "/license/customers/123456/activate"),
    ("POST", "/customers/123456/projects/new"),
    ("PUT", "/customers/123456/projects/430892/deactivate"),
    ("PUT", "//customers/123456/projects/430892/deactivate"),
    ("POST", "/customers/new"),
    ("PUT", "/customers/123456/deactivate"),
];

/// A verifier with the documented key and a second one (key rotation).
pub fn verifier() -> Verifier {
    Verifier::new(vec![
        ApiCredential {
            api_key: "old-key".into(),
            api_secret: "old-secret".into(),
        },
        ApiCredential {
            api_key: API_KEY.into(),
            api_secret: API_SECRET.into(),
        },
    ])
}

/// Parses a request body as the server does, reads every field any route reads, and checks its
/// agora-v1 signature against every route. Returns the fields when the body is accepted.
pub fn body(raw: &[u8]) -> Option<BTreeMap<String, Value>> {
    let fields = server::parse_fields(raw).ok()?;
    let _ = server::parse_license(&fields);
    let _ = server::plan_id(&fields);
    let _ = fields.get("projectId").and_then(Value::as_i64);
    for name in [
        "customerId",
        "customerName",
        "customerEmail",
        "customerPhone",
    ] {
        let _ = fields.get(name).and_then(Value::as_str).map(str::len);
    }
    let verifier = verifier();
    for (method, path) in ROUTES {
        let _ = signature::source_string(method, path, &fields);
        let _ = verifier.verify_v1(method, path, &fields);
    }
    Some(fields)
}

/// Routes `path` for `method` as the server does (runs of `/` collapsed), and normalises,
/// percent-decodes and percent-encodes it as the signature code does. `true` when a route
/// matched.
pub fn path(method: &str, path: &str) -> bool {
    let normalised = signature::normalise(path);
    let _ = signature::url_decode(path);
    let _ = signature::url_encode(path);
    let _ = server::basic_credentials(path);
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return false;
    };
    let routed = server::route(&method, path).is_ok();
    // Normalising is idempotent, so the normalised path routes the same way.
    let _ = server::route(&method, &normalised);
    routed
}

/// What a request presents for authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The raw request path.
    pub path: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// `X-Agora-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Agora-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Agora-Key`.
    pub api_key: Option<&'a str>,
    /// The verifier's clock (unix seconds) for the v2 scheme.
    pub now_unix: i64,
}

/// Checks a request's signature every way the server can: the v2 scheme with the given clock,
/// the agora-v1 scheme over the parsed body (also with the header signature put in the body),
/// and the server's own choice between them from the headers. Returns the v2 and v1 results.
pub fn signature(
    presented: Presented<'_>,
) -> (Result<String, AuthError>, Option<Result<String, AuthError>>) {
    let verifier = verifier();
    let headers = V2Headers {
        timestamp: presented.timestamp,
        signature: presented.signature,
        api_key: presented.api_key,
    };
    let v2 = verifier.verify_v2(
        presented.method,
        presented.path,
        presented.body,
        headers,
        presented.now_unix,
    );
    if let Some(timestamp) = presented
        .timestamp
        .and_then(|t| t.trim().parse::<i64>().ok())
    {
        let expected = signature::v2_signature(
            API_SECRET,
            presented.method,
            presented.path,
            timestamp,
            presented.body,
        );
        let _ = signature::constant_time_eq(
            expected.as_bytes(),
            presented.signature.unwrap_or_default().as_bytes(),
        );
    }
    let fields = server::parse_fields(presented.body).ok();
    let v1 = fields.as_ref().map(|fields| {
        let mut with_signature = fields.clone();
        if let Some(signature) = presented.signature {
            with_signature.insert("signature".into(), Value::String(signature.to_owned()));
        }
        let _ = verifier.verify_v1(presented.method, presented.path, &with_signature);
        verifier.verify_v1(presented.method, presented.path, fields)
    });
    if let (Ok(method), Some(fields)) = (Method::from_bytes(presented.method.as_bytes()), &fields) {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("x-agora-timestamp", presented.timestamp),
            ("x-agora-signature", presented.signature),
            ("x-agora-key", presented.api_key),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                map.insert(HeaderName::from_static(name), value);
            }
        }
        for required in [false, true] {
            let verifier = verifier.clone().require_v2(required);
            let _ = server::authenticate(
                &verifier,
                &method,
                presented.path,
                &map,
                presented.body,
                fields,
            );
        }
    }
    (v2, v1)
}

/// Signs `fields` (a JSON object) for `method` and `path` as Agora does ([`signature::signed_body`])
/// and checks the result as the server does. `None` when the signed body is not accepted as a
/// body, else the verification's result (which must be `Ok`).
pub fn sign_and_verify(
    method: &str,
    path: &str,
    fields: &Value,
) -> Option<Result<String, AuthError>> {
    let signed = signature::signed_body(API_KEY, API_SECRET, method, path, fields);
    let parsed = server::parse_fields(&signed).ok()?;
    Some(verifier().verify_v1(method, path, &parsed))
}
