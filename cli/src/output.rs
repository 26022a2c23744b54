//! Printing results: JSON or `key: value` lines, with secrets masked unless asked for.
//!
//! Everything printed here may come from a server: numbers of any size and sign, and strings
//! holding anything. The printers never panic, and what they write cannot drive a terminal:
//! control characters (C0, DEL, C1: ESC starts ANSI sequences, 0x9b is an 8-bit CSI) and
//! bidirectional overrides are escaped, as `\u{1b}` in `key: value` lines and as `\u001b` in
//! JSON (which then still holds the server's exact string).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_link::secret::SECRET_FIELDS;
use serde_json::Value;

/// Keys holding ms since the Unix epoch, shown with an RFC 3339 form in human output.
const INSTANT_KEYS: &[&str] = &[
    "expires_at",
    "sessionExpiration",
    "createdTime",
    "changedTime",
];

/// The first millisecond of year 0000 (proleptic Gregorian), ms since the Unix epoch.
const MIN_RFC3339_MS: i64 = -62_167_219_200_000;
/// The last millisecond of year 9999, ms since the Unix epoch.
const MAX_RFC3339_MS: i64 = 253_402_300_799_999;

/// Prints `value` on stdout (see [`render`]). Fails (instead of panicking, as `println!` does)
/// when stdout is closed, e.g. by `agora-link ... | head -1`.
pub fn print(value: &Value, json: bool, show_secrets: bool) -> std::io::Result<()> {
    use std::io::Write;
    let text = render(value, json, show_secrets);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// What [`print`] writes, without the final newline: pretty JSON (`json`) or one
/// `key: value` line per field, with instants also in RFC 3339; secrets masked unless
/// `show_secrets`; never a raw control character (see the module's documentation).
pub fn render(value: &Value, json: bool, show_secrets: bool) -> String {
    let mut value = value.clone();
    if !show_secrets {
        mask(&mut value);
    }
    if json {
        json_text(&value, true)
    } else {
        let mut lines = Vec::new();
        flatten("", &value, &mut lines);
        lines.join("\n")
    }
}

/// Prints a human-readable line on stderr with its control characters escaped (tabs and line
/// breaks kept), ignoring a closed stderr (`eprintln!` would panic).
pub fn print_error(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}", terminal_safe_lines(line));
}

/// Prints `value` as one line of JSON on stderr (control characters escaped, as [`render`]
/// does), ignoring a closed stderr.
pub fn print_error_json(value: &Value) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}", json_text(value, false));
}

/// Replaces the values of [`agora_link::secret::SECRET_FIELDS`] with a masked form (`abcd…(40)` or `***`).
pub fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if SECRET_FIELDS.contains(&key.as_str()) => {
                        *text = agora_link::SecretString::new(text.as_str()).masked();
                    }
                    _ => mask(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// `ms` since the Unix epoch as an RFC 3339 UTC time to the second (`2024-05-31T16:08:37Z`),
/// or `None` outside years 0000 to 9999 (such as microseconds taken for milliseconds).
pub fn rfc3339_from_epoch_ms(ms: i64) -> Option<String> {
    if !(MIN_RFC3339_MS..=MAX_RFC3339_MS).contains(&ms) {
        return None;
    }
    // Within that range no step below can overflow an i64.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    // Civil from days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    ))
}

/// `time` in milliseconds since the Unix epoch (negative before it, rounded down), or `None`
/// when that does not fit an `i64`.
pub fn epoch_ms(time: SystemTime) -> Option<i64> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok(),
        Err(before) => {
            let before = before.duration();
            let ms = before
                .as_millis()
                .checked_add(u128::from(before.subsec_nanos() % 1_000_000 != 0))?;
            i64::try_from(ms).ok()?.checked_neg()
        }
    }
}

/// `time` as an RFC 3339 UTC time to the second, or `None` outside years 0000 to 9999.
pub fn rfc3339(time: SystemTime) -> Option<String> {
    rfc3339_from_epoch_ms(epoch_ms(time)?)
}

/// Whether a terminal could act on `c`: a control character (C0, DEL, C1) or a
/// bidirectional formatting character (which can make text read differently from its bytes).
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every [`is_terminal_control`] character escaped: `\n`, `\r`, `\t`, else
/// `\u{…}`. One line, whatever the text.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape_controls(text, false)
}

/// As [`terminal_safe`], but line breaks and tabs are kept (for multi-line messages).
fn terminal_safe_lines(text: &str) -> Cow<'_, str> {
    escape_controls(text, true)
}

fn escape_controls(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !text.chars().any(|c| is_terminal_control(c) && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        match c {
            c if kept(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_terminal_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `value` as JSON (pretty or on one line) where the characters serde_json leaves raw but a
/// terminal acts on (DEL, C1, bidirectional controls; it escapes C0 itself) are `\uXXXX`
/// escapes. They can only stand inside strings, so the JSON means the same.
fn json_text(value: &Value, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    // Serializing a `Value` to a string cannot fail (its keys are strings).
    .unwrap_or_default();
    if !text.chars().any(is_terminal_control_in_json) {
        return text;
    }
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        if is_terminal_control_in_json(c) {
            // Every such character is in the Basic Multilingual Plane: one escape each.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`is_terminal_control`] but for the line breaks and spaces of JSON's own layout (C0 inside
/// strings is already escaped by serde_json).
fn is_terminal_control_in_json(c: char) -> bool {
    u32::from(c) >= 0x7f && is_terminal_control(c)
}

fn flatten(prefix: &str, value: &Value, lines: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = terminal_safe(key);
                let path = if prefix.is_empty() {
                    key.clone().into_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, lines);
                if let (true, Some(ms)) = (INSTANT_KEYS.contains(&key.as_ref()), child.as_i64()) {
                    if let (Some(at), Some(last)) = (rfc3339_from_epoch_ms(ms), lines.last_mut()) {
                        last.push_str(" (");
                        last.push_str(&at);
                        last.push(')');
                    }
                }
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                lines.push(format!("{prefix}: (none)"));
            }
            for (index, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{index}]"), child, lines);
            }
        }
        Value::String(text) => lines.push(format!("{prefix}: {}", terminal_safe(text))),
        Value::Null => lines.push(format!("{prefix}: -")),
        other => lines.push(format!("{prefix}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instants_in_and_out_of_range() {
        assert_eq!(
            rfc3339_from_epoch_ms(0).as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339_from_epoch_ms(-1).as_deref(),
            Some("1969-12-31T23:59:59Z")
        );
        assert_eq!(
            rfc3339_from_epoch_ms(1_717_171_717_123).as_deref(),
            Some("2024-05-31T16:08:37Z")
        );
        assert_eq!(
            rfc3339_from_epoch_ms(951_782_400_000).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339_from_epoch_ms(MAX_RFC3339_MS).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            rfc3339_from_epoch_ms(MIN_RFC3339_MS).as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        for ms in [
            MAX_RFC3339_MS + 1,
            MIN_RFC3339_MS - 1,
            1_717_171_717_123_456,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(rfc3339_from_epoch_ms(ms), None, "{ms}");
        }
        assert_eq!(
            epoch_ms(UNIX_EPOCH - std::time::Duration::from_micros(1)),
            Some(-1)
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(1500)).as_deref(),
            Some("1970-01-01T00:00:01Z")
        );
    }

    #[test]
    fn every_odd_number_renders_in_both_forms() {
        let numbers = [
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(0),
            json!(-1),
            json!(f64::MAX),
            json!(f64::MIN_POSITIVE),
            json!(-0.0),
            json!(1e300),
        ];
        for number in numbers {
            let value = json!({
                "createdTime": number, "changedTime": number, "expires_at": number,
                "sessionExpiration": number, "other": number,
            });
            for json in [false, true] {
                let text = render(&value, json, false);
                assert!(text.contains(&number.to_string()), "{text}");
                if json {
                    assert_eq!(
                        serde_json::from_str::<Value>(&text).ok(),
                        Some(value.clone())
                    );
                }
            }
        }
    }

    #[test]
    fn control_characters_are_escaped_and_json_keeps_the_string() {
        let hostile = "a\u{1b}[2Jb\u{9b}c\u{7f}d\u{202e}e\r\nf: g\u{0}";
        let value = json!({hostile: [hostile, {"packageName": hostile}]});
        let human = render(&value, false, false);
        assert!(
            !human.chars().any(|c| is_terminal_control(c) && c != '\n'),
            "{human:?}"
        );
        assert_eq!(human.lines().count(), 2, "{human}");
        assert!(human.contains("a\\u{1b}[2Jb\\u{9b}c\\u{7f}d\\u{202e}e\\r\\nf: g\\u{0}"));
        for pretty in [true, false] {
            let text = json_text(&value, pretty);
            assert!(
                !text.chars().any(|c| is_terminal_control(c) && c != '\n'),
                "{text:?}"
            );
            assert_eq!(
                serde_json::from_str::<Value>(&text).ok(),
                Some(value.clone())
            );
        }
        assert_eq!(terminal_safe_lines("a\nb\tc\u{1b}"), "a\nb\tc\\u{1b}");
        assert_eq!(terminal_safe("plain 中文"), "plain 中文");
    }

    #[test]
    fn secrets_stay_masked_whatever_their_characters() {
        let value =
            json!({"access_token": "\u{1b}[31m0123456789abcdef", "secretKey": "é".repeat(40)});
        let text = render(&value, false, false);
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("access_token: \\u{1b}[31…(21)"), "{text}");
        assert!(text.contains("secretKey: éééé…(40)"), "{text}");
    }
}
