//! A `login` answer built from the spec's shape (`tests/fixtures/login-200.json`) with an
//! arbitrary value in every numeric field (`lsToken.expires_in`, `gyToken.expiration`,
//! `proof.sessionExpiration`, the envelope's `code` and `timestamp`), several endpoints and
//! regions; the decoded login is checked, then presigned.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_link::Error;
use agora_link_fuzz::{max_epoch, object, Expect, Num, Text, MAX_LIFETIME, STATUSES};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const ACCESS: &str = "SECRET-LS-NpKnxxxxxxxxxx-sFQiBbI";
const SECRET_KEY: &str = "SECRET-KEY-esWgtxxxxxxxxxxxZ0TVx";
const SESSION: &str = "SECRET-SESSION-FwoDYXdzENL//////////wEaDPMINGM==";
const POOL_TOKEN: &str = "SECRET-POOL-eyJraWQiOiJjbi1xxxxxxxxxx";

#[derive(Arbitrary, Debug)]
enum Endpoint {
    Typical,
    Wss,
    Port,
    Loopback,
    PlainRemote,
    Https,
    Empty,
    Ipv6,
    BadPort,
    Unicode,
    Any(String),
}

impl Endpoint {
    fn text(&self) -> String {
        match self {
            Endpoint::Typical => "axxxxxxxxx85d.ats.iot.cn-north-1.amazonaws.com.cn".into(),
            Endpoint::Wss => "wss://abc.iot.us-east-1.amazonaws.com:443/mqtt".into(),
            Endpoint::Port => "abc.iot.us-east-1.amazonaws.com:8443".into(),
            Endpoint::Loopback => "ws://127.0.0.1:9001".into(),
            Endpoint::PlainRemote => "ws://example.com:9001".into(),
            Endpoint::Https => "https://abc.iot.us-east-1.amazonaws.com".into(),
            Endpoint::Empty => String::new(),
            Endpoint::Ipv6 => "[::1]:443".into(),
            Endpoint::BadPort => "abc.iot.cn-north-1.amazonaws.com.cn:99999".into(),
            Endpoint::Unicode => "例子.iot.cn-north-1.amazonaws.com.cn".into(),
            Endpoint::Any(text) => text.clone(),
        }
    }

    /// `true` for the endpoints that presign.
    fn signs(&self) -> bool {
        matches!(
            self,
            Endpoint::Typical | Endpoint::Wss | Endpoint::Port | Endpoint::Loopback
        )
    }
}

#[derive(Arbitrary, Debug)]
enum Region {
    Typical,
    UsEast,
    Empty,
    Blank,
    Absent,
    Any(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    status: u8,
    code: Num,
    timestamp: Num,
    expires_in: Num,
    expiration: Num,
    session_expiration: Num,
    endpoint: Endpoint,
    region: Region,
    access_key_id: Text,
    secret_key: Text,
    session_token: Text,
}

fuzz_target!(|input: Input| {
    let status = STATUSES[usize::from(input.status) % STATUSES.len()];
    let ls_token = object(&format!(
        "\"access_token\":\"{ACCESS}\",\"token_type\":\"bearer\",\"refresh_token\":\"Rv4hnY2xxxxxxxxsoQ45vU\",{}\"scope\":\"read\"",
        input.expires_in.field("expires_in"),
    ));
    let pool = format!(
        "{{\"identifier\":\"100000000000000000_680a87117509885c39698b37577ed2e0_712573185701490688\",\"identityId\":\"cn-north-1:b8xxxxxxxxx47a3-9aaa-974135e0da67\",\"identityPoolId\":\"cn-north-1:a6e5e0xxxxxxxx7d940\",\"token\":\"{POOL_TOKEN}\"}}"
    );
    let proof = object(&format!(
        "{}{}{}{}",
        input
            .access_key_id
            .field("accessKeyId", "ASIA2xxxxxxxxxMPY"),
        input.secret_key.field("secretKey", SECRET_KEY),
        input.session_token.field("sessionToken", SESSION),
        input.session_expiration.field("sessionExpiration"),
    ));
    let region = match &input.region {
        Region::Typical => "\"region\":\"cn-north-1\",".to_owned(),
        Region::UsEast => "\"region\":\"us-east-1\",".to_owned(),
        Region::Empty => "\"region\":\"\",".to_owned(),
        Region::Blank => "\"region\":\"  \",".to_owned(),
        Region::Absent => String::new(),
        Region::Any(text) => format!("\"region\":{},", agora_link_fuzz::string(text)),
    };
    let gy_token = object(&format!(
        "\"endpoint\":{},\"pool\":{pool},{}\"granwin_token\":\"granwin_aws_user_info_hash:_7200_xxxxxxxxxxx36296101\",\"proof\":{proof},{region}\"account\":\"680axxxxxxxxxxx77ed2e0\"",
        agora_link_fuzz::string(&input.endpoint.text()),
        input.expiration.field("expiration"),
    ));
    let body = object(&format!(
        "{}\"msg\":\"SUCCESS\",{}\"data\":{{\"lsToken\":{ls_token},\"gyToken\":{gy_token}}},\"success\":true",
        input.code.field("code"),
        input.timestamp.field("timestamp"),
    ));

    let before = SystemTime::now();
    let result = agora_link::fuzzing::decode_login(status, body.as_bytes());
    let after = SystemTime::now();

    if let Err(error) = &result {
        let text = format!("{error} {error:?}");
        let planted = 2 + [&input.secret_key, &input.session_token]
            .into_iter()
            .filter(|t| matches!(t, Text::Typical))
            .count();
        if body.matches("SECRET-").count() == planted {
            for secret in [ACCESS, SECRET_KEY, SESSION, POOL_TOKEN] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }
    if let Ok(login) = &result {
        let gy = &login.gy_token;
        assert!(login.ls_token.expires_in <= MAX_LIFETIME);
        assert!(gy.expiration <= MAX_LIFETIME);
        assert!(gy.expires_at >= before && gy.expires_at <= after + MAX_LIFETIME);
        assert!(gy.proof.session_expiration >= UNIX_EPOCH);
        assert!(gy.proof.session_expiration <= max_epoch());
        let region_ok = matches!(input.region, Region::Typical | Region::UsEast);
        let keys_ok = !gy.proof.access_key_id.is_empty() && !gy.proof.secret_key.is_empty();
        if input.endpoint.signs() && region_ok && keys_ok {
            let url = gy
                .mqtt_url(SystemTime::now())
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(url
                .expose()
                .contains("/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
        }
    }

    if status == 429 || status >= 500 {
        return;
    }
    let code = input.code.flexible_i64_opt();
    let timestamp = input.timestamp.flexible_i64_opt();
    if code != Some(Expect::Int(0)) || !matches!(timestamp, None | Some(Expect::Int(_))) {
        return;
    }
    let expires_in = input.expires_in.flexible_i64().seconds();
    let expiration = input.expiration.flexible_i64().seconds();
    let session_expiration = input.session_expiration.flexible_i64();
    let numbers = [expires_in, expiration, session_expiration];
    if numbers.contains(&Expect::Unknown) {
        return;
    }
    // `region` is any string or absent (it defaults to empty).
    let strings_ok = input.access_key_id.is_string()
        && input.secret_key.is_string()
        && input.session_token.is_string();
    let [Expect::Int(expires_in), Expect::Int(expiration), Expect::Int(ms)] = numbers else {
        assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{body}: {result:?}"
        );
        return;
    };
    if !strings_ok {
        assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{body}: {result:?}"
        );
        return;
    }
    let login = result.unwrap_or_else(|e| panic!("{body}: {e}"));
    let cap = |s: i64| {
        u64::try_from(s)
            .unwrap_or_default()
            .min(MAX_LIFETIME.as_secs())
    };
    assert_eq!(login.ls_token.expires_in.as_secs(), cap(expires_in));
    assert_eq!(login.gy_token.expiration.as_secs(), cap(expiration));
    let expected = UNIX_EPOCH
        + Duration::from_millis(u64::try_from(ms).unwrap_or_default()).min(Duration::from_secs(
            agora_link::wire_time::MAX_EPOCH_SECONDS,
        ));
    assert_eq!(login.gy_token.proof.session_expiration, expected);
});
