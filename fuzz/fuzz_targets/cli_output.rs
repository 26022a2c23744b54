//! What `agora-link` prints: every response shape (token, packages, package, order, register,
//! login with and without `mqttUrl`, remove, presign, errors, and any JSON) built from the
//! library's own types with arbitrary strings and extreme numbers, through the human and the
//! `--json` printers, masked and not. Checked: no panic; no character a terminal acts on
//! (controls, bidirectional overrides) in either form; one `key: value` line per leaf (no
//! server string can start a line of its own); the JSON is the value itself; secrets are masked.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_link::{
    AwsProof, CloudStoragePackage, IdentityPool, IotCredentials, LoginResult, RegisteredAccount,
    RestToken, SecretString,
};
use agora_link_cli::output::{is_terminal_control, render};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// A number field: the extremes, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Int {
    Max,
    Min,
    Zero,
    MinusOne,
    Micros,
    LastOf9999,
    FirstOf10000,
    Any(i64),
}

impl Int {
    fn get(self) -> i64 {
        match self {
            Int::Max => i64::MAX,
            Int::Min => i64::MIN,
            Int::Zero => 0,
            Int::MinusOne => -1,
            Int::Micros => 1_717_171_717_123_456,
            Int::LastOf9999 => 253_402_300_799_999,
            Int::FirstOf10000 => 253_402_300_800_000,
            Int::Any(n) => n,
        }
    }

    /// As an instant: the epoch plus or minus that many ms (clamped to what `SystemTime` holds).
    fn instant(self) -> SystemTime {
        let ms = self.get();
        let offset = Duration::from_millis(ms.unsigned_abs());
        let at = if ms >= 0 {
            UNIX_EPOCH.checked_add(offset)
        } else {
            UNIX_EPOCH.checked_sub(offset)
        };
        at.unwrap_or(UNIX_EPOCH)
    }
}

/// A string field: hostile ones, or anything.
#[derive(Arbitrary, Debug, Clone)]
enum Str {
    Ansi,
    C1,
    Bidi,
    Lines,
    Nul,
    Chinese,
    Long(u8),
    Any(String),
}

impl Str {
    fn get(&self) -> String {
        match self {
            Str::Ansi => "\u{1b}[31mred\u{1b}]0;title\u{7}".into(),
            Str::C1 => "\u{9b}2J\u{85}\u{7f}".into(),
            Str::Bidi => "\u{202e}exe.txt\u{2066}".into(),
            Str::Lines => "a\r\nfake: line\n".into(),
            Str::Nul => "\0".into(),
            Str::Chinese => "包年365-1天".into(),
            Str::Long(n) => "x".repeat(usize::from(*n) * 16),
            Str::Any(text) => text.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Token {
    access_token: Str,
    token_type: Str,
    refresh_token: Option<Str>,
    expires_in_secs: u64,
    scope: Str,
    expires_at: Int,
}

impl Token {
    fn build(&self) -> RestToken {
        RestToken {
            access_token: SecretString::new(self.access_token.get()),
            token_type: self.token_type.get(),
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|t| SecretString::new(t.get())),
            expires_in: Duration::from_secs(self.expires_in_secs),
            scope: self.scope.get(),
            expires_at: self.expires_at.instant(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Package {
    id: Int,
    name: Str,
    kind: Str,
    deleted: bool,
    created_by: Int,
    created_time: Int,
    changed_time: Int,
}

impl Package {
    fn build(&self) -> CloudStoragePackage {
        CloudStoragePackage {
            cloud_record_package_id: self.id.get(),
            package_name: self.name.get(),
            package_type: self.kind.get(),
            life_cycle: self.kind.get(),
            bucket: self.name.get(),
            pre_dir: self.kind.get(),
            deleted: self.deleted,
            created_by: self.created_by.get(),
            created_time: self.created_time.get(),
            changed_time: self.changed_time.get(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Login {
    token: Token,
    endpoint: Str,
    region: Str,
    account: Str,
    expiration_secs: u64,
    expires_at: Int,
    granwin_token: Str,
    identity_id: Str,
    pool_token: Str,
    access_key_id: Str,
    secret_key: Str,
    session_token: Str,
    session_expiration: Int,
}

impl Login {
    fn build(&self) -> LoginResult {
        LoginResult {
            ls_token: self.token.build(),
            gy_token: IotCredentials {
                endpoint: self.endpoint.get(),
                region: self.region.get(),
                account: self.account.get(),
                expiration: Duration::from_secs(self.expiration_secs),
                expires_at: self.expires_at.instant(),
                granwin_token: SecretString::new(self.granwin_token.get()),
                pool: IdentityPool {
                    identifier: self.account.get(),
                    identity_id: self.identity_id.get(),
                    identity_pool_id: self.identity_id.get(),
                    token: SecretString::new(self.pool_token.get()),
                },
                proof: AwsProof {
                    access_key_id: self.access_key_id.get(),
                    secret_key: SecretString::new(self.secret_key.get()),
                    session_token: SecretString::new(self.session_token.get()),
                    session_expiration: self.session_expiration.instant(),
                },
            },
        }
    }
}

/// A JSON value of bounded depth (the printers recurse; the CLI's values are shallow).
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(Int),
    Unsigned(u64),
    Float(f64),
    Str(Str),
    Array(Vec<Leaf>),
    Object(Vec<(Str, Leaf)>),
}

#[derive(Arbitrary, Debug)]
enum Leaf {
    Int(Int),
    Float(f64),
    Str(Str),
    Empty,
}

impl Leaf {
    fn value(&self) -> Value {
        match self {
            Leaf::Int(n) => json!(n.get()),
            Leaf::Float(f) => json!(f),
            Leaf::Str(s) => json!(s.get()),
            Leaf::Empty => json!([]),
        }
    }
}

impl Json {
    fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Int(n) => json!(n.get()),
            Json::Unsigned(n) => json!(n),
            Json::Float(f) => json!(f),
            Json::Str(s) => json!(s.get()),
            Json::Array(items) => Value::Array(items.iter().map(Leaf::value).collect()),
            Json::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.get(), v.value())).collect())
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Response {
    Token(Token),
    Packages(Vec<Package>),
    Package(Package),
    Order(Str),
    Register(Str, Str),
    Login(Login, Option<Str>),
    Removed(Str, Str),
    Presign(Str, Str, Int),
    Error(Str, Int, Str, Option<u16>),
    Any(Json),
    Named(Vec<(Str, Json)>),
}

impl Response {
    fn value(&self) -> Value {
        let to = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
        match self {
            Response::Token(t) => to(serde_json::to_value(t.build())),
            Response::Packages(p) => to(serde_json::to_value(
                p.iter().map(Package::build).collect::<Vec<_>>(),
            )),
            Response::Package(p) => to(serde_json::to_value(p.build())),
            Response::Order(id) => json!({"orderId": id.get()}),
            Response::Register(user, token) => to(serde_json::to_value(RegisteredAccount {
                user_id: user.get(),
                token: SecretString::new(token.get()),
            })),
            Response::Login(login, url) => {
                let mut value = to(serde_json::to_value(login.build()));
                if let Some(url) = url {
                    value["mqttUrl"] = Value::String(url.get());
                }
                value
            }
            Response::Removed(p, a) => {
                json!({"removed": true, "projectId": p.get(), "thirdPartyAccount": a.get()})
            }
            Response::Presign(url, region, at) => json!({
                "url": url.get(), "region": region.get(),
                "signedAt": agora_link_cli::output::rfc3339(at.instant()),
            }),
            Response::Error(kind, code, msg, status) => json!({"error": {
                "kind": kind.get(), "message": msg.get(), "code": code.get(), "msg": msg.get(),
                "httpStatus": status, "traceId": null, "attempts": [{"host": kind.get(), "failure": msg.get()}],
            }}),
            Response::Any(json) => json.value(),
            Response::Named(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.get(), v.value())).collect())
            }
        }
    }
}

/// The leaves of `value` (what the human form prints a line for; an empty array is one line).
fn leaves(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.values().map(leaves).sum(),
        Value::Array(items) if items.is_empty() => 1,
        Value::Array(items) => items.iter().map(leaves).sum(),
        _ => 1,
    }
}

fn no_terminal_controls(text: &str) -> bool {
    !text.chars().any(|c| is_terminal_control(c) && c != '\n')
}

fuzz_target!(|response: Response| {
    let value = response.value();
    for show_secrets in [false, true] {
        let human = render(&value, false, show_secrets);
        assert!(no_terminal_controls(&human), "{human:?}");
        let lines = if human.is_empty() {
            0
        } else {
            human.split('\n').count()
        };
        assert_eq!(lines, leaves(&value), "{human}");

        let json = render(&value, true, show_secrets);
        assert!(no_terminal_controls(&json), "{json:?}");
        let parsed: Value = serde_json::from_str(&json).expect("the JSON output parses");
        if show_secrets {
            assert_eq!(parsed, value, "the JSON output is the value");
        } else {
            let mut masked = value.clone();
            agora_link_cli::output::mask(&mut masked);
            assert_eq!(parsed, masked);
        }
    }
    // A secret long enough to be shown as a prefix never appears whole when masked.
    if let Response::Register(_, token) = &response {
        let token = token.get();
        if token.chars().count() >= 12 && !token.contains(|c: char| is_terminal_control(c)) {
            let human = render(&value, false, false);
            assert!(!human.contains(&format!("token: {token}")), "{human}");
        }
    }
});
