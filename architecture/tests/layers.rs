//! The layer check on the workspace itself, on fixtures that break each rule, and on copies of
//! the real crates with an upward import added between every pair of modules.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use agora_link_architecture::{
    check, check_crate, parse_layers, scan, scan_sources, CrateLayers, Violation,
};

const DOC: &str = "docs/architecture.md";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn declared() -> Vec<CrateLayers> {
    let text = fs::read_to_string(workspace().join(DOC)).expect("docs/architecture.md");
    parse_layers(&text).expect("the layers blocks parse")
}

fn messages(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("{v}\n")).collect()
}

#[test]
fn the_workspace_follows_its_declared_layers() {
    let violations = check(&workspace(), Path::new(DOC)).expect("the check runs");
    assert!(violations.is_empty(), "\n{}", messages(&violations));
}

/// Every member of the workspace (root Cargo.toml) whose `src/` has modules has a block.
#[test]
fn every_crate_with_modules_is_declared() {
    let manifest = fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    let members_line = manifest
        .lines()
        .find(|l| l.starts_with("members = ["))
        .expect("a members line");
    let declared: BTreeSet<PathBuf> = declared().into_iter().map(|c| c.src).collect();
    let mut with_modules = 0;
    for member in members_line.split('"').skip(1).step_by(2) {
        let src = Path::new(member).join("src");
        let src = src.strip_prefix("./").unwrap_or(&src).to_path_buf();
        let found = scan(&workspace(), &src).expect("scan a member");
        if found.modules.is_empty() {
            continue;
        }
        with_modules += 1;
        assert!(
            declared.contains(&src),
            "{} has modules but no layers block in {DOC}",
            src.display()
        );
    }
    assert!(
        with_modules >= 6,
        "only {with_modules} members with modules"
    );
}

/// A crate in memory: its `layers` block and its files; returns the violations.
fn fixture(layers: &str, files: &[(&str, String)]) -> Vec<String> {
    let doc = format!("```layers\n[fixture] src\n{layers}\n```\n");
    let crates = parse_layers(&doc).expect("fixture layers");
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.clone()))
        .collect();
    let found = scan_sources(Path::new("src"), &sources);
    check_crate(&found, &crates[0], "the fixture")
        .into_iter()
        .map(|v| v.0)
        .collect()
}

fn arrows(violations: Vec<String>) -> Vec<String> {
    violations
        .into_iter()
        .filter(|v| !v.contains("in a circle"))
        .collect()
}

/// The three-layer fixture every case starts from: `top` above `middle` above `bottom`, with
/// `peer` beside `middle`.
const LAYERS: &str = "top\nmiddle peer\nbottom";

fn base() -> Vec<(&'static str, String)> {
    [
        ("lib.rs", "mod top; mod middle; mod peer; mod bottom;\npub use top::Facade;\npub const ROOT_ITEM: u8 = 1;\n"),
        ("top.rs", "use crate::middle::M;\nuse crate::bottom::B;\npub struct Facade;\n"),
        ("middle.rs", "use crate::bottom::B;\npub struct M;\n"),
        ("peer.rs", "pub fn p() { crate::bottom::f() }\n"),
        ("bottom.rs", "pub struct B;\npub fn f() {}\n"),
    ]
    .into_iter()
    .map(|(p, t)| (p, t.to_string()))
    .collect()
}

/// The base fixture with `file` holding `text` (added when it is not one of the base's).
fn with(file: &'static str, text: &str) -> Vec<(&'static str, String)> {
    let mut files = base();
    match files.iter_mut().find(|entry| entry.0 == file) {
        Some(entry) => entry.1 = text.to_string(),
        None => files.push((file, text.to_string())),
    }
    files
}

/// The base fixture with `bottom` a folder module: `bottom/mod.rs` declaring `inner`, and
/// `bottom/inner.rs` holding `inner`.
fn with_bottom_folder(inner: &str) -> Vec<(&'static str, String)> {
    let mut files = base();
    files.retain(|(p, _)| *p != "bottom.rs");
    files.push((
        "bottom/mod.rs",
        "mod inner;\npub struct B;\npub fn f() {}\n".to_string(),
    ));
    files.push(("bottom/inner.rs", inner.to_string()));
    files
}

/// The one violation of a case, circles aside (an upward import usually closes a circle with the
/// downward ones, reported apart).
fn one(violations: Vec<String>) -> String {
    let violations = arrows(violations);
    assert_eq!(violations.len(), 1, "{violations:#?}");
    violations.into_iter().next().unwrap_or_default()
}

#[test]
fn downward_imports_pass() {
    assert_eq!(fixture(LAYERS, &base()), Vec::<String>::new());
}

#[test]
fn an_upward_use_names_the_file_line_and_layers() {
    let v = one(fixture(
        LAYERS,
        &with(
            "bottom.rs",
            "pub struct B;\npub fn f() {}\nuse crate::top::Facade;\n",
        ),
    ));
    assert!(
        v.starts_with("src/bottom.rs:3: `bottom` imports `crate::top::Facade`"),
        "{v}"
    );
    assert!(
        v.contains("`top` (layer \"top\") is above `bottom` (layer \"bottom\")"),
        "{v}"
    );
}

#[test]
fn an_import_between_peers_of_one_layer_fails() {
    let v = one(fixture(LAYERS, &with("peer.rs", "use crate::middle::M;\n")));
    assert!(v.contains("is on the same layer as"), "{v}");
}

#[test]
fn expression_paths_macro_paths_and_grouped_uses_count() {
    for (text, written) in [
        (
            "pub fn f() { let _ = crate::top::Facade; }\npub struct B;",
            "crate::top::Facade",
        ),
        (
            "macro_rules! m { () => { $crate::top::Facade } }\npub struct B; pub fn f() {}",
            "$crate::top::Facade",
        ),
        (
            "use crate::{middle::{M}, top::{self, Facade}};\npub struct B; pub fn f() {}",
            "crate::{middle::{M}, top::{self, Facade}}",
        ),
    ] {
        let files = with("bottom.rs", text);
        let found = arrows(fixture(LAYERS, &files));
        assert!(!found.is_empty(), "{text}: nothing found");
        assert!(
            found
                .iter()
                .all(|v| v.contains(&format!("imports `{written}`"))),
            "{text}: {found:#?}"
        );
        // A grouped use that names two higher modules is two violations on one line.
        let expected: usize = if text.contains("middle") { 2 } else { 1 };
        assert_eq!(found.len(), expected, "{found:#?}");
    }
}

#[test]
fn super_and_inline_modules_resolve_from_where_they_are_written() {
    // A folder module's file reaching a higher sibling through `super::super`.
    let files = with_bottom_folder("use super::B;\nuse super::super::middle::M;\n");
    let v = one(fixture(LAYERS, &files));
    assert!(
        v.starts_with("src/bottom/inner.rs:2: `bottom` imports `super::super::middle::M`"),
        "{v}"
    );
    // A test module inside a file: `super::super` from `bottom::tests` is the crate root.
    let v = one(fixture(
        LAYERS,
        &with("bottom.rs", "pub struct B;\npub fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::top::Facade;\n}\n"),
    ));
    assert!(v.starts_with("src/bottom.rs:6:"), "{v}");
}

#[test]
fn root_items_and_root_re_exports() {
    // An item the root defines: the root is the facade, above every layer.
    let v = one(fixture(
        LAYERS,
        &with(
            "bottom.rs",
            "pub struct B; pub fn f() {}\nconst X: u8 = crate::ROOT_ITEM;\n",
        ),
    ));
    assert!(
        v.contains("names the crate root or an item defined there"),
        "{v}"
    );
    // A name the root re-exports resolves to its module (`Facade` is `top`'s).
    let v = one(fixture(
        LAYERS,
        &with(
            "bottom.rs",
            "pub struct B; pub fn f() {}\nuse crate::Facade;\n",
        ),
    ));
    assert!(v.contains("`top` (layer \"top\") is above"), "{v}");
}

#[test]
fn naming_the_root_or_an_ancestor_on_its_own_is_an_import_of_it() {
    // Each aliases the crate root, through which any module can then be reached.
    for text in [
        "use crate as c;\npub struct B; pub fn f() { let _ = c::top::Facade; }",
        "use super as s;\npub struct B; pub fn f() {}",
        "extern crate self as me;\npub struct B; pub fn f() {}",
        "use crate::{self as c};\npub struct B; pub fn f() {}",
    ] {
        let files = with("bottom.rs", text);
        let v = one(fixture(LAYERS, &files));
        assert!(
            v.starts_with("src/bottom.rs:1:") && v.contains("names the crate root"),
            "{text}: {v}"
        );
    }
    // From a folder module's file, `super::super` is the root; `super` is its own module.
    let files = with_bottom_folder("use super as own;\nuse super::super as root;\n");
    let v = one(fixture(LAYERS, &files));
    assert!(v.starts_with("src/bottom/inner.rs:2:"), "{v}");
}

#[test]
fn self_then_super_attribute_strings_and_cfg_re_exports_resolve() {
    // `self::super::` climbs like `super::`.
    let v = one(fixture(
        LAYERS,
        &with(
            "bottom.rs",
            "pub struct B; pub fn f() {}\nfn g() { self::super::top::Facade; }\n",
        ),
    ));
    assert!(v.contains("imports `self::super::top::Facade`"), "{v}");
    // A path in an attribute's string (serde's `with`) is an import; one inside the module is not.
    let text = "pub struct B; pub fn f() {}\n#[derive(serde::Serialize)]\nstruct S {\n    #[serde(serialize_with = \"crate::top::ser\")]\n    a: u8,\n    #[serde(serialize_with = \"self::ser\")]\n    b: u8,\n}\n";
    let v = one(fixture(LAYERS, &with("bottom.rs", text)));
    assert!(
        v.starts_with("src/bottom.rs:4: `bottom` imports `\"crate::top::ser\"`"),
        "{v}"
    );
    // A name the root re-exports from two modules under different `cfg`s counts as both.
    let mut files = base();
    files[0].1 = "mod top; mod middle; mod peer; mod bottom;\n#[cfg(feature = \"x\")]\npub use bottom::B as Thing;\n#[cfg(not(feature = \"x\"))]\npub use top::Facade as Thing;\n".to_string();
    for entry in files.iter_mut() {
        if entry.0 == "middle.rs" {
            entry.1 = "use crate::Thing;\npub struct M;\n".to_string();
        }
    }
    let v = one(fixture(LAYERS, &files));
    assert!(v.contains("`top` (layer \"top\") is above `middle`"), "{v}");
}

#[test]
fn path_attributes_include_and_macro_use_modules_are_refused() {
    for (text, what) in [
        (
            "#[path = \"../top/evil.rs\"]\nmod evil;\npub struct B; pub fn f() {}",
            "`#[path]`",
        ),
        (
            "include!(\"evil.in\");\npub struct B; pub fn f() {}",
            "`include!`",
        ),
        (
            "#[macro_use]\nmod helpers { }\npub struct B; pub fn f() {}",
            "`#[macro_use]` on a module",
        ),
    ] {
        let v = one(fixture(LAYERS, &with("bottom.rs", text)));
        assert!(
            v.starts_with("src/bottom.rs:") && v.contains(what),
            "{text}: {v}"
        );
    }
    // The roots too; `#[macro_use] extern crate` names another crate and passes.
    let mut files = base();
    files[0].1 = "#[macro_use]\nextern crate serde;\n#[macro_use]\nmod top; mod middle; mod peer; mod bottom;\n".to_string();
    let v = one(fixture(LAYERS, &files));
    assert!(v.starts_with("src/lib.rs:3:"), "{v}");
}

#[test]
fn odd_token_soup_neither_hides_an_import_nor_overflows() {
    // A brace group inside a `use`-like tree of a dead macro does not end the module early.
    let text = "pub struct B; pub fn f() {}\nmod m {\n    macro_rules! z { () => { self::{ a b {} } } }\n    use super::super::top::Facade;\n}\n";
    let v = one(fixture(LAYERS, &with("bottom.rs", text)));
    assert!(v.starts_with("src/bottom.rs:4:"), "{v}");
    // 10,000 nested groups: a bounded parse, no stack overflow.
    let deep = format!(
        "use crate::{}top::Facade{};\npub struct B; pub fn f() {{}}",
        "{".repeat(10_000),
        "}".repeat(10_000)
    );
    let _ = fixture(LAYERS, &with("bottom.rs", &deep));
}

#[test]
fn comments_strings_and_doc_comments_are_not_imports() {
    let text = "//! See [`crate::top::Facade`].\n/// Uses `crate::top`.\npub struct B;\npub fn f() { let _ = \"crate::top::Facade\"; /* crate::top */ }\n";
    assert_eq!(
        fixture(LAYERS, &with("bottom.rs", text)),
        Vec::<String>::new()
    );
}

#[test]
fn undeclared_and_missing_modules_fail() {
    let v = one(fixture(LAYERS, &with("extra.rs", "pub struct E;\n")));
    assert!(
        v.contains("module `extra` (src/extra.rs) is in no layer"),
        "{v}"
    );
    let v = one(fixture(&format!("{LAYERS}\nghost"), &base()));
    assert!(v.contains("names module `ghost`"), "{v}");
}

#[test]
fn a_circle_is_reported_as_such() {
    let files = with(
        "bottom.rs",
        "pub struct B; pub fn f() {}\nuse crate::middle::M;\n",
    );
    let found = fixture(LAYERS, &files);
    assert!(
        found
            .iter()
            .any(|v| v.contains("the modules bottom, middle import each other in a circle")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|v| v.contains("is above `bottom`")),
        "{found:#?}"
    );
}

#[test]
fn a_malformed_declaration_is_refused() {
    assert!(parse_layers("```layers\ntop\n```\n").is_err());
    assert!(parse_layers("```layers\n[c] src\na\na\n```\n").is_err());
}

/// For every crate of the workspace and every pair of its modules where the second is not on a
/// strictly lower layer than the first, an import of the second added to the first's file fails
/// the check, naming that file and the import.
#[test]
fn every_upward_import_added_to_the_real_crates_fails() {
    let mut tried = 0;
    for krate in declared() {
        let real = scan(&workspace(), &krate.src).expect("scan");
        let dir = workspace().join(&krate.src);
        let mut sources = Vec::new();
        for files in real.modules.values() {
            for file in files {
                let relative = file
                    .strip_prefix(&krate.src)
                    .expect("relative")
                    .to_path_buf();
                sources.push((
                    relative,
                    fs::read_to_string(workspace().join(file)).expect("read"),
                ));
            }
        }
        if let Ok(root) = fs::read_to_string(dir.join("lib.rs")) {
            sources.push((PathBuf::from("lib.rs"), root));
        }
        let modules: Vec<&String> = real.modules.keys().collect();
        for low in &modules {
            let index = sources
                .iter()
                .position(|(p, _)| {
                    p == Path::new(&format!("{low}.rs")) || p == Path::new(&format!("{low}/mod.rs"))
                })
                .expect("the module's file");
            for high in &modules {
                let (Some(l), Some(h)) = (krate.layer_of(low), krate.layer_of(high)) else {
                    continue;
                };
                if low == high || h > l {
                    continue;
                }
                let mut mutated = sources.clone();
                let original_lines = mutated[index].1.lines().count();
                mutated[index]
                    .1
                    .push_str(&format!("\nuse crate::{high}::Anything;\n"));
                let found = check_crate(&scan_sources(&krate.src, &mutated), &krate, DOC);
                let file = krate.src.join(&mutated[index].0);
                let expected = format!(
                    "{}:{}: `{low}` imports `crate::{high}::Anything`",
                    file.display(),
                    original_lines + 2
                );
                assert!(
                    found.iter().any(|v| v.0.starts_with(&expected)),
                    "{}: adding `use crate::{high}::Anything;` to {low} was not caught:\n{}",
                    krate.name,
                    messages(&found)
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 100, "only {tried} upward imports tried");
    println!("{tried} upward imports added, each caught");
}
