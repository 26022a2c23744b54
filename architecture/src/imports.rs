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
/// blocks are resolved from that block.
pub fn paths(source: &str, module: &[String]) -> Vec<PathUse> {
    let tokens = tokenize(source);
    let mut found = Vec::new();
    // Inline modules: (name, the brace depth inside their block).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].kind {
            Kind::OpenBrace => depth += 1,
            Kind::CloseBrace => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Kind::Ident(word) if word == "mod" => {
                if let (Some(Kind::Ident(name)), Some(Kind::OpenBrace)) =
                    (kind(&tokens, i + 1), kind(&tokens, i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            _ => {}
        }
        let after_sep = i > 0 && tokens[i - 1].kind == Kind::PathSep;
        if let (Kind::Ident(word), Some(Kind::PathSep)) = (&tokens[i].kind, kind(&tokens, i + 1)) {
            if !after_sep {
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let base = match word.as_str() {
                    "crate" | "$crate" => Some((Vec::new(), i + 2)),
                    "self" => Some((here, i + 2)),
                    "super" => {
                        let mut j = i;
                        let mut base = here;
                        let mut ok = true;
                        while tokens.get(j).map(|t| &t.kind) == Some(&Kind::Ident("super".into()))
                            && kind(&tokens, j + 1) == Some(&Kind::PathSep)
                        {
                            ok &= base.pop().is_some();
                            j += 2;
                        }
                        ok.then_some((base, j))
                    }
                    _ => None,
                };
                if let Some((base, start)) = base {
                    let (trees, end) = parse_tree(&tokens, start);
                    let written = render(&tokens[i..end.min(tokens.len())]);
                    for (tail, _) in trees {
                        let mut path = base.clone();
                        path.extend(tail);
                        found.push(PathUse {
                            line: tokens[i].line,
                            path,
                            written: written.clone(),
                        });
                    }
                    i = end.max(i + 1);
                    continue;
                }
            }
        }
        i += 1;
    }
    found
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
                let (trees, end) = parse_tree(&tokens, i + 1);
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

fn kind(tokens: &[Token], i: usize) -> Option<&Kind> {
    tokens.get(i).map(|t| &t.kind)
}

/// A leaf of a use tree: its path segments and its `as` alias.
type Leaf = (Vec<String>, Option<String>);

/// Parses a use tree (or the tail of an expression path) from `i`: each leaf path with its
/// alias, and the index of the first token after the tree.
fn parse_tree(tokens: &[Token], mut i: usize) -> (Vec<Leaf>, usize) {
    let mut segments = Vec::new();
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
                            let (trees, next) = parse_tree(tokens, i);
                            for (tail, alias) in trees {
                                let mut path = segments.clone();
                                path.extend(tail);
                                out.push((path, alias));
                            }
                            // Skip anything the tree grammar does not cover, up to the next item.
                            i = next.max(i + 1);
                            while !matches!(
                                kind(tokens, i),
                                None | Some(Kind::Comma | Kind::CloseBrace)
                            ) {
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
