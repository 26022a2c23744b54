//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default). Not a
//! stable API: hidden from the documentation and for fuzzing only.
//!
//! Each function runs the library's real, crate-private decoder on bytes as they would come from
//! the network, then does with the result what the library and its callers do next (compute
//! expiry times and refresh schedules, presign an MQTT URL, convert to the C ABI, format the
//! error). None of them may panic, whatever the input: a panic is a bug the fuzzer reports.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::cloud_storage::OrderIdWire;
use crate::api::envelope;
use crate::api::third_party::LoginWire;
use crate::api::token::TokenWire;
use crate::api::Endpoint;
use crate::error::{Error, Result};
use crate::iot::{presign_mqtt_url, Clock};
use crate::wire_time::epoch_ms;
use crate::{AwsProof, CloudStoragePackage, LoginResult, RegisteredAccount, RestToken};

/// An IoT endpoint and region that presign, for the paths that have no endpoint of their own.
const IOT_ENDPOINT: &str = "abc-ats.iot.cn-north-1.amazonaws.com.cn";
const IOT_REGION: &str = "cn-north-1";

/// Decodes a `rest-token` answer (`data` is the token), as `Client::request_token` does, and
/// schedules its renewal as the token cache does.
pub fn decode_token(http_status: u16, body: &[u8]) -> Result<RestToken> {
    let result =
        envelope::decode_response::<TokenWire>(Endpoint::RestToken, http_status, body, None)
            .map(|wire| wire.into_model(SystemTime::now()));
    observe(&result, use_token);
    result
}

/// Decodes a `login` answer (`lsToken` and `gyToken`), as `Client::login_account` does, then
/// presigns an MQTT URL and schedules the credentials' refresh as the provider does.
pub fn decode_login(http_status: u16, body: &[u8]) -> Result<LoginResult> {
    let result =
        envelope::decode_response::<LoginWire>(Endpoint::ThirdPartyLogin, http_status, body, None)
            .map(|wire| wire.into_model(SystemTime::now()));
    observe(&result, use_login);
    result
}

/// Decodes `body` both as a `getAll` answer (a list of packages) and as a `getById` answer (one
/// package).
pub fn decode_packages(
    http_status: u16,
    body: &[u8],
) -> (
    Result<Vec<CloudStoragePackage>>,
    Result<CloudStoragePackage>,
) {
    let all = envelope::decode_response::<Vec<CloudStoragePackage>>(
        Endpoint::PackagesGetAll,
        http_status,
        body,
        Some("00000000-0000-4000-8000-000000000000"),
    );
    observe(&all, |packages| {
        packages.iter().for_each(use_package);
        #[cfg(feature = "capi")]
        drop(crate::capi::agora_link_package_list::from(packages.clone()));
    });
    let one = envelope::decode_response::<CloudStoragePackage>(
        Endpoint::PackagesGetById,
        http_status,
        body,
        Some("00000000-0000-4000-8000-000000000000"),
    );
    observe(&one, |package| {
        use_package(package);
        #[cfg(feature = "capi")]
        drop(crate::capi::agora_link_package::from(package.clone()));
    });
    (all, one)
}

/// Decodes a `register` answer (user id and account token).
pub fn decode_register(http_status: u16, body: &[u8]) -> Result<RegisteredAccount> {
    let result = envelope::decode_response::<RegisteredAccount>(
        Endpoint::ThirdPartyRegister,
        http_status,
        body,
        None,
    );
    observe(&result, |account| {
        let _ = format!("{account:?}");
        let _ = serde_json::to_vec(account);
        #[cfg(feature = "capi")]
        drop(crate::capi::agora_link_account::from(account.clone()));
    });
    result
}

/// Decodes a `removeAccount` answer (any `data`, ignored).
pub fn decode_remove(http_status: u16, body: &[u8]) -> Result<()> {
    let result = envelope::decode_response::<serde::de::IgnoredAny>(
        Endpoint::ThirdPartyRemoveAccount,
        http_status,
        body,
        None,
    )
    .map(|_| ());
    observe(&result, |_| ());
    result
}

/// Decodes an `open` answer (the id of the opened package, a string or a number).
pub fn decode_open(http_status: u16, body: &[u8]) -> Result<String> {
    let result = envelope::decode_response::<OrderIdWire>(
        Endpoint::OrderOpen,
        http_status,
        body,
        Some("00000000-0000-4000-8000-000000000000"),
    )
    .map(OrderIdWire::into_id);
    observe(&result, |_| ());
    result
}

/// `true` when `body` is an Agora Link answer (a JSON object with `code`), as the transport
/// decides before it tries another host.
pub fn is_envelope(body: &[u8]) -> bool {
    envelope::is_envelope(body)
}

/// The start of `body` as error messages quote it, secrets masked.
pub fn excerpt(body: &[u8], max_chars: usize) -> String {
    envelope::redacted_excerpt(body, max_chars)
}

/// Parses a Cognito `GetCredentialsForIdentity` answer: the credentials of a 200, or the error of
/// any other status (`amzn_error_type` is the `X-Amzn-ErrorType` header), then schedules the
/// refresh and presigns an MQTT URL with the new credentials.
pub fn cognito_answer(
    http_status: u16,
    body: &[u8],
    amzn_error_type: Option<&str>,
) -> Result<AwsProof> {
    let result = crate::iot::cognito::parse_answer(http_status, body, amzn_error_type);
    match &result {
        Ok(proof) => use_proof(proof, IOT_ENDPOINT, IOT_REGION, &Clock::default()),
        Err(error) => {
            let _ = crate::iot::cognito::is_refused(error);
            use_error(error);
        }
    }
    result
}

/// Parses a `Retry-After` value (delta-seconds or an HTTP date) as the transport does, and
/// checks the wait against a call deadline as the failover loop does.
pub fn retry_after(value: &str) -> Option<Duration> {
    let wait = crate::transport::parse_retry_after(value)?;
    let now = Instant::now();
    let deadline = crate::wire_time::instant_after_capped(now, Duration::from_secs(30));
    let delay = Duration::from_millis(250).max(wait);
    let _ends_the_call =
        crate::wire_time::instant_after(now, delay).map_or(true, |at| at >= deadline);
    let _ = (delay.as_millis(), delay.as_secs_f64());
    Some(wait)
}

/// Feeds a `Date` header value to a fresh [`Clock`] as the client does, then reads the corrected
/// time and signs with it. Returns the corrected current time when the value parsed.
pub fn date_header(value: &str) -> Option<SystemTime> {
    let clock = Clock::default();
    let parsed = clock.observe_date_header(value);
    // A second observation of the same value (the offset moves only by a second or more).
    clock.observe_date_header(value);
    let now = clock.now();
    let _ = clock.correct(UNIX_EPOCH);
    let _ = clock.correct(SystemTime::now());
    let _ = (clock.offset_ms(), clock.is_synchronized(), epoch_ms(now));
    let _ = crate::iot::sigv4::amz_date(now);
    let proof = AwsProof {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_key: "secret/key+example".into(),
        session_token: "token".into(),
        session_expiration: crate::wire_time::system_after(now, Duration::from_secs(3600)),
    };
    use_proof(&proof, IOT_ENDPOINT, IOT_REGION, &clock);
    parsed.then_some(now)
}

/// Runs `use_value` on a success and the error checks on a failure.
fn observe<T>(result: &Result<T>, use_value: impl FnOnce(&T)) {
    match result {
        Ok(value) => use_value(value),
        Err(error) => use_error(error),
    }
}

/// What is done with any error: formatted, classified, converted for the C ABI.
fn use_error(error: &Error) {
    let _ = (error.to_string(), format!("{error:?}"));
    let _ = (
        error.kind(),
        error.http_status(),
        error.trace_id(),
        error.attempts().len(),
        error.is_unauthorized(),
    );
    if let Some(api) = error.api_error() {
        let _ = (
            api.to_string(),
            api.is_unauthorized(),
            api.is_refused_grant(),
        );
    }
    // The C ABI's error object holds these texts as C strings (`FfiError::from` consumes the
    // error, which the hooks return).
    #[cfg(feature = "capi")]
    {
        let _ = crate::capi::cstring(&error.to_string());
        let _ = error.api_error().map(|api| crate::capi::cstring(&api.msg));
        let _ = error.trace_id().map(crate::capi::cstring);
    }
}

/// What the token cache and the C ABI do with a token.
fn use_token(token: &RestToken) {
    let _ = epoch_ms(token.expires_at);
    let now = Instant::now();
    let lifetime = token.expires_in;
    let _refresh_at = crate::wire_time::instant_after_capped(
        now,
        lifetime.saturating_sub(crate::auth::refresh_margin(lifetime)),
    );
    let _expires_at = crate::wire_time::instant_after_capped(now, lifetime);
    let _ = crate::transport::bearer_header(&token.access_token);
    let _ = (format!("{token:?}"), serde_json::to_vec(token));
    #[cfg(feature = "capi")]
    drop(crate::capi::agora_link_token::from(token.clone()));
}

/// What a login's caller, the credential provider and the C ABI do with a login.
fn use_login(login: &LoginResult) {
    use_token(&login.ls_token);
    let gy = &login.gy_token;
    let _ = (
        epoch_ms(gy.expires_at),
        gy.expiration.as_secs(),
        gy.mqtt_client_id(),
    );
    let clock = Clock::default();
    // As the brief's caller does: the region as sent, and the region the provider signs for.
    use_proof(&gy.proof, &gy.endpoint, &gy.region, &clock);
    if let Ok(region) = gy.signing_region() {
        use_proof(&gy.proof, &gy.endpoint, &region, &clock);
    }
    let _ = gy.mqtt_url(clock.now());
    let _ = (format!("{login:?}"), serde_json::to_vec(login));
    #[cfg(feature = "capi")]
    drop(crate::capi::agora_link_login::from(login.clone()));
}

/// What the credential provider does with temporary AWS credentials.
fn use_proof(proof: &AwsProof, endpoint: &str, region: &str, clock: &Clock) {
    let now = clock.now();
    let _ = epoch_ms(proof.session_expiration);
    let lifetime = proof
        .session_expiration
        .duration_since(now)
        .unwrap_or_default();
    let _ = crate::iot::refresh_margin(lifetime);
    let _ = crate::iot::provider::jittered_refresh_at(proof, now);
    let _ = now < proof.session_expiration;
    let _ = presign_mqtt_url(endpoint, region, proof, now);
}

/// What callers do with a package.
fn use_package(package: &CloudStoragePackage) {
    let _ = (
        epoch_ms(package.created_at()),
        epoch_ms(package.changed_at()),
    );
    let _ = (format!("{package:?}"), serde_json::to_vec(package));
}
