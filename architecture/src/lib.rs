//! The layer check of the agora-link workspace.
//!
//! Each crate's top-level modules (each file or folder under `src/`, the crate root aside) are
//! ordered in layers by a ```` ```layers ```` block of `docs/architecture.md`. [`check`] reads
//! every `crate::…`, `$crate::…`, `super::…`, `self::…` and `self::super::…` path of every file
//! (in code and in the strings of attributes), resolves it to the top-level module it names, and
//! reports:
//! - an import of a module on the same layer or a higher one (an arrow that does not point down);
//! - an import of the crate root itself (`use crate as c;`, `extern crate self as me;`) or of an
//!   item defined there (the root is the facade, above every layer);
//! - a module that no layer names, or a layer that names a module which does not exist;
//! - `#[path]`, `include!` and `#[macro_use]` on a module, which would hide code from the check;
//! - a circle among top-level modules (which the first rule already rules out, reported apart,
//!   with its arrows, because it is the shape that matters most).
//!
//! The crate root (`lib.rs`, `main.rs`) may import anything: it declares the modules and
//! re-exports the public API. Paths in comments and in strings outside attributes are not
//! imports.
//!
//! The block's format: `[crate-name] path/to/src` starts a crate; then one line per layer, the
//! top layer first, each an optional `label:` and the modules of that layer; `#` starts a comment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub mod imports;
pub mod lexer;

/// One crate's declared layers, top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateLayers {
    /// The crate's name, as the block gives it (for messages).
    pub name: String,
    /// Its `src` directory, relative to the workspace root.
    pub src: PathBuf,
    /// The layers, top first: each a label (may be empty) and its modules.
    pub layers: Vec<(String, Vec<String>)>,
}

impl CrateLayers {
    /// The index of `module`'s layer (0 is the top), if it is declared.
    pub fn layer_of(&self, module: &str) -> Option<usize> {
        self.layers
            .iter()
            .position(|(_, modules)| modules.iter().any(|m| m == module))
    }

    fn layer_name(&self, index: usize) -> String {
        match self.layers.get(index) {
            Some((label, modules)) if label.is_empty() => modules.join(" "),
            Some((label, _)) => label.clone(),
            None => String::new(),
        }
    }
}

/// Parses every ```` ```layers ```` block of a Markdown document.
///
/// Errors: a layer line before any `[crate] path` header, or a module named twice in one crate.
pub fn parse_layers(markdown: &str) -> Result<Vec<CrateLayers>, String> {
    let mut crates: Vec<CrateLayers> = Vec::new();
    let mut inside = false;
    for (number, raw) in markdown.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed.trim_start_matches('`').trim() == "layers";
            continue;
        }
        if !inside {
            continue;
        }
        let line = trimmed.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let (name, src) = rest
                .split_once(']')
                .ok_or_else(|| format!("line {}: `[crate] path` expected", number + 1))?;
            crates.push(CrateLayers {
                name: name.trim().to_string(),
                src: PathBuf::from(src.trim()),
                layers: Vec::new(),
            });
            continue;
        }
        let krate = crates.last_mut().ok_or_else(|| {
            format!(
                "line {}: a layer before any `[crate] path` line",
                number + 1
            )
        })?;
        let (label, modules) = match line.split_once(':') {
            Some((label, modules)) => (label.trim().to_string(), modules),
            None => (String::new(), line),
        };
        let modules: Vec<String> = modules.split_whitespace().map(String::from).collect();
        for module in &modules {
            if krate.layer_of(module).is_some() {
                return Err(format!(
                    "line {}: {module} is named twice in {}",
                    number + 1,
                    krate.name
                ));
            }
        }
        krate.layers.push((label, modules));
    }
    Ok(crates)
}

/// An arrow between two top-level modules, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The importing top-level module.
    pub from: String,
    /// The imported top-level module, or [`ROOT`] for an item of the crate root.
    pub to: String,
    /// The file, relative to the workspace root.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// The path as written.
    pub written: String,
}

/// The name used for the crate root as an import target.
pub const ROOT: &str = "(crate root)";

/// One crate's top-level modules and the imports between them.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Each top-level module with its files (relative to the workspace root).
    pub modules: BTreeMap<String, Vec<PathBuf>>,
    /// Every import from one top-level module to another (the root's own are left out).
    pub imports: Vec<Import>,
    /// Constructs that hide code or imports from the check (`#[path]`, `include!`,
    /// `#[macro_use] mod`), with their file and line, in any file (the roots included).
    pub hidden: Vec<(PathBuf, usize, String)>,
}

impl Scan {
    /// The arrows, deduplicated: module → the modules it imports.
    pub fn graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph: BTreeMap<String, BTreeSet<String>> = self
            .modules
            .keys()
            .map(|m| (m.clone(), BTreeSet::new()))
            .collect();
        for import in &self.imports {
            graph
                .entry(import.from.clone())
                .or_default()
                .insert(import.to.clone());
        }
        graph
    }
}

/// Reads every `.rs` file under `workspace/src_dir` and scans them ([`scan_sources`]).
///
/// Errors: an unreadable directory or file.
pub fn scan(workspace: &Path, src_dir: &Path) -> Result<Scan, String> {
    let dir = workspace.join(src_dir);
    let mut files = Vec::new();
    collect(&dir, &mut files)?;
    let mut sources = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let relative = file
            .strip_prefix(&dir)
            .map_err(|e| e.to_string())?
            .to_path_buf();
        sources.push((relative, text));
    }
    Ok(scan_sources(src_dir, &sources))
}

/// Scans one crate's sources, given as (path relative to its `src/`, text). Files under `bin/`
/// and the roots (`lib.rs`, `main.rs`) belong to no module; the root `lib.rs`'s `use`
/// declarations resolve `crate::Name` paths to the module that defines the name. Paths in the
/// result are `src_dir` joined with each file's relative path.
pub fn scan_sources(src_dir: &Path, sources: &[(PathBuf, String)]) -> Scan {
    let mut sources: Vec<&(PathBuf, String)> = sources.iter().collect();
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let mut scan = Scan::default();
    let mut module_paths = Vec::new();
    let mut root = "";
    for &(relative, text) in &sources {
        let parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.first().map(String::as_str) == Some("bin") {
            hidden_in(&mut scan, src_dir, relative, text);
            continue;
        }
        let mut path: Vec<String> = parts
            .iter()
            .map(|p| p.strip_suffix(".rs").unwrap_or(p).to_string())
            .collect();
        if path.last().map(String::as_str) == Some("mod") {
            path.pop();
        }
        if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
            if path[0] == "lib" {
                root = text;
            }
            hidden_in(&mut scan, src_dir, relative, text);
            continue;
        }
        let Some(top) = path.first().cloned() else {
            continue;
        };
        scan.modules
            .entry(top)
            .or_default()
            .push(src_dir.join(relative));
        module_paths.push((relative, text, path));
    }
    let re_exports = imports::root_re_exports(root);
    for (relative, text, path) in module_paths {
        let from = path[0].clone();
        let file = src_dir.join(relative);
        let mut seen = BTreeSet::new();
        let (found_paths, hidden) = imports::read(text, &path);
        for (line, what) in hidden {
            scan.hidden.push((file.clone(), line, what));
        }
        for found in found_paths {
            for to in resolve(&found.path, &scan.modules, &re_exports) {
                // One arrow per target per line (a grouped `use` names several items).
                if to != from && seen.insert((found.line, to.clone())) {
                    scan.imports.push(Import {
                        from: from.clone(),
                        to,
                        file: file.clone(),
                        line: found.line,
                        written: found.written.clone(),
                    });
                }
            }
        }
    }
    scan
}

/// Records what would hide code from the check in a file that belongs to no module (a root, or a
/// binary under `bin/`).
fn hidden_in(scan: &mut Scan, src_dir: &Path, relative: &Path, text: &str) {
    for (line, what) in imports::hidden_sources(text) {
        scan.hidden.push((src_dir.join(relative), line, what));
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// The top-level modules a path from the crate root names: the module itself; the modules a
/// root `use` takes the name from (each of them, when `cfg`-gated declarations give it more
/// than one); or [`ROOT`] for the root itself and anything else the root defines.
fn resolve(
    path: &[String],
    modules: &BTreeMap<String, Vec<PathBuf>>,
    re_exports: &[imports::ReExport],
) -> Vec<String> {
    let Some(first) = path.first() else {
        return vec![ROOT.to_string()];
    };
    if modules.contains_key(first) {
        return vec![first.clone()];
    }
    let mut targets: Vec<String> = re_exports
        .iter()
        .filter(|r| &r.name == first)
        .map(
            |r| match r.path.first().filter(|t| modules.contains_key(*t)) {
                Some(target) => target.clone(),
                None => ROOT.to_string(),
            },
        )
        .collect();
    targets.sort();
    targets.dedup();
    if targets.is_empty() {
        targets.push(ROOT.to_string());
    }
    targets
}

/// A broken rule, with the file and line where it can be fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks one crate's scan against its declared layers (`doc` names the declaring file in
/// messages).
pub fn check_crate(scan: &Scan, layers: &CrateLayers, doc: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for (module, files) in &scan.modules {
        if layers.layer_of(module).is_none() {
            out.push(Violation(format!(
                "{}: module `{module}` ({}) is in no layer of {doc}: add it to the `[{}]` block",
                layers.name,
                files[0].display(),
                layers.name
            )));
        }
    }
    for (_, modules) in &layers.layers {
        for module in modules {
            if !scan.modules.contains_key(module) {
                out.push(Violation(format!(
                    "{}: {doc} names module `{module}`, which {} does not have",
                    layers.name,
                    layers.src.display()
                )));
            }
        }
    }
    for import in &scan.imports {
        let at = format!("{}:{}", import.file.display(), import.line);
        if import.to == ROOT {
            out.push(Violation(format!(
                "{at}: `{}` imports `{}`, which names the crate root or an item defined there; the \
                 root is the facade above every layer: import the item from the module that \
                 defines it",
                import.from, import.written
            )));
            continue;
        }
        let (Some(from), Some(to)) = (layers.layer_of(&import.from), layers.layer_of(&import.to))
        else {
            continue;
        };
        if to <= from {
            let relation = if to == from {
                "on the same layer as"
            } else {
                "above"
            };
            out.push(Violation(format!(
                "{at}: `{}` imports `{}`, but `{}` (layer \"{}\") is {relation} `{}` (layer \"{}\") \
                 in {doc}: imports must point down",
                import.from,
                import.written,
                import.to,
                layers.layer_name(to),
                import.from,
                layers.layer_name(from)
            )));
        }
    }
    for (file, line, what) in &scan.hidden {
        out.push(Violation(format!(
            "{}:{line}: {what} hides code or imports from the layer check: move the file into \
             its module's folder, or import the macro by its path",
            file.display()
        )));
    }
    for circle in circles(&scan.graph()) {
        // The arrows inside the circle, each with the first place it is written.
        let mut arrows: Vec<&Import> = Vec::new();
        for import in &scan.imports {
            let inside = circle.contains(&import.from) && circle.contains(&import.to);
            if inside
                && !arrows
                    .iter()
                    .any(|a| a.from == import.from && a.to == import.to)
            {
                arrows.push(import);
            }
        }
        let arrows: Vec<String> = arrows
            .iter()
            .map(|i| format!("{} → {} ({}:{})", i.from, i.to, i.file.display(), i.line))
            .collect();
        out.push(Violation(format!(
            "{}: the modules {} import each other in a circle (each reaches every other): {}",
            layers.name,
            circle.join(", "),
            arrows.join("; ")
        )));
    }
    out
}

/// Every circle of the graph: its strongly connected components of two or more modules, each
/// in name order.
pub fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative enough for a few dozen nodes: recursion is fine here.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.graph.get(v) {
            for w in targets {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out.sort();
    state.out
}

/// Checks every crate that `doc` (a Markdown file relative to `workspace`) declares.
///
/// Errors: the document cannot be read or parsed, declares no crate, or a crate cannot be
/// scanned.
pub fn check(workspace: &Path, doc: &Path) -> Result<Vec<Violation>, String> {
    let text = fs::read_to_string(workspace.join(doc))
        .map_err(|e| format!("{}: {e}", workspace.join(doc).display()))?;
    let crates = parse_layers(&text).map_err(|e| format!("{}: {e}", doc.display()))?;
    if crates.is_empty() {
        return Err(format!("{}: no ```layers block", doc.display()));
    }
    let mut out = Vec::new();
    for krate in &crates {
        let scan = scan(workspace, &krate.src)?;
        out.extend(check_crate(&scan, krate, &doc.display().to_string()));
    }
    Ok(out)
}

/// The module graph of one crate, a line per module (`module: a, b, c`), with its layer when
/// `layers` is given, then its circles.
pub fn render_graph(scan: &Scan, layers: Option<&CrateLayers>) -> String {
    let graph = scan.graph();
    let mut order: Vec<&String> = graph.keys().collect();
    if let Some(layers) = layers {
        order.sort_by_key(|m| (layers.layer_of(m).unwrap_or(usize::MAX), m.to_string()));
    }
    let mut out = String::new();
    for module in order {
        let targets: Vec<&str> = graph[module].iter().map(String::as_str).collect();
        let layer = layers
            .and_then(|l| {
                l.layer_of(module)
                    .map(|i| format!(" [{}]", l.layer_name(i)))
            })
            .unwrap_or_default();
        let targets = if targets.is_empty() {
            "—".to_string()
        } else {
            targets.join(", ")
        };
        out.push_str(&format!("{module}{layer} → {targets}\n"));
    }
    let circles = circles(&graph);
    if circles.is_empty() {
        out.push_str("circles: none\n");
    }
    for circle in circles {
        out.push_str(&format!(
            "circle (each reaches every other): {}\n",
            circle.join(", ")
        ));
    }
    out
}
