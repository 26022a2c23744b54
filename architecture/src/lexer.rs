//! Just enough of a Rust lexer to find paths: identifiers and the punctuation that paths and
//! module blocks are made of, with comments, strings and character literals skipped (a path
//! written in a doc comment or a string is not an import).

/// One token, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: Kind,
    /// The 1-based line of its first character.
    pub line: usize,
}

/// The kinds of token the import scan needs; everything else is [`Kind::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An identifier or keyword, `r#` prefix removed; `$crate` keeps its `$`.
    Ident(String),
    /// `::`
    PathSep,
    /// `{`
    OpenBrace,
    /// `}`
    CloseBrace,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `*`
    Star,
    /// `#` (the start of an attribute).
    Pound,
    /// `[`
    OpenBracket,
    /// `]`
    CloseBracket,
    /// `!`
    Bang,
    /// A string literal `"…"`: its text between the quotes, escapes as written (a path in an
    /// attribute, such as serde's `with = "crate::…"`, is read from it).
    Str(String),
    /// Any other character, or another literal.
    Other,
}

/// Splits `source` into tokens. Never fails: an unterminated comment or string ends the input.
pub fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        let start_line = line;
        let push = |tokens: &mut Vec<Token>, kind: Kind| {
            tokens.push(Token {
                kind,
                line: start_line,
            })
        };
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == Some('/') => {
                while let Some(c) = at(i) {
                    if c == '\n' {
                        break;
                    }
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                // Block comments nest in Rust.
                let mut depth = 0usize;
                while let Some(c) = at(i) {
                    if c == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        i += 2;
                    } else if c == '*' && at(i + 1) == Some('/') {
                        depth = depth.saturating_sub(1);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if c == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => {
                let start = i + 1;
                i = skip_string(&chars, start, &mut line);
                let end = i.saturating_sub(1).max(start);
                let text: String = chars.get(start..end).unwrap_or_default().iter().collect();
                push(&mut tokens, Kind::Str(text));
            }
            'b' | 'c' if at(i + 1) == Some('"') => {
                i = skip_string(&chars, i + 2, &mut line);
                push(&mut tokens, Kind::Other);
            }
            'r' | 'b' | 'c' if raw_string_start(&chars, i).is_some() => {
                let (hashes, body) = raw_string_start(&chars, i).unwrap_or((0, i));
                i = skip_raw_string(&chars, body, hashes, &mut line);
                push(&mut tokens, Kind::Other);
            }
            'b' if at(i + 1) == Some('\'') => {
                i = skip_char(&chars, i + 1);
                push(&mut tokens, Kind::Other);
            }
            '\'' => {
                // A character literal ('x', '\n', '\u{1F600}') or a lifetime/label ('a, 'static).
                if at(i + 1) == Some('\\') || at(i + 2) == Some('\'') {
                    i = skip_char(&chars, i);
                } else {
                    i += 1;
                    while at(i).is_some_and(is_ident_continue) {
                        i += 1;
                    }
                }
                push(&mut tokens, Kind::Other);
            }
            '$' if at(i + 1).is_some_and(is_ident_start) => {
                let (word, next) = read_ident(&chars, i + 1);
                i = next;
                push(&mut tokens, Kind::Ident(format!("${word}")));
            }
            c if is_ident_start(c) => {
                let (mut word, mut next) = read_ident(&chars, i);
                if word == "r" && at(next) == Some('#') && at(next + 1).is_some_and(is_ident_start)
                {
                    (word, next) = read_ident(&chars, next + 1);
                }
                i = next;
                push(&mut tokens, Kind::Ident(word));
            }
            c if c.is_ascii_digit() => {
                while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    // `1..2` is a range, not a float: stop before the second dot.
                    if at(i) == Some('.') && at(i + 1) == Some('.') {
                        break;
                    }
                    i += 1;
                }
                push(&mut tokens, Kind::Other);
            }
            ':' if at(i + 1) == Some(':') => {
                i += 2;
                push(&mut tokens, Kind::PathSep);
            }
            _ => {
                i += 1;
                let kind = match c {
                    '{' => Kind::OpenBrace,
                    '}' => Kind::CloseBrace,
                    ',' => Kind::Comma,
                    ';' => Kind::Semi,
                    '*' => Kind::Star,
                    '#' => Kind::Pound,
                    '[' => Kind::OpenBracket,
                    ']' => Kind::CloseBracket,
                    '!' => Kind::Bang,
                    _ => Kind::Other,
                };
                push(&mut tokens, kind);
            }
        }
    }
    tokens
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn read_ident(chars: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    while chars.get(i).copied().is_some_and(is_ident_continue) {
        i += 1;
    }
    (chars[start..i].iter().collect(), i)
}

/// Skips a string body starting after its opening quote; returns the index after the closing one.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while let Some(c) = chars.get(i).copied() {
        match c {
            '\\' => {
                // An escaped line break (a string continued on the next line) is a line too.
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// At `r"`, `r#"`, `br##"`, `cr"`…: the number of `#` and the index of the body's first character.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    // An identifier that merely starts with r (`rest`) is not a raw string.
    if j > i && !matches!(chars.get(i), Some('b' | 'c')) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize, line: &mut usize) -> usize {
    while let Some(c) = chars.get(i).copied() {
        if c == '\n' {
            *line += 1;
        }
        if c == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// Skips a character literal starting at its opening quote.
fn skip_char(chars: &[char], mut i: usize) -> usize {
    i += 1;
    while let Some(c) = chars.get(i).copied() {
        match c {
            '\\' => i += 2,
            '\'' => return i + 1,
            '\n' => return i,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(source: &str) -> Vec<String> {
        tokenize(source)
            .into_iter()
            .filter_map(|t| match t.kind {
                Kind::Ident(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_strings_and_chars_hide_their_contents() {
        let source = r####"
            // crate::h1
            /* crate::h2 /* nested crate::h3 */ still crate::h4 */
            let s = "crate::h5 \" crate::h6";
            let r = r#"crate::h7 "# ;
            let b = br##"crate::h8"##;
            let c = '"'; let d = '\''; let e = b'x';
            fn f<'a>(x: &'a str) -> &'static str { x }
            real
        "####;
        let words = idents(source);
        for hidden in ["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "crate"] {
            assert!(
                !words.contains(&hidden.to_string()),
                "{hidden} leaked: {words:?}"
            );
        }
        assert!(words.contains(&"real".to_string()));
        // Lifetimes are not identifiers.
        assert!(!words.contains(&"static".to_string()), "{words:?}");
    }

    #[test]
    fn lines_are_counted_through_comments_and_strings() {
        let tokens = tokenize("/* one\n two */ \"three\nfour \\\n more\" five");
        let five = tokens.iter().find(|t| t.kind == Kind::Ident("five".into()));
        assert_eq!(five.map(|t| t.line), Some(4));
    }

    #[test]
    fn raw_identifiers_and_dollar_crate() {
        assert_eq!(idents("r#type $crate rest"), vec!["type", "$crate", "rest"]);
    }
}
