//! A provisioning request's authentication: six lines (method, path, `X-Agora-Timestamp`,
//! `X-Agora-Signature`, `X-Agora-Key`, the verifier's clock; an empty line is an absent header),
//! then the body.
#![no_main]

use agora_link_provisioning::fuzzing::{signature, Presented};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (lines, body) = agora_link_fuzz::lines(data, 6);
    let header = |i: usize| lines[i].as_deref().filter(|v| !v.is_empty());
    let now_unix = header(5)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(1_700_000_000);
    let _ = signature(Presented {
        method: header(0).unwrap_or("POST"),
        path: header(1).unwrap_or("/customers/123456/projects/new"),
        body,
        timestamp: header(2),
        signature: header(3),
        api_key: header(4),
        now_unix,
    });
});
