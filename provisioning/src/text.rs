//! Identifiers as they arrive in paths and bodies: one canonical form, no hidden characters, and
//! safe to print on an operator's terminal.

use unicode_normalization::UnicodeNormalization;

/// Whether `c` is invisible or changes how the text around it is shown: a control character
/// (Unicode `Cc`: C0, DEL, C1), a bidirectional control (U+061C, U+200E–U+200F, U+202A–U+202E,
/// U+2066–U+2069), a line or paragraph separator, or another default-ignorable format character
/// (soft hyphen, zero-width space and joiners, word joiner, invisible operators, BOM, variation
/// selectors, interlinear annotation, tags), or a blank that is not a space (Hangul fillers,
/// the blank Braille pattern).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// `value` as an identifier named `field` (`customerId`, `planId`): 1 to 255 bytes of UTF-8 in
/// Unicode Normalization Form C, with no [`is_hidden`] character, no white space other than
/// U+0020 (no-break, ideographic and other spaces look like it), and no space at either end (so
/// that `acme`, `acme ` and `acme\u{a0}` cannot be three customers that print alike). Returns
/// the canonical (NFC) form, or the reason for a 400.
pub fn identifier(field: &str, value: &str) -> Result<String, String> {
    if let Some(c) = value
        .chars()
        .find(|&c| is_hidden(c) || (c.is_whitespace() && c != ' '))
    {
        return Err(format!(
            "{field} must not contain control, invisible or non-ASCII space characters (found U+{:04X})",
            u32::from(c)
        ));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(format!("{field} must not begin or end with a space"));
    }
    let canonical: String = value.nfc().collect();
    if canonical.is_empty() || canonical.len() > 255 {
        return Err(format!("{field} must be 1 to 255 bytes"));
    }
    Ok(canonical)
}

/// A path segment percent-decoded (RFC 3986 §2.1; `+` stays `+`) into UTF-8; `None` when an
/// escape is not `%` and two hex digits, or the bytes are not UTF-8.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let high = char::from(hex[0]).to_digit(16)?;
            let low = char::from(hex[1]).to_digit(16)?;
            out.push(u8::try_from(high * 16 + low).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `text` safe to print in a tab-separated admin listing: [`is_hidden`] characters, white space
/// other than U+0020, and a space at either end as `\u{…}`; tabs and newlines as `\t`/`\n`;
/// backslashes doubled — so that what an operator reads is what is stored.
pub fn escape_for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' ' if i == 0 || i == last => out.push_str("\\u{20}"),
            c if is_hidden(c) || (c.is_whitespace() && c != ' ') => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("ac%6De").as_deref(), Some("acme"));
        assert_eq!(percent_decode("ac%6de").as_deref(), Some("acme"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        for bad in ["%", "%6", "%G0", "a%zz", "%C3", "%FF", "%%41", "%+1", "%-1"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn identifiers_are_nfc_without_hidden_characters() {
        assert_eq!(identifier("customerId", "acme").unwrap(), "acme");
        // Decomposed é (e + combining acute) is the same identifier as the precomposed one.
        assert_eq!(identifier("customerId", "e\u{301}").unwrap(), "\u{e9}");
        for bad in [
            "",
            "ac\0me",
            "acme\u{202E}gnp.exe",
            "a\u{200B}b",
            "a\u{2066}b",
            "a\nb",
            "\u{7f}",
            "\u{85}",
            "\u{FEFF}acme",
            "a\u{E0041}",
            " ",
            " acme",
            "acme ",
            "acme\u{a0}",
            "\u{3000}",
            "\u{2800}",
            "a\u{2003}b",
        ] {
            assert!(identifier("customerId", bad).is_err(), "{bad:?}");
        }
        assert!(identifier("customerId", &"x".repeat(256)).is_err());
        assert!(identifier("customerId", &"x".repeat(255)).is_ok());
    }

    #[test]
    fn listings_escape_what_would_hide_or_reorder_text() {
        assert_eq!(
            escape_for_terminal("acme\u{202E}exe.txt\0\t\\"),
            "acme\\u{202e}exe.txt\\u{0}\\t\\\\"
        );
        assert_eq!(escape_for_terminal("Société 株式会社"), "Société 株式会社");
        assert_eq!(
            escape_for_terminal(" acme\u{a0} "),
            "\\u{20}acme\\u{a0}\\u{20}"
        );
        assert_eq!(escape_for_terminal("a b"), "a b");
    }
}
