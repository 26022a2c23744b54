//! A `rest-token` answer built from the spec's shape (`tests/fixtures/rest-token.json`) with an
//! arbitrary value in every numeric field (`code`, `timestamp`, `expires_in`) and in the string
//! fields; the decoded token (or the error) is checked against what the value must give.
#![no_main]

use std::time::SystemTime;

use agora_link::Error;
use agora_link_fuzz::{object, string, Expect, Num, Text, MAX_LIFETIME, STATUSES};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const ACCESS: &str = "SECRET-ACCESS-yoXXXXXXXXk";
const REFRESH: &str = "SECRET-REFRESH-08XXXXXXdk";

#[derive(Arbitrary, Debug)]
struct Input {
    status: u8,
    code: Num,
    timestamp: Num,
    expires_in: Num,
    access_token: Text,
    token_type: Text,
    refresh_token: Text,
    scope: Text,
}

fuzz_target!(|input: Input| {
    let status = STATUSES[usize::from(input.status) % STATUSES.len()];
    let data = object(&format!(
        "{}{}{}{}{}",
        input.access_token.field("access_token", ACCESS),
        input.token_type.field("token_type", "bearer"),
        input.refresh_token.field("refresh_token", REFRESH),
        input.expires_in.field("expires_in"),
        input.scope.field("scope", "read"),
    ));
    let body = object(&format!(
        "{}{}{}\"data\":{data},\"success\":true",
        input.code.field("code"),
        string("msg") + ":\"SUCCESS\",",
        input.timestamp.field("timestamp"),
    ));
    let before = SystemTime::now();
    let result = agora_link::fuzzing::decode_token(status, body.as_bytes());
    let after = SystemTime::now();

    if let Err(error) = &result {
        // Secrets never reach an error message (they are masked in body excerpts).
        let text = format!("{error} {error:?}");
        let planted = [&input.access_token, &input.refresh_token]
            .into_iter()
            .filter(|t| matches!(t, Text::Typical))
            .count();
        // (Unless the fuzzer wrote a marker into another field.)
        if body.matches("SECRET-").count() == planted {
            assert!(!text.contains(ACCESS) && !text.contains(REFRESH), "{text}");
        }
    }
    if let Ok(token) = &result {
        assert!(token.expires_in <= MAX_LIFETIME);
        assert!(token.expires_at >= before, "{token:?}");
        assert!(token.expires_at <= after + MAX_LIFETIME, "{token:?}");
    }

    if status == 429 || status >= 500 {
        if matches!(input.code, Num::Absent) {
            assert!(
                matches!(result, Err(Error::Server { .. })),
                "{body}: {result:?}"
            );
        }
        return;
    }
    // The envelope: `code` and `timestamp` are read leniently, but must be integers.
    let code = input.code.flexible_i64_opt();
    let timestamp = input.timestamp.flexible_i64_opt();
    if code == Some(Expect::Unknown) || timestamp == Some(Expect::Unknown) {
        return;
    }
    let envelope_ok =
        matches!(code, Some(Expect::Int(_))) && matches!(timestamp, None | Some(Expect::Int(_)));
    if !envelope_ok {
        assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{body}: {result:?}"
        );
        return;
    }
    let Some(Expect::Int(code)) = code else {
        return;
    };
    if code != 0 {
        let api = result.as_ref().err().and_then(Error::api_error);
        assert_eq!(api.map(|a| a.code), Some(code), "{body}: {result:?}");
        let Some(Expect::Int(ms)) = timestamp else {
            assert_eq!(api.and_then(|a| a.server_timestamp_ms), None);
            return;
        };
        assert_eq!(api.and_then(|a| a.server_timestamp_ms), Some(ms));
        return;
    }
    // `data`.
    let expires_in = input.expires_in.flexible_i64().seconds();
    if expires_in == Expect::Unknown {
        return;
    }
    let refresh_ok = matches!(
        input.refresh_token,
        Text::Typical | Text::Empty | Text::Any(_) | Text::Null | Text::Absent
    );
    let fields_ok = input.access_token.is_string()
        && input.token_type.decodes_with_default()
        && input.scope.decodes_with_default()
        && refresh_ok;
    match (expires_in, fields_ok) {
        (Expect::Int(seconds), true) => {
            let token = result.unwrap_or_else(|e| panic!("{body}: {e}"));
            let seconds = u64::try_from(seconds).unwrap_or_default();
            assert_eq!(
                token.expires_in.as_secs(),
                seconds.min(MAX_LIFETIME.as_secs())
            );
        }
        _ => assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{body}: {result:?}"
        ),
    }
});
