//! The imports of one source file: every `crate::…`, `$crate::…`, `super::…` and `self::…`
//! path, in `use` declarations and in expressions alike, resolved to the crate's top-level
//! module it names.

use crate::lexer::{tokenize, Kind, Token};

/// One path of a file that leaves the file's own module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathUse {
    /// The 1-based line where the path starts.
    pub line: usize,
    /// The path from the crate root, e.g. `["api", "Endpoint"]`; `*` for a glob.
    pub path: Vec<String>,
    /// How the file wrote it, e.g. `crate::api::Endpoint` or `super::failover::{Attempt, …}`.
    pub written: String,
}

/// A `pub use` of the crate root: the name it makes visible as `crate::name`, and the path it
/// points to (from the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReExport {
    /// The name at the root (the alias if there is one).
    pub name: String,
    /// The path it re-exports, from the crate root.
    pub path: Vec<String>,
}

/// Every path in `source` that is written from the crate root (`crate::`, `$crate::`) or
/// relative to a module (`super::`, `self::`), resolved against `module` (the file's module
/// path, e.g. `["api", "third_party"]`; empty for the crate root). Paths inside inline `mod`
/// blocks are resolved from that block; a path in a string of an attribute (serde's
/// `with = "crate::…"`) counts like one in code; the crate root or an ancestor module named on
/// its own (`use crate as c;`, `use super as s;`, `extern crate self as me;`) is an empty path
/// from that ancestor (`[]` for the root).
pub fn paths(source: &str, module: &[String]) -> Vec<PathUse> {
    paths_of(&tokenize(source), module)
}

/// A file read once: its paths ([`paths`]) and what would hide code from the check
/// ([`hidden_sources`]).
pub fn read(source: &str, module: &[String]) -> (Vec<PathUse>, Vec<(usize, String)>) {
    let tokens = tokenize(source);
    (paths_of(&tokens, module), hidden_of(&tokens))
}

fn paths_of(tokens: &[Token], module: &[String]) -> Vec<PathUse> {
    let mut found = Vec::new();
    // The module the current token is in: the file's, then each inline `mod` block's name; with
    // the brace depth inside each of those blocks.
    let mut here: Vec<String> = module.to_vec();
    let mut inline_depths: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    // The bracket depth at which the attribute being read closes, if inside one.
    let mut attribute: Option<usize> = None;
    let mut brackets = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].kind {
            Kind::OpenBrace => depth += 1,
            Kind::CloseBrace => {
                if inline_depths.last() == Some(&depth) {
                    inline_depths.pop();
                    here.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Kind::Pound => {
                let open = match kind(tokens, i + 1) {
                    Some(Kind::Bang) => i + 2,
                    _ => i + 1,
                };
                if attribute.is_none() && kind(tokens, open) == Some(&Kind::OpenBracket) {
                    attribute = Some(brackets);
                }
            }
            Kind::OpenBracket => brackets += 1,
            Kind::CloseBracket => {
                brackets = brackets.saturating_sub(1);
                if attribute == Some(brackets) {
                    attribute = None;
                }
            }
            Kind::Str(text) if attribute.is_some() => {
                let inner = tokenize(text);
                let line = tokens[i].line;
                for mut path in paths_in(&inner, &here) {
                    path.line = line;
                    path.written = format!("\"{text}\"");
                    found.push(path);
                }
            }
            Kind::Ident(word) if word == "mod" => {
                if let (Some(Kind::Ident(name)), Some(Kind::OpenBrace)) =
                    (kind(tokens, i + 1), kind(tokens, i + 2))
                {
                    inline_depths.push(depth + 1);
                    here.push(name.clone());
                }
            }
            _ => {}
        }
        if let Some((path_uses, end)) = path_at(tokens, i, &here) {
            found.extend(path_uses);
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    found
}

/// Every path in a token list with no module blocks of its own (a string's contents).
fn paths_in(tokens: &[Token], here: &[String]) -> Vec<PathUse> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some((path_uses, end)) = path_at(tokens, i, here) {
            found.extend(path_uses);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// The path that starts at token `i`, if one does (`crate`, `$crate`, `self` or `super`
/// beginning a path, not continuing one), resolved from the module `here`; with the index of
/// the first token after it.
fn path_at(tokens: &[Token], i: usize, here: &[String]) -> Option<(Vec<PathUse>, usize)> {
    let Kind::Ident(word) = &tokens[i].kind else {
        return None;
    };
    if i > 0 && tokens[i - 1].kind == Kind::PathSep {
        return None;
    }
    let next = kind(tokens, i + 1);
    let names_itself = |k: Option<&Kind>| {
        matches!(k, Some(Kind::Semi | Kind::Comma | Kind::CloseBrace))
            || k == Some(&Kind::Ident("as".into()))
    };
    let root_itself = |end: usize| {
        let written = render(&tokens[i..end.min(tokens.len())]);
        Some((
            vec![PathUse {
                line: tokens[i].line,
                path: Vec::new(),
                written,
            }],
            end,
        ))
    };
    let (mut base, mut j) = match word.as_str() {
        "crate" | "$crate" if next == Some(&Kind::PathSep) => (Vec::new(), i + 2),
        // `use crate as c;`
        "crate" | "$crate" if names_itself(next) => {
            return root_itself(i + 1);
        }
        // `extern crate self as me;`
        "crate"
            if i > 0
                && tokens[i - 1].kind == Kind::Ident("extern".into())
                && next == Some(&Kind::Ident("self".into())) =>
        {
            return root_itself(i + 2);
        }
        "self" if next == Some(&Kind::PathSep) => (here.to_vec(), i + 2),
        "super" if next == Some(&Kind::PathSep) || names_itself(next) => (here.to_vec(), i),
        _ => return None,
    };
    // `super::` segments (also after `self::`): each goes one module up; a chain may end on
    // `super` itself (`use super::super as root;`), which names that ancestor.
    while tokens.get(j).map(|t| &t.kind) == Some(&Kind::Ident("super".into())) {
        base.pop()?;
        if kind(tokens, j + 1) == Some(&Kind::PathSep) {
            j += 2;
        } else if names_itself(kind(tokens, j + 1)) {
            let written = render(&tokens[i..j + 1]);
            let line = tokens[i].line;
            return Some((
                vec![PathUse {
                    line,
                    path: base,
                    written,
                }],
                j + 1,
            ));
        } else {
            return None;
        }
    }
    let (trees, end) = parse_tree(tokens, j, 0);
    let written = render(&tokens[i..end.min(tokens.len())]);
    let uses = trees
        .into_iter()
        .map(|(tail, _)| {
            let mut path = base.clone();
            path.extend(tail);
            PathUse {
                line: tokens[i].line,
                path,
                written: written.clone(),
            }
        })
        .collect();
    Some((uses, end))
}

/// The `pub use` declarations at the top level of a crate root (`lib.rs`), which make
/// `crate::Name` an alias of a path in a module.
pub fn root_re_exports(source: &str) -> Vec<ReExport> {
    let tokens = tokenize(source);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].kind {
            Kind::OpenBrace => depth += 1,
            Kind::CloseBrace => depth = depth.saturating_sub(1),
            Kind::Ident(word) if word == "use" && depth == 0 => {
                let (trees, end) = parse_tree(&tokens, i + 1, 0);
                for (mut path, alias) in trees {
                    if matches!(path.first().map(String::as_str), Some("crate" | "self")) {
                        path.remove(0);
                    }
                    let leaf = path.last().cloned();
                    if let Some(name) = alias.or(leaf) {
                        out.push(ReExport { name, path });
                    }
                }
                i = end.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The constructs that would hide code or imports from a check that reads files by their place:
/// `#[path = …]` (a module from anywhere), `include!` (code from anywhere) and `#[macro_use]` on
/// a module (its macros used without a path). Each with its line and a name for messages.
pub fn hidden_sources(source: &str) -> Vec<(usize, String)> {
    hidden_of(&tokenize(source))
}

fn hidden_of(tokens: &[Token]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Kind::Ident(word) = &token.kind else {
            continue;
        };
        let in_attribute =
            i >= 2 && tokens[i - 1].kind == Kind::OpenBracket && tokens[i - 2].kind == Kind::Pound;
        match word.as_str() {
            "path" if in_attribute => out.push((token.line, "`#[path]`".to_string())),
            "macro_use" if in_attribute => {
                // `#[macro_use] extern crate x;` names an outside crate: only modules count.
                let target = tokens[i + 1..]
                    .iter()
                    .map(|t| &t.kind)
                    .find(|k| matches!(k, Kind::Ident(w) if w == "mod" || w == "extern"));
                if target == Some(&Kind::Ident("mod".into())) {
                    out.push((token.line, "`#[macro_use]` on a module".to_string()));
                }
            }
            "include" if kind(tokens, i + 1) == Some(&Kind::Bang) => {
                out.push((token.line, "`include!`".to_string()))
            }
            _ => {}
        }
    }
    out
}

fn kind(tokens: &[Token], i: usize) -> Option<&Kind> {
    tokens.get(i).map(|t| &t.kind)
}

/// A leaf of a use tree: its path segments and its `as` alias.
type Leaf = (Vec<String>, Option<String>);

/// Parses a use tree (or the tail of an expression path) from `i`: each leaf path with its
/// alias, and the index of the first token after the tree.
fn parse_tree(tokens: &[Token], mut i: usize, nesting: usize) -> (Vec<Leaf>, usize) {
    let mut segments = Vec::new();
    // Deeper than any real use tree: stop rather than exhaust the stack.
    if nesting > 64 {
        return (vec![(segments, None)], i);
    }
    loop {
        match kind(tokens, i) {
            Some(Kind::Ident(word)) if word != "as" => {
                segments.push(word.clone());
                i += 1;
                if kind(tokens, i) == Some(&Kind::PathSep) {
                    i += 1;
                    continue;
                }
                let mut alias = None;
                if kind(tokens, i) == Some(&Kind::Ident("as".into())) {
                    if let Some(Kind::Ident(name)) = kind(tokens, i + 1) {
                        alias = Some(name.clone());
                        i += 2;
                    }
                }
                return (vec![(segments, alias)], i);
            }
            Some(Kind::Star) => {
                segments.push("*".into());
                return (vec![(segments, None)], i + 1);
            }
            Some(Kind::OpenBrace) => {
                i += 1;
                let mut out = Vec::new();
                loop {
                    match kind(tokens, i) {
                        None => return (out, i),
                        Some(Kind::CloseBrace) => return (out, i + 1),
                        Some(Kind::Comma) => i += 1,
                        _ => {
                            let (trees, next) = parse_tree(tokens, i, nesting + 1);
                            for (tail, alias) in trees {
                                let mut path = segments.clone();
                                path.extend(tail);
                                out.push((path, alias));
                            }
                            // Skip anything the tree grammar does not cover, up to the next item
                            // (balanced: a brace group inside is skipped whole).
                            i = next.max(i + 1);
                            let mut open = 0usize;
                            loop {
                                match kind(tokens, i) {
                                    None => break,
                                    Some(Kind::OpenBrace) => open += 1,
                                    Some(Kind::CloseBrace) if open == 0 => break,
                                    Some(Kind::CloseBrace) => open -= 1,
                                    Some(Kind::Comma) if open == 0 => break,
                                    _ => {}
                                }
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => return (vec![(segments, None)], i),
        }
    }
}

/// The tokens of a path as the file wrote them (long groups shortened).
fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for token in tokens {
        match &token.kind {
            Kind::Ident(word) => {
                if out.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    out.push(' ');
                }
                out.push_str(word);
            }
            Kind::PathSep => out.push_str("::"),
            Kind::OpenBrace => out.push('{'),
            Kind::CloseBrace => out.push('}'),
            Kind::Comma => out.push_str(", "),
            Kind::Star => out.push('*'),
            _ => out.push('…'),
        }
    }
    while let Some(stripped) = out.strip_suffix("::") {
        out.truncate(stripped.len());
    }
    if out.chars().count() > 100 {
        let short: String = out.chars().take(97).collect();
        format!("{short}…")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> Vec<String> {
        path.split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn found(source: &str, here: &str) -> Vec<String> {
        paths(source, &module(here))
            .into_iter()
            .map(|p| p.path.join("::"))
            .collect()
    }

    #[test]
    fn use_trees_expand_to_each_leaf() {
        let source = "use crate::{api::{self, Endpoint as E}, failover::*};\nuse crate::config;";
        assert_eq!(
            found(source, "transport"),
            vec!["api::self", "api::Endpoint", "failover::*", "config"]
        );
    }

    #[test]
    fn expression_paths_count_too() {
        let source = "fn f() { let u = crate::client::endpoint_url(1, 2); $crate::x::y!(); }";
        assert_eq!(
            found(source, "failover::plan"),
            vec!["client::endpoint_url", "x::y"]
        );
    }

    #[test]
    fn super_and_self_resolve_from_the_file_and_its_inline_modules() {
        let source = "use super::wire::X;\nuse super::super::config::Y;\nmod tests { use super::*; use super::super::Z; }\nuse self::inner::W;";
        assert_eq!(
            found(source, "api::third_party"),
            vec![
                "api::wire::X",
                "config::Y",
                "api::third_party::*",
                "api::Z",
                "api::third_party::inner::W"
            ]
        );
    }

    #[test]
    fn a_super_above_the_root_is_ignored_and_visibility_is_not_a_path() {
        assert!(found("use super::x;", "").is_empty());
        assert!(found("pub(crate) fn f() {} pub(in crate::a) struct S;", "b").len() == 1);
    }

    #[test]
    fn lines_and_written_form() {
        let p = paths("\n\nuse crate::{a::B, c};", &[]);
        assert_eq!(p[0].line, 3);
        assert_eq!(p[0].written, "crate::{a::B, c}");
    }

    #[test]
    fn root_re_exports_map_names_to_paths() {
        let source =
            "pub mod a;\npub use a::b::{C, D as E};\npub use crate::f::G;\nmod x { pub use y::Z; }";
        let map: Vec<(String, String)> = root_re_exports(source)
            .into_iter()
            .map(|r| (r.name, r.path.join("::")))
            .collect();
        assert_eq!(
            map,
            vec![
                ("C".into(), "a::b::C".into()),
                ("E".into(), "a::b::D".into()),
                ("G".into(), "f::G".into())
            ]
        );
    }
}
