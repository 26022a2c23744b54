//! Benchmark: the cost of presigning an AWS IoT MQTT URL with this SDK's SigV4 presigner, against
//! the `aws-sigv4` crate presigning the same request in the same process (a dev-dependency used
//! only here and in the cross-check tests).
//!
//! `cargo run --release --example bench_presign -- [signatures per round, default 20000] [rounds, default 7]`

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use agora_link::iot::sigv4::{presign_query, PresignParams, SessionToken};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

const HOST: &str = "a1b2c3d4e5f6g7-ats.iot.cn-north-1.amazonaws.com.cn";
const KEY_ID: &str = "ASIAQ37MU3YMSQFYRXKP";
const SECRET: &str = "rO82p6wq9Y0x1fzT5vH8kq1X2c3v4b5n6m7l8k9j";

fn ours(token: &str, time: SystemTime) -> usize {
    let query = presign_query(&PresignParams {
        host: HOST,
        path: "/mqtt",
        service: "iotdevicegateway",
        region: "cn-north-1",
        access_key_id: KEY_ID,
        secret_access_key: SECRET,
        session_token: SessionToken::AppendedUnsigned(token),
        time,
        expires: Some(Duration::from_secs(3600)),
    });
    // The full URL, as the SDK builds it.
    format!("wss://{HOST}/mqtt?{query}").len()
}

fn reference(token: &str, time: SystemTime) -> usize {
    let identity = Credentials::new(KEY_ID, SECRET, Some(token.to_owned()), None, "bench").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(3600));
    settings.session_token_mode = SessionTokenMode::Exclude;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("cn-north-1")
        .name("iotdevicegateway")
        .time(time)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let url = format!("wss://{HOST}/mqtt");
    let request = SignableRequest::new(
        "GET",
        &url,
        std::iter::once(("host", HOST)),
        SignableBody::Bytes(&[]),
    )
    .expect("request");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    // Build the URL the same way: base + query parameters.
    let mut full = url;
    for (index, (name, value)) in instructions.params().iter().enumerate() {
        full.push(if index == 0 { '?' } else { '&' });
        full.push_str(name);
        full.push('=');
        full.push_str(value);
    }
    full.len()
}

fn run(count: usize, f: impl Fn(&str, SystemTime) -> usize, token: &str) -> f64 {
    let time = SystemTime::now();
    let started = Instant::now();
    let mut total = 0usize;
    for _ in 0..count {
        total += f(black_box(token), black_box(time));
    }
    black_box(total);
    started.elapsed().as_nanos() as f64 / count as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7).max(1);
    let token = format!("FwoDYXdzE{}", "x".repeat(300));
    // Warm-up.
    run(count / 10 + 1, ours, &token);
    run(count / 10 + 1, reference, &token);
    let (mut sdk, mut aws) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first.
        if round % 2 == 0 {
            sdk.push(run(count, ours, &token));
            aws.push(run(count, reference, &token));
        } else {
            aws.push(run(count, reference, &token));
            sdk.push(run(count, ours, &token));
        }
    }
    let (sdk, aws) = (median(sdk), median(aws));
    println!("bench_presign: {count} presigned AWS IoT URLs per round, median of {rounds} rounds");
    println!("  agora-link sigv4 presigner   {sdk:8.0} ns/URL");
    println!("  aws-sigv4 crate              {aws:8.0} ns/URL");
    println!(
        "  ratio {:.2}x faster (goal: at least 4x; the signing key is cached per day)",
        aws / sdk
    );
}
