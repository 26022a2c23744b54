//! Build script. It writes nothing into the source tree: generated files that are committed
//! (the C header, the foreign bindings) are produced by explicit scripts and checked by tests.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
