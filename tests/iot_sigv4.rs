//! The hand-written SigV4 presigner against the `aws-sigv4` crate (dev-dependency only): the
//! same signature for many generated inputs, with the session token signed and not signed.

use std::time::{Duration, UNIX_EPOCH};

use agora_link::iot::sigv4::{presign_query, PresignParams, SessionToken};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn text(&mut self, alphabet: &str, len: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..len)
            .map(|_| chars[(self.next() % chars.len() as u64) as usize])
            .collect()
    }
}

fn reference(params: &PresignParams<'_>, token: Option<&str>, signed_token: bool) -> String {
    let identity = Credentials::new(
        params.access_key_id,
        params.secret_access_key,
        token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = params.expires;
    settings.session_token_mode = if signed_token {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let signing = v4::SigningParams::builder()
        .identity(&identity)
        .region(params.region)
        .name(params.service)
        .time(params.time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("wss://{}{}", params.host, params.path);
    let request = SignableRequest::new(
        "GET",
        &url,
        std::iter::once(("host", params.host)),
        SignableBody::Bytes(&[]),
    )
    .unwrap();
    let (instructions, _) = sign(request, &signing).unwrap().into_parts();
    instructions
        .params()
        .iter()
        .find(|(name, _)| *name == "X-Amz-Signature")
        .map(|(_, value)| value.to_string())
        .expect("a signature parameter")
}

fn signature_of(query: &str) -> &str {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-Signature="))
        .unwrap()
}

#[test]
fn signatures_match_the_aws_sigv4_crate() {
    let mut rng = Rng(0x5EED);
    let regions = [
        "cn-north-1",
        "cn-northwest-1",
        "us-east-1",
        "eu-central-1",
        "ap-southeast-1",
    ];
    for case in 0..300 {
        let access_key_id = format!("ASIA{}", rng.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
        let secret = rng.text(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        );
        let token_len = (rng.next() % 300 + 20) as usize;
        let token = rng.text(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
            token_len,
        );
        let host = format!(
            "{}-ats.iot.{}.amazonaws.com",
            rng.text("abcdefghijklmnopqrstuvwxyz0123456789", 14),
            regions[case % regions.len()]
        );
        let time = UNIX_EPOCH + Duration::from_secs(1_400_000_000 + rng.next() % 1_000_000_000);
        // aws-sigv4 always writes X-Amz-Expires when presigning (the no-expiry form is covered by
        // the known-answer tests).
        let expires = Some(Duration::from_secs(rng.next() % 86_400 + 1));
        for signed_token in [false, true] {
            let params = PresignParams {
                host: &host,
                path: "/mqtt",
                service: "iotdevicegateway",
                region: regions[case % regions.len()],
                access_key_id: &access_key_id,
                secret_access_key: &secret,
                session_token: if signed_token {
                    SessionToken::Signed(&token)
                } else {
                    SessionToken::AppendedUnsigned(&token)
                },
                time,
                expires,
            };
            let ours = presign_query(&params);
            assert_eq!(
                signature_of(&ours),
                reference(&params, Some(&token), signed_token),
                "case {case}, signed token {signed_token}: {ours}"
            );
        }
    }
}

/// The signing key is cached per (secret, date, region, service) for the process: a long mixed
/// sequence of presignings that revisits, and nearly repeats, every one of those inputs (a secret
/// one character longer or with its last character changed, the same day an hour apart, midnight
/// and the second before it, another region or service, more credentials than the cache holds)
/// must sign each exactly as the `aws-sigv4` crate does, from one thread and from several.
#[test]
fn cached_signing_keys_never_cross_their_inputs() {
    let base = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let secrets: Vec<String> = vec![
        base.to_owned(),
        format!("{base}A"),
        base[..base.len() - 1].to_owned(),
        format!("{}X", &base[..base.len() - 1]),
        format!("X{}", &base[1..]),
        "short".to_owned(),
        "another/secret+key=".to_owned(),
    ];
    let midnight = 1_765_065_600; // 2025-12-07T00:00:00Z
    let times = [
        midnight - 1,
        midnight,
        midnight + 1,
        midnight + 3600,
        midnight + 86_399,
        midnight + 86_400,
        midnight + 40 * 86_400,
    ];
    let regions = ["cn-north-1", "cn-northwest-1", "us-east-1"];
    let services = ["iotdevicegateway", "iotdata"];
    let run = |seed: u64, count: usize| {
        let mut rng = Rng(seed);
        for step in 0..count {
            // Mostly a few recent inputs (the cache's hits), sometimes anything.
            let pick = |rng: &mut Rng, len: usize| {
                if rng.next() % 4 == 0 {
                    (rng.next() % len as u64) as usize
                } else {
                    (rng.next() % 2) as usize
                }
            };
            let secret = &secrets[pick(&mut rng, secrets.len())];
            let time = UNIX_EPOCH + Duration::from_secs(times[pick(&mut rng, times.len())]);
            let region = regions[pick(&mut rng, regions.len())];
            let service = services[pick(&mut rng, services.len())];
            let token = rng.text(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                40,
            );
            let signed_token = rng.next() % 2 == 0;
            let params = PresignParams {
                host: "a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn",
                path: "/mqtt",
                service,
                region,
                access_key_id: "ASIAQ37MU3YMSQFYRXKP",
                secret_access_key: secret,
                session_token: if signed_token {
                    SessionToken::Signed(&token)
                } else {
                    SessionToken::AppendedUnsigned(&token)
                },
                time,
                expires: Some(Duration::from_secs(3600)),
            };
            let ours = presign_query(&params);
            assert_eq!(
                signature_of(&ours),
                reference(&params, Some(&token), signed_token),
                "seed {seed} step {step}: secret {secret:?}, {time:?}, {region}, {service}"
            );
        }
    };
    run(1, 1500);
    std::thread::scope(|scope| {
        for seed in 2..6 {
            scope.spawn(move || run(seed, 400));
        }
    });
}
