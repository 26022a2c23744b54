//! `architecture`: the layer check and the module graph of the workspace.
//!
//! ```text
//! cargo run -p agora-link-architecture -- check            # exit 1 naming each upward import
//! cargo run -p agora-link-architecture -- graph            # a line per module: what it imports
//! cargo run -p agora-link-architecture -- graph src sandbox/src   # any src dirs, no layers needed
//! cargo run -p agora-link-architecture -- imports src      # every import, with file and line
//! ```
//! Both run from the workspace root (the directory that holds `docs/architecture.md`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agora_link_architecture::{check, parse_layers, render_graph, scan};

const DOC: &str = "docs/architecture.md";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workspace = Path::new(".");
    match args.first().map(String::as_str) {
        Some("check") => match check(workspace, Path::new(DOC)) {
            Ok(violations) if violations.is_empty() => {
                println!("architecture: every import points down the layers of {DOC}");
                ExitCode::SUCCESS
            }
            Ok(violations) => {
                for v in &violations {
                    eprintln!("{v}");
                }
                eprintln!("architecture: {} violation(s) of {DOC}", violations.len());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("architecture: {e}");
                ExitCode::FAILURE
            }
        },
        Some("imports") => {
            for dir in &args[1..] {
                match scan(workspace, Path::new(dir)) {
                    Ok(found) => {
                        for i in found.imports {
                            println!(
                                "{}:{}: {} → {}  {}",
                                i.file.display(),
                                i.line,
                                i.from,
                                i.to,
                                i.written
                            );
                        }
                    }
                    Err(e) => {
                        eprintln!("architecture: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Some("graph") => {
            let declared = std::fs::read_to_string(DOC)
                .ok()
                .and_then(|text| parse_layers(&text).ok())
                .unwrap_or_default();
            let dirs: Vec<PathBuf> = if args.len() > 1 {
                args[1..].iter().map(PathBuf::from).collect()
            } else {
                declared.iter().map(|c| c.src.clone()).collect()
            };
            for dir in dirs {
                match scan(workspace, &dir) {
                    Ok(found) => {
                        let layers = declared.iter().find(|c| c.src == dir);
                        println!("## {}", dir.display());
                        print!("{}", render_graph(&found, layers));
                    }
                    Err(e) => {
                        eprintln!("architecture: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: architecture check | graph [SRC_DIR…] | imports SRC_DIR…");
            ExitCode::from(2)
        }
    }
}
