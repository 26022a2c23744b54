//! A `login` answer, byte by byte: `lsToken`, `gyToken`, then a presigned MQTT URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = agora_link_fuzz::status_and_body(data);
    if let Ok(login) = agora_link::fuzzing::decode_login(status, body) {
        assert!(login.ls_token.expires_in <= agora_link_fuzz::MAX_LIFETIME);
        assert!(login.gy_token.expiration <= agora_link_fuzz::MAX_LIFETIME);
        assert!(login.gy_token.proof.session_expiration <= agora_link_fuzz::max_epoch());
    }
});
