//! A `getAll` and a `getById` answer, byte by byte.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = agora_link_fuzz::status_and_body(data);
    let (all, one) = agora_link::fuzzing::decode_packages(status, body);
    for package in all.iter().flatten().chain(one.iter()) {
        assert!(package.created_at() <= agora_link_fuzz::max_epoch());
        assert!(package.changed_at() <= agora_link_fuzz::max_epoch());
    }
});
