//! `Retry-After` and `Date` header values: `<Retry-After>\n<Date>` (either may be anything).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (lines, rest) = agora_link_fuzz::lines(data, 1);
    let retry_after = lines[0].clone().unwrap_or_default();
    let date = String::from_utf8_lossy(rest);
    let _ = agora_link::fuzzing::retry_after(&retry_after);
    let _ = agora_link::fuzzing::date_header(&date);
    // Each value also goes in the other header.
    let _ = agora_link::fuzzing::retry_after(&date);
    let _ = agora_link::fuzzing::date_header(&retry_after);
});
