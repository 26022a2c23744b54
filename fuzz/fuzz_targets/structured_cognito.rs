//! A Cognito `GetCredentialsForIdentity` answer built from AWS's shapes: credentials with an
//! arbitrary `Expiration` (epoch seconds, a JSON number, possibly fractional), or an error body
//! and `X-Amzn-ErrorType` header; the result is checked against what the answer must give.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use agora_link::Error;
use agora_link_fuzz::{max_epoch, object, string, Num, Text};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const SECRET_KEY: &str = "SECRET-KEY-wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const SESSION: &str = "SECRET-SESSION-IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==";

#[derive(Arbitrary, Debug, Clone)]
enum ErrorType {
    NotAuthorized,
    Qualified,
    WithUrl,
    ResourceNotFound,
    Throttling,
    Internal,
    Empty,
    Long(u8),
    Any(String),
}

impl ErrorType {
    fn text(&self) -> String {
        match self {
            ErrorType::NotAuthorized => "NotAuthorizedException".into(),
            ErrorType::Qualified => "com.amazonaws.cognito.identity.model#NotAuthorizedException".into(),
            ErrorType::WithUrl => "NotAuthorizedException:http://internal.amazon.com/coral/com.amazonaws.cognito.identity/".into(),
            ErrorType::ResourceNotFound => "ResourceNotFoundException".into(),
            ErrorType::Throttling => "TooManyRequestsException".into(),
            ErrorType::Internal => "InternalErrorException".into(),
            ErrorType::Empty => String::new(),
            ErrorType::Long(n) => "A".repeat(100 + usize::from(*n)),
            ErrorType::Any(text) => text.clone(),
        }
    }

    /// The error name, when the library must recognise one.
    fn name(&self) -> Option<&'static str> {
        match self {
            ErrorType::NotAuthorized | ErrorType::Qualified | ErrorType::WithUrl => {
                Some("NotAuthorizedException")
            }
            ErrorType::ResourceNotFound => Some("ResourceNotFoundException"),
            ErrorType::Throttling => Some("TooManyRequestsException"),
            ErrorType::Internal => Some("InternalErrorException"),
            ErrorType::Empty => None,
            ErrorType::Long(n) => (100 + usize::from(*n) <= 128).then_some("A"),
            ErrorType::Any(_) => None,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Answer {
    Credentials {
        expiration: Num,
        access_key_id: Text,
        secret_key: Text,
        session_token: Text,
    },
    Failure {
        kind: Option<ErrorType>,
        message: Text,
        capital_message: bool,
    },
    NotJson(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    status: u8,
    answer: Answer,
    header: Option<ErrorType>,
}

const STATUSES: [u16; 8] = [200, 400, 403, 404, 429, 500, 502, 503];

fuzz_target!(|input: Input| {
    let status = STATUSES[usize::from(input.status) % STATUSES.len()];
    let body = match &input.answer {
        Answer::Credentials {
            expiration,
            access_key_id,
            secret_key,
            session_token,
        } => {
            let credentials = object(&format!(
                "{}{}{}{}",
                access_key_id.field("AccessKeyId", "ASIAIOSFODNN7EXAMPLE"),
                expiration.field("Expiration"),
                secret_key.field("SecretKey", SECRET_KEY),
                session_token.field("SessionToken", SESSION),
            ));
            format!("{{\"Credentials\":{credentials},\"IdentityId\":\"us-east-1:7a3b7e2c-5d4f-4e1a-9c7e-EXAMPLE\"}}")
        }
        Answer::Failure {
            kind,
            message,
            capital_message,
        } => object(&format!(
            "{}{}",
            kind.as_ref().map_or(String::new(), |k| format!(
                "\"__type\":{},",
                string(&k.text())
            )),
            message.field(
                if *capital_message {
                    "Message"
                } else {
                    "message"
                },
                "Invalid login token."
            ),
        )),
        Answer::NotJson(text) => text.clone(),
    };
    let header = input.header.as_ref().map(ErrorType::text);
    let result = agora_link::fuzzing::cognito_answer(status, body.as_bytes(), header.as_deref());

    if let Err(error) = &result {
        // The temporary AWS keys never reach an error message.
        let text = format!("{error} {error:?}");
        let planted = match &input.answer {
            Answer::Credentials {
                secret_key,
                session_token,
                ..
            } => [secret_key, session_token]
                .into_iter()
                .filter(|t| matches!(t, Text::Typical))
                .count(),
            _ => 0,
        };
        if body.matches("SECRET-").count() == planted {
            assert!(
                !text.contains(SECRET_KEY) && !text.contains(SESSION),
                "{text}"
            );
        }
    }

    if status != 200 {
        assert!(result.is_err());
        // A body whose `message` is not a string does not parse as an error body at all.
        let body_kind = match &input.answer {
            Answer::Failure {
                kind: Some(kind),
                message,
                ..
            } if !matches!(message, Text::Number(_)) => Some(kind),
            _ => None,
        };
        let recognised = body_kind.and_then(|k| k.name()).or_else(|| {
            // The header counts when the body names no valid type.
            let body_valid = body_kind.is_some_and(|k| k.name().is_some());
            (!body_valid)
                .then(|| input.header.as_ref().and_then(ErrorType::name))
                .flatten()
        });
        let unknown = body_kind.is_some_and(|k| matches!(k, ErrorType::Any(_)))
            || input
                .header
                .as_ref()
                .is_some_and(|k| matches!(k, ErrorType::Any(_)))
            || matches!(input.answer, Answer::NotJson(_));
        if unknown {
            return;
        }
        match (recognised, &result) {
            (Some(name), Err(Error::Api(api))) => {
                assert!(api.msg.starts_with(name), "{body} {header:?}: {api:?}");
                assert_eq!(api.code, i64::from(status));
            }
            (None, Err(Error::Server { http_status, .. })) => assert_eq!(*http_status, status),
            _ => panic!("{body} {header:?}: {result:?}"),
        }
        return;
    }

    let Answer::Credentials {
        expiration,
        access_key_id,
        secret_key,
        session_token,
    } = &input.answer
    else {
        if matches!(input.answer, Answer::Failure { .. }) {
            assert!(
                matches!(result, Err(Error::Decode { .. })),
                "{body}: {result:?}"
            );
        }
        return;
    };
    let strings_ok =
        access_key_id.is_string() && secret_key.is_string() && session_token.is_string();
    // `Expiration` is a JSON number (any: integer, fraction, exponent), never a string.
    let seconds: Option<f64> = match expiration {
        Num::Int(v) => Some(*v as f64),
        Num::UInt(v) => Some(*v as f64),
        Num::U64Max => Some(u64::MAX as f64),
        Num::I64Min => Some(i64::MIN as f64),
        Num::I64Max => Some(i64::MAX as f64),
        Num::IntegralFloat(a) => Some(f64::from(*a)),
        Num::Pos1e308 => Some(1e308),
        Num::Neg1e308 => Some(-1e308),
        Num::MinusZero | Num::MinusZeroFloat => Some(0.0),
        Num::Frac(a, _) => Some(f64::from(*a) + 0.5),
        Num::NegFrac(..) => Some(-1.0),
        Num::Str(_)
        | Num::PaddedStr(_)
        | Num::Text(_)
        | Num::Null
        | Num::Absent
        | Num::Bool(_)
        | Num::EmptyStr
        | Num::Object
        | Num::Array => None,
        // Not predicted exactly: only the invariants below.
        _ => {
            if let Ok(proof) = &result {
                // (A positive value under a nanosecond, such as 5e-324, is the epoch itself.)
                assert!(proof.session_expiration >= UNIX_EPOCH);
                assert!(proof.session_expiration <= max_epoch());
            }
            return;
        }
    };
    match (seconds, strings_ok) {
        (Some(s), true) if s > 0.0 => {
            let proof = result.unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(proof.session_expiration > UNIX_EPOCH);
            assert!(proof.session_expiration <= max_epoch());
            if let Num::Int(v) = expiration {
                let secs = u64::try_from(*v).unwrap_or_default();
                let expected = UNIX_EPOCH
                    + Duration::from_secs(secs.min(agora_link::wire_time::MAX_EPOCH_SECONDS));
                assert_eq!(proof.session_expiration, expected, "{body}");
            }
        }
        _ => assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{body}: {result:?}"
        ),
    }
});
