//! A provisioning request body, byte by byte: parsed, every route's fields read, agora-v1 checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(fields) = agora_link_provisioning::fuzzing::body(data) {
        // Whatever Agora sends, a body this server signs itself verifies.
        let object = serde_json::Value::Object(fields.into_iter().collect());
        for (method, path) in agora_link_provisioning::fuzzing::ROUTES {
            if let Some(verified) =
                agora_link_provisioning::fuzzing::sign_and_verify(method, path, &object)
            {
                assert!(verified.is_ok(), "{method} {path}: {verified:?}");
            }
        }
    }
});
