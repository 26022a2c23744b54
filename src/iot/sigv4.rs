//! A small AWS Signature Version 4 presigner for query-string (URL) signing, on `ring` (already
//! linked for TLS): what a WebSocket upgrade to AWS IoT needs, and nothing more.
//!
//! The session token is appended after signing by default ([`SessionToken::AppendedUnsigned`]):
//! that is what AWS IoT expects, and signing it in makes the handshake fail with HTTP 403.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::{digest, hmac};

/// The SHA-256 of the empty string, hex: the payload hash of a presigned GET.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How the session token of temporary credentials enters the URL. Its `Debug` form shows the
/// variant, never the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SessionToken<'a> {
    /// No session token (long-term credentials).
    None,
    /// `X-Amz-Security-Token` appended after the signature, not signed (AWS IoT's rule).
    AppendedUnsigned(&'a str),
    /// `X-Amz-Security-Token` in the canonical query, signed (most other AWS services).
    Signed(&'a str),
}

impl std::fmt::Debug for SessionToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::AppendedUnsigned(_) => "AppendedUnsigned(***)",
            Self::Signed(_) => "Signed(***)",
        })
    }
}

/// Everything a presigned URL depends on. Its `Debug` form masks the access key id and never
/// shows the secret access key or the session token.
#[derive(Clone, Copy)]
pub struct PresignParams<'a> {
    /// The host, without a port when it is the scheme's default (`xxxx.iot.us-east-1.amazonaws.com`).
    pub host: &'a str,
    /// The path, e.g. `/mqtt`; already URI-encoded.
    pub path: &'a str,
    /// The AWS service: `iotdevicegateway` for AWS IoT MQTT over WebSocket.
    pub service: &'a str,
    /// The AWS region, e.g. `cn-north-1`.
    pub region: &'a str,
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials, and how it is carried.
    pub session_token: SessionToken<'a>,
    /// The signing time (already corrected for clock skew), formatted as [`amz_date`] does.
    pub time: SystemTime,
    /// `X-Amz-Expires`, when wanted (whole seconds). SigV4 accepts 1 to 604,800 (7 days);
    /// [`presign_query`] signs what it is given: check the range where the value comes from
    /// input ([`crate::iot::presign_mqtt_url`] sends none).
    pub expires: Option<Duration>,
}

impl std::fmt::Debug for PresignParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresignParams")
            .field("host", &self.host)
            .field("path", &self.path)
            .field("service", &self.service)
            .field("region", &self.region)
            .field("access_key_id", &crate::secret::masked(self.access_key_id))
            .field("secret_access_key", &format_args!("***"))
            .field("session_token", &self.session_token)
            .field("time", &self.time)
            .field("expires", &self.expires)
            .finish()
    }
}

/// Formats `time` as SigV4's `YYYYMMDDTHHMMSSZ` (UTC), as [`presign_query`] signs it: a time
/// before the UNIX epoch comes out as the epoch, and years past 9999 keep their last four
/// digits (AWS refuses a signing time that far from its own clock anyway).
pub fn amz_date(time: SystemTime) -> String {
    String::from_utf8_lossy(&amz_date_bytes(time)).into_owned()
}

/// [`amz_date`] into a stack buffer: `YYYYMMDDTHHMMSSZ`, ASCII. Years past 9999 keep their last
/// four digits (a signing time that far out is refused by AWS anyway).
fn amz_date_bytes(time: SystemTime) -> [u8; 16] {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // `seconds / 86_400` is below 2^48 (u64 seconds / 86,400): it fits an i64.
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX / 2));
    let mut out = *b"00000000T000000Z";
    let digits = |out: &mut [u8], mut value: u64| {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(&mut out[0..4], year.rem_euclid(10_000) as u64);
    digits(&mut out[4..6], u64::from(month));
    digits(&mut out[6..8], u64::from(day));
    digits(&mut out[9..11], rest / 3600);
    digits(&mut out[11..13], (rest % 3600) / 60);
    digits(&mut out[13..15], rest % 60);
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`), by byte value.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        byte += 1;
    }
    table
};

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, the rest `%XX` (upper case).
pub fn uri_encode(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut run = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if UNRESERVED[usize::from(byte)] {
            continue;
        }
        // A run of unreserved characters is copied whole. Only a non-empty run is sliced: it is
        // ASCII, so both its ends are char boundaries (`run` may sit inside a multi-byte
        // character whose bytes are all being escaped).
        if run < index {
            out.push_str(&text[run..index]);
        }
        out.push('%');
        out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(byte & 15)]));
        run = index + 1;
    }
    if run < bytes.len() {
        out.push_str(&text[run..]);
    }
}

#[cfg(test)]
fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    uri_encode(text, &mut out);
    out
}

/// Lowercase hex of a 32-byte digest, on the stack.
fn hex32(bytes: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_LOWER[usize::from(byte >> 4)];
        pair[1] = HEX_LOWER[usize::from(byte & 15)];
    }
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// The SigV4 signing key of one (secret access key, date, region, service), derived with four
/// HMACs, as an HMAC key ready to sign a string to sign.
fn derive_signing_key(
    secret_access_key: &str,
    date: &[u8],
    region: &str,
    service: &str,
) -> hmac::Key {
    let mut secret = zeroize::Zeroizing::new(Vec::with_capacity(4 + secret_access_key.len()));
    secret.extend_from_slice(b"AWS4");
    secret.extend_from_slice(secret_access_key.as_bytes());
    let key = hmac_sha256(&secret, date);
    let key = hmac_sha256(key.as_ref(), region.as_bytes());
    let key = hmac_sha256(key.as_ref(), service.as_bytes());
    let key = hmac_sha256(key.as_ref(), b"aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, key.as_ref())
}

/// Signing keys derived recently, so that presigning again with the same credentials on the same
/// day (every reconnect of every MQTT connection) costs two hashes instead of five HMACs and a
/// hash: a signing key depends only on the secret, the date, the region and the service (AWS's
/// "derive the signing key" step, which AWS itself suggests caching).
///
/// A few entries (a process may sign for several accounts); the oldest is replaced. An entry
/// holds no copy of the secret access key: it is matched by a 128-bit keyed fingerprint of the
/// secret (SipHash under two keys drawn at random once per process), so the cache holds nothing
/// from which the secret can be read back or found by searching memory. The derived keys
/// themselves are released (and their heap blocks wiped, under `wipe-on-free`) by
/// [`clear_signing_key_cache`], which [`crate::runtime::shutdown`] calls.
/// The lock is only tried: a thread that finds it taken, or a child process forked while another
/// thread held it, derives the key without the cache.
mod key_cache {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::{Mutex, OnceLock};

    use ring::hmac;

    const ENTRIES: usize = 4;

    struct Entry {
        /// The secret access key's keyed fingerprint ([`fingerprint`]).
        fingerprint: [u64; 2],
        date: [u8; 8],
        region: Box<str>,
        service: Box<str>,
        key: hmac::Key,
    }

    struct Cache {
        entries: [Option<Box<Entry>>; ENTRIES],
        next: usize,
    }

    static CACHE: Mutex<Cache> = Mutex::new(Cache {
        entries: [None, None, None, None],
        next: 0,
    });

    /// 128 bits of the secret under two SipHash keys drawn at random once per process (std's
    /// `RandomState`): enough to tell secrets apart, nothing to read one back from.
    fn fingerprint(secret: &str) -> [u64; 2] {
        static KEYS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
        let (first, second) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
        [first.hash_one(secret), second.hash_one(secret)]
    }

    /// The signing key for these inputs, from the cache or derived (and then cached).
    pub(super) fn signing_key(
        secret: &str,
        date: &[u8; 8],
        region: &str,
        service: &str,
    ) -> hmac::Key {
        let Ok(mut cache) = CACHE.try_lock() else {
            return super::derive_signing_key(secret, date, region, service);
        };
        let print = fingerprint(secret);
        let found = cache.entries.iter().flatten().find(|entry| {
            entry.date == *date
                && *entry.region == *region
                && *entry.service == *service
                && entry.fingerprint == print
        });
        if let Some(entry) = found {
            return entry.key.clone();
        }
        let key = super::derive_signing_key(secret, date, region, service);
        // The first key cached: `runtime::shutdown` drops them all from now on.
        static REGISTERED: std::sync::Once = std::sync::Once::new();
        REGISTERED.call_once(|| crate::runtime::on_shutdown(clear));
        let slot = cache.next % ENTRIES;
        cache.next = (slot + 1) % ENTRIES;
        cache.entries[slot] = Some(Box::new(Entry {
            fingerprint: print,
            date: *date,
            region: region.into(),
            service: service.into(),
            key: key.clone(),
        }));
        key
    }

    /// Whether a key for these inputs is cached (for tests).
    #[cfg(test)]
    pub(super) fn holds(secret: &str, date: &[u8; 8], region: &str, service: &str) -> bool {
        let print = fingerprint(secret);
        let cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entries.iter().flatten().any(|entry| {
            entry.fingerprint == print
                && entry.date == *date
                && *entry.region == *region
                && *entry.service == *service
        })
    }

    /// Drops every cached signing key. Waits for a presigning in progress.
    pub(super) fn clear() {
        let mut cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entries = [None, None, None, None];
        cache.next = 0;
    }
}

/// Drops the signing keys [`presign_query`] keeps (a few, of recent (secret, date, region,
/// service)), so that no key derived from a secret stays in memory; the next presigning derives
/// its key again. [`crate::runtime::shutdown`] calls it (and so do `agora_link_shutdown` and the
/// bindings' `shutdown_runtime`, through it). Thread-safe.
pub fn clear_signing_key_cache() {
    key_cache::clear();
}

/// The query string of a presigned URL: the canonical query, `X-Amz-Signature`, then (for
/// [`SessionToken::AppendedUnsigned`]) `X-Amz-Security-Token`.
///
/// The signing key of (secret, date, region, service) is cached for the process (a few entries,
/// matched by a keyed fingerprint of the secret, never a copy; [`clear_signing_key_cache`] drops
/// them): presigning again on the same UTC day hashes the canonical request and the string to
/// sign only. The canonical request and the string to sign are hashed as they are produced, never
/// built as strings.
pub fn presign_query(params: &PresignParams<'_>) -> String {
    let date_time = amz_date_bytes(params.time);
    // ASCII (digits, `T`, `Z`).
    let date_time_str = std::str::from_utf8(&date_time).unwrap_or_default();
    let mut date = [0u8; 8];
    date.copy_from_slice(&date_time[..8]);
    let date_str = &date_time_str[..8];

    let token_len = match params.session_token {
        SessionToken::None => 0,
        SessionToken::AppendedUnsigned(token) | SessionToken::Signed(token) => token.len(),
    };
    // Canonical query: parameter names sorted (X-Amz-Algorithm < Credential < Date < Expires <
    // Security-Token < SignedHeaders, which is also byte order).
    let mut query = String::with_capacity(
        320 + params.access_key_id.len()
            + params.region.len()
            + params.service.len()
            + token_len * 3,
    );
    query.push_str("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    uri_encode(params.access_key_id, &mut query);
    query.push_str("%2F");
    query.push_str(date_str);
    query.push_str("%2F");
    uri_encode(params.region, &mut query);
    query.push_str("%2F");
    uri_encode(params.service, &mut query);
    query.push_str("%2Faws4_request&X-Amz-Date=");
    query.push_str(date_time_str);
    if let Some(expires) = params.expires {
        let _ = write!(query, "&X-Amz-Expires={}", expires.as_secs());
    }
    if let SessionToken::Signed(token) = params.session_token {
        query.push_str("&X-Amz-Security-Token=");
        uri_encode(token, &mut query);
    }
    query.push_str("&X-Amz-SignedHeaders=host");

    // The canonical request, hashed piece by piece.
    let mut canonical = digest::Context::new(&digest::SHA256);
    for piece in [
        "GET\n",
        params.path,
        "\n",
        &query,
        "\nhost:",
        params.host,
        "\n\nhost\n",
        EMPTY_SHA256,
    ] {
        canonical.update(piece.as_bytes());
    }
    let request_hash = hex32(canonical.finish().as_ref());

    // The string to sign, signed piece by piece.
    let key = key_cache::signing_key(
        params.secret_access_key,
        &date,
        params.region,
        params.service,
    );
    let mut signer = hmac::Context::with_key(&key);
    for piece in [
        b"AWS4-HMAC-SHA256\n".as_slice(),
        &date_time,
        b"\n",
        &date,
        b"/",
        params.region.as_bytes(),
        b"/",
        params.service.as_bytes(),
        b"/aws4_request\n",
        &request_hash,
    ] {
        signer.update(piece);
    }
    let signature = hex32(signer.sign().as_ref());

    query.push_str("&X-Amz-Signature=");
    // Lowercase hex digits.
    query.push_str(std::str::from_utf8(&signature).unwrap_or_default());
    if let SessionToken::AppendedUnsigned(token) = params.session_token {
        query.push_str("&X-Amz-Security-Token=");
        uri_encode(token, &mut query);
    }
    query
}

/// The region of an AWS IoT endpoint such as `xxxx-ats.iot.cn-north-1.amazonaws.com.cn` or
/// `xxxx.iot.us-east-1.amazonaws.com`: the label after `iot`. `None` when the host has no such
/// label.
pub fn region_from_endpoint(endpoint: &str) -> Option<&str> {
    let host = endpoint
        .trim_start_matches("wss://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()?;
    let labels: Vec<&str> = host.split('.').collect();
    let iot = labels.iter().position(|label| *label == "iot")?;
    let region = labels.get(iot + 1)?;
    is_region_name(region).then_some(*region)
}

/// `true` for a name shaped like an AWS region (`cn-north-1`, `us-gov-west-1`): 1 to 32
/// characters, lowercase ASCII letters, digits and hyphens, at least three hyphen-separated
/// parts, none empty, the first letters only. A region is put into host names (the Cognito
/// endpoint, the SigV4 scope), so nothing else (`x@attacker.example/`, dots, `%`) may pass.
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && parts.len() >= 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date_time: &str) -> SystemTime {
        // Parses YYYYMMDDTHHMMSSZ by search (tests only).
        let target = date_time.to_owned();
        let mut low = 0u64;
        let mut high = 4_102_444_800; // 2100-01-01
        while low < high {
            let mid = (low + high) / 2;
            if amz_date(UNIX_EPOCH + Duration::from_secs(mid)) < target {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        UNIX_EPOCH + Duration::from_secs(low)
    }

    #[test]
    fn dates_format_as_amz_dates() {
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(1_498_682_925)),
            "20170628T204845Z"
        );
        // The signed form and this one agree at the edges too (found by a hostile-input run).
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(amz_date(before), "19700101T000000Z");
        let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(amz_date(year_10000), "00000101T000000Z");
        for time in [
            before,
            year_10000,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ] {
            assert_eq!(amz_date(time).as_bytes(), amz_date_bytes(time));
        }
    }

    /// The first key cached registers the cache with the runtime's shutdown: its hooks drop it.
    #[test]
    fn the_runtime_shutdown_hooks_drop_cached_signing_keys() {
        let secret = "a secret of this test's own";
        let params = PresignParams {
            secret_access_key: secret,
            ..iot_sdk_vector_params()
        };
        let _ = presign_query(&params);
        let date = *b"20170628";
        // Another test may hold the cache's lock at the moment (then nothing is cached): retry.
        for _ in 0..100 {
            if key_cache::holds(secret, &date, params.region, params.service) {
                break;
            }
            let _ = presign_query(&params);
        }
        assert!(key_cache::holds(
            secret,
            &date,
            params.region,
            params.service
        ));
        crate::runtime::run_shutdown_hooks();
        assert!(!key_cache::holds(
            secret,
            &date,
            params.region,
            params.service
        ));
    }

    /// The AWS IoT Device SDK's presigning vector (fake keys), without a session token.
    fn iot_sdk_vector_params() -> PresignParams<'static> {
        PresignParams {
            host: "data.iot.us-east-1.amazonaws.com",
            path: "/mqtt",
            service: "iotdata",
            region: "us-east-1",
            access_key_id: "TRUSTMETHISIDISFAKE0",
            secret_access_key: "trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11",
            session_token: SessionToken::None,
            time: at("20170628T204845Z"),
            expires: Some(Duration::from_secs(86_400)),
        }
    }

    #[test]
    fn aws_iot_sdk_vector() {
        let params = iot_sdk_vector_params();
        let signature = "b79a4d7e31ccbf96b22d93cce1b500b9ee611ec966159547e140ae32e4dcebed";
        let query = presign_query(&params);
        assert!(
            query.ends_with(&format!("X-Amz-Signature={signature}")),
            "{query}"
        );
        // The session token is not signed: same signature, token appended at the end.
        let with_token = presign_query(&PresignParams {
            session_token: SessionToken::AppendedUnsigned("tok/en+=="),
            ..params
        });
        assert!(with_token.contains(&format!(
            "X-Amz-Signature={signature}&X-Amz-Security-Token=tok%2Fen%2B%3D%3D"
        )));
        // Signing it in changes the signature.
        let signed = presign_query(&PresignParams {
            session_token: SessionToken::Signed("tok/en+=="),
            ..params
        });
        assert!(!signed.contains(signature));
    }

    #[test]
    fn debug_forms_show_no_secret_and_mask_the_access_key_id() {
        let params = PresignParams {
            session_token: SessionToken::AppendedUnsigned("the-session-token"),
            expires: None,
            ..iot_sdk_vector_params()
        };
        for text in [
            format!("{params:?}"),
            format!("{params:#?}"),
            format!("{:?}", SessionToken::Signed("the-session-token")),
        ] {
            assert!(!text.contains("TRUSTMETHISIDISFAKE0"), "{text}");
            assert!(!text.contains("SecretKeyIsSoFake"), "{text}");
            assert!(!text.contains("the-session-token"), "{text}");
        }
        assert!(format!("{params:?}").contains("TRUS…(20)"));
    }

    #[test]
    fn sigv4_suite_get_vanilla_query() {
        let query = presign_query(&PresignParams {
            host: "example.amazonaws.com",
            path: "/",
            service: "service",
            region: "us-east-1",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: SessionToken::None,
            time: at("20150830T123600Z"),
            expires: Some(Duration::from_secs(3600)),
        });
        assert_eq!(
            query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"
        );
    }

    #[test]
    fn regions_come_out_of_iot_endpoints() {
        for (endpoint, region) in [
            (
                "a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            (
                "a1b2c3.ats.iot.cn-north-1.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            ("a1b2c3-ats.iot.us-east-1.amazonaws.com", Some("us-east-1")),
            (
                "data.iot.ap-southeast-1.amazonaws.com:443",
                Some("ap-southeast-1"),
            ),
            (
                "wss://x.iot.eu-west-1.amazonaws.com/mqtt",
                Some("eu-west-1"),
            ),
            ("example.com", None),
            ("iot.example.com", None),
            ("x.iot", None),
        ] {
            assert_eq!(region_from_endpoint(endpoint), region, "{endpoint}");
        }
    }

    /// Every arrangement of unreserved ASCII, reserved ASCII and 2-, 3- and 4-byte characters
    /// (escaped runs that start and end inside multi-byte characters) against a byte-by-byte
    /// reference.
    #[test]
    fn uri_encoding_matches_a_byte_by_byte_reference() {
        fn reference(text: &str) -> String {
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
        let pieces = [
            "a", "Z", "9", "-", "~", " ", "/", "+", "=", "%", "\u{0}", "é", "€", "😀", "\u{7f}",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..400 {
            let mut text = String::new();
            for _ in 0..len % 40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            assert_eq!(encoded(&text), reference(&text), "{text:?}");
        }
        for piece in pieces {
            assert_eq!(encoded(piece), reference(piece), "{piece:?}");
        }
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved_characters() {
        assert_eq!(encoded("aZ09-_.~ /+=:$"), "aZ09-_.~%20%2F%2B%3D%3A%24");
        assert_eq!(encoded("é"), "%C3%A9");
    }
}
