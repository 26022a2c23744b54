//! A `register`, `removeAccount` and `open` answer, byte by byte, and the error excerpt.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = agora_link_fuzz::status_and_body(data);
    let _ = agora_link::fuzzing::decode_register(status, body);
    let _ = agora_link::fuzzing::decode_remove(status, body);
    let _ = agora_link::fuzzing::decode_open(status, body);
    let excerpt = agora_link::fuzzing::excerpt(body, 160);
    assert!(excerpt.chars().count() <= 161);
    assert!(!excerpt.chars().any(char::is_control));
});
