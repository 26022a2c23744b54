//! `uniffi-bindgen`, built from this workspace so that the generator is exactly the uniffi
//! version the library was compiled with. Generate in library mode:
//! `cargo run -p agora-link-uniffi-bindgen -- generate --library target/release/libagora_link.so --language python --out-dir out`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
