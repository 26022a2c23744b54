//! Build script. It writes nothing into the source tree: generated files that are committed
//! (the C header, the foreign bindings) are produced by explicit scripts and checked by tests.
//!
//! On Linux it gives the C library (the cdylib) the SONAME `libagora_link.so.0`, so that a
//! program linked against it records that name and keeps loading it across compatible
//! releases (`scripts/dist` ships the versioned file with the `.so.0` and `.so` symlinks).

/// The ABI major version in the SONAME; bumped when a release breaks the C ABI.
const SONAME: &str = "libagora_link.so.0";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // Linux only: an Android app packages `libagora_link.so` by that name, so no SONAME there.
    if os == "linux" {
        // Applies to the cdylib only (not to the staticlib, tests or the rlib).
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{SONAME}");
    }
}
