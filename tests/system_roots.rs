//! The system root store (`use_system_roots`), read from `SSL_CERT_FILE` (this test binary's
//! own process, so that setting the variable races with nothing else): an empty store is a
//! configuration error at `Client::new`, a CA in the file is trusted.

use agora_link::{Client, ClientConfig, Error, Region};

fn config() -> ClientConfig {
    ClientConfig::builder(Region::China, "id", "secret")
        .use_bundled_roots(false)
        .use_system_roots(true)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn system_roots_come_from_ssl_cert_file_and_an_empty_store_is_a_config_error() {
    let dir = std::env::temp_dir().join(format!("agora-link-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    // SSL_CERT_DIR would add its directory's certificates (CI machines set it).
    std::env::remove_var("SSL_CERT_DIR");
    // A file that does not exist: no root at all, a configuration error naming the store.
    std::env::set_var("SSL_CERT_FILE", dir.join("missing.pem"));
    match Client::new(config()) {
        Err(Error::Config(message)) => {
            assert!(message.contains("system store"), "{message}");
        }
        other => panic!(
            "expected a configuration error, got {:?}",
            other.map(|_| ())
        ),
    }
    // A file with no certificate in it: the same.
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap_or_else(|e| panic!("{e}"));
    std::env::set_var("SSL_CERT_FILE", &empty);
    assert!(matches!(Client::new(config()), Err(Error::Config(_))));
    // A real certificate (the sandbox's generated CA): the client is built.
    let (_identity, ca_pem) = agora_link_sandbox::TlsIdentity::generate_for(&["localhost"])
        .unwrap_or_else(|e| panic!("{e}"));
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, ca_pem).unwrap_or_else(|e| panic!("{e}"));
    std::env::set_var("SSL_CERT_FILE", &pem);
    assert!(Client::new(config()).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
