//! `include/agora_link.h` is exactly what cbindgen generates from `src/capi`, and its version
//! macros match Cargo.toml. With `AGORA_LINK_BLESS=1` the test rewrites the header instead.

#![cfg(feature = "capi")]

use std::path::PathBuf;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn version_macros() -> String {
    let version = env!("CARGO_PKG_VERSION");
    format!(
        "#define AGORA_LINK_VERSION_MAJOR {}\n#define AGORA_LINK_VERSION_MINOR {}\n#define AGORA_LINK_VERSION_PATCH {}\n#define AGORA_LINK_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        version
    )
}

fn generate() -> String {
    let config =
        cbindgen::Config::from_file(crate_dir().join("cbindgen.toml")).expect("cbindgen.toml");
    let mut config = config;
    config.after_includes = Some(format!("\n{}\n", version_macros()));
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn the_committed_header_is_up_to_date() {
    let path = crate_dir().join("include/agora_link.h");
    let fresh = generate();
    if std::env::var_os("AGORA_LINK_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write the header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/agora_link.h is stale: run scripts/gen-header and commit the result"
    );
}

#[test]
fn the_header_version_matches_cargo_toml_and_the_library() {
    let header = std::fs::read_to_string(crate_dir().join("include/agora_link.h")).unwrap();
    assert!(
        header.contains(&version_macros()),
        "version macros missing or stale"
    );
    // SAFETY: a static NUL-terminated string.
    let runtime = unsafe { std::ffi::CStr::from_ptr(agora_link::capi::agora_link_version()) };
    assert_eq!(runtime.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_exported_symbol_is_prefixed_and_documented() {
    let header = std::fs::read_to_string(crate_dir().join("include/agora_link.h")).unwrap();
    let mut functions = 0;
    let lines: Vec<&str> = header.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let declares = line.contains('(')
            && !line.starts_with(' ')
            && !line.starts_with('#')
            && !line.starts_with('/')
            && !line.starts_with('*')
            && !line.starts_with("typedef")
            && !line.trim().is_empty()
            && !line.starts_with('}');
        if declares {
            functions += 1;
            assert!(
                line.contains("agora_link_"),
                "unprefixed declaration: {line}"
            );
            let previous = lines[..index]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap();
            assert!(
                previous.trim_start().starts_with('*') || previous.trim_end().ends_with("*/"),
                "undocumented declaration: {line}"
            );
        }
    }
    assert!(
        functions > 40,
        "found only {functions} function declarations"
    );
}
