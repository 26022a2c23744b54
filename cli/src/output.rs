//! Printing results: JSON or `key: value` lines, with secrets masked unless asked for.

use agora_link::secret::SECRET_FIELDS;
use serde_json::Value;

/// Keys holding ms since the Unix epoch, shown with an RFC 3339 form in human output.
const INSTANT_KEYS: &[&str] = &[
    "expires_at",
    "sessionExpiration",
    "createdTime",
    "changedTime",
];

/// Prints `value` on stdout. Fails (instead of panicking, as `println!` does) when stdout is
/// closed, e.g. by `agora-link ... | head -1`.
pub fn print(value: &Value, json: bool, show_secrets: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut value = value.clone();
    if !show_secrets {
        mask(&mut value);
    }
    let text = if json {
        serde_json::to_string_pretty(&value).unwrap_or_default()
    } else {
        let mut lines = Vec::new();
        flatten("", &value, &mut lines);
        lines.join("\n")
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// Prints a line on stderr, ignoring a closed stderr (`eprintln!` would panic).
pub fn print_error(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
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

fn flatten(prefix: &str, value: &Value, lines: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, lines);
                if let (true, Some(ms)) = (INSTANT_KEYS.contains(&key.as_str()), child.as_i64()) {
                    if let Some(at) = u64::try_from(ms)
                        .ok()
                        .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
                    {
                        if let Some(last) = lines.last_mut() {
                            last.push_str(&format!(" ({})", humantime::format_rfc3339_seconds(at)));
                        }
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
        Value::String(text) => lines.push(format!("{prefix}: {text}")),
        Value::Null => lines.push(format!("{prefix}: -")),
        other => lines.push(format!("{prefix}: {other}")),
    }
}
