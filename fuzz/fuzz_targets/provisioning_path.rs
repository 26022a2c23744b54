//! A provisioning request line: `<method>\n<path>`, routed, normalised, percent-decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (lines, rest) = agora_link_fuzz::lines(data, 1);
    let method = lines[0].clone().unwrap_or_default();
    let path = String::from_utf8_lossy(rest);
    let _ = agora_link_provisioning::fuzzing::path(&method, &path);
    let normalised = agora_link_provisioning::signature::normalise(&path);
    assert_eq!(
        agora_link_provisioning::signature::normalise(&normalised),
        normalised
    );
});
