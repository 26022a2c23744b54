//! A Cognito `GetCredentialsForIdentity` answer, byte by byte: `<selector?><body>[0xFF<X-Amzn-ErrorType>]`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, rest) = agora_link_fuzz::status_and_body(data);
    let (body, header) = agora_link_fuzz::split_ff(rest);
    let header = header.map(String::from_utf8_lossy);
    if let Ok(proof) = agora_link::fuzzing::cognito_answer(status, body, header.as_deref()) {
        assert_eq!(status, 200);
        assert!(proof.session_expiration <= agora_link_fuzz::max_epoch());
    }
});
