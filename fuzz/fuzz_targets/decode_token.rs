//! A `rest-token` answer, byte by byte: the envelope, `data` as a token, the renewal schedule.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = agora_link_fuzz::status_and_body(data);
    let _ = agora_link::fuzzing::is_envelope(body);
    if let Ok(token) = agora_link::fuzzing::decode_token(status, body) {
        assert!(token.expires_in <= agora_link_fuzz::MAX_LIFETIME);
    }
});
