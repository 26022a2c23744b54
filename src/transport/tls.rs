//! The rustls configuration: ring crypto, bundled web PKI roots, the system's root store and/or
//! the caller's PEM roots.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// Builds the TLS client configuration for `config`. Uses the ring provider explicitly, so no
/// process-wide default provider needs to be installed.
pub(crate) fn client_tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    #[cfg(feature = "bundled-roots")]
    if config.use_bundled_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if config.use_system_roots {
        add_system_roots(&mut roots, config)?;
    }
    for (index, pem) in config.root_certificates_pem.iter().enumerate() {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                Error::Config(format!(
                    "root certificate bundle #{index} is not valid PEM: {e}"
                ))
            })?;
            roots.add(cert).map_err(|e| {
                Error::Config(format!(
                    "root certificate bundle #{index} holds an unusable certificate: {e}"
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::Config(format!(
                "root certificate bundle #{index} holds no PEM certificate"
            )));
        }
    }
    let provider = Arc::new(crypto_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(tls)
}

/// Adds the system's root certificates (`rustls-native-certs`: `SSL_CERT_FILE`/`SSL_CERT_DIR`,
/// else the distribution's bundle). Certificates rustls cannot use are skipped, as OpenSSL
/// skips them; finding none at all is an error unless another root source is configured.
#[cfg(not(target_vendor = "apple"))]
fn add_system_roots(roots: &mut RootCertStore, config: &ClientConfig) -> Result<()> {
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    let other_roots = config.use_bundled_roots || !config.root_certificates_pem.is_empty();
    if added == 0 && !other_roots {
        // The loader's errors name the files it tried (paths, never secrets).
        let why = match found.errors.first() {
            Some(error) => format!(": {error}"),
            None => String::new(),
        };
        return Err(Error::Config(format!(
            "no usable root certificate in the system store (SSL_CERT_FILE, SSL_CERT_DIR or the \
             distribution's CA bundle){why}"
        )));
    }
    Ok(())
}

/// On Apple platforms the system store is the keychain, which this library does not read.
#[cfg(target_vendor = "apple")]
fn add_system_roots(_roots: &mut RootCertStore, _config: &ClientConfig) -> Result<()> {
    Err(Error::Config(
        "the system root store is not supported on Apple platforms: use the bundled roots or \
         add root certificates"
            .into(),
    ))
}

/// The ring provider, with the algorithm set of the build. With the `tls-x25519-chacha20`
/// feature (the default) it equals `rustls::crypto::ring::default_provider()`: TLS 1.3 and 1.2,
/// AES-GCM and ChaCha20-Poly1305, X25519/P-256/P-384 key exchange, ECDSA, Ed25519 and RSA
/// certificates. Without it (the firmware bundles) X25519, ChaCha20-Poly1305 and Ed25519
/// certificates are left out, about 60 KB of code and tables: every TLS server offers AES-GCM
/// with P-256 (RFC 8446 §9.1 makes both mandatory), and the web PKI issues no Ed25519
/// certificates. Either way the provider loads no private key (this client never authenticates
/// with a certificate), which keeps ring's signing code out.
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{cipher_suite as suite, kx_group};
    let mut cipher_suites = vec![
        suite::TLS13_AES_256_GCM_SHA384,
        suite::TLS13_AES_128_GCM_SHA256,
    ];
    #[cfg(feature = "tls-x25519-chacha20")]
    cipher_suites.push(suite::TLS13_CHACHA20_POLY1305_SHA256);
    cipher_suites.extend([
        suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ]);
    #[cfg(feature = "tls-x25519-chacha20")]
    cipher_suites.push(suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256);
    cipher_suites.extend([
        suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ]);
    #[cfg(feature = "tls-x25519-chacha20")]
    cipher_suites.push(suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256);
    let mut kx_groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    #[cfg(feature = "tls-x25519-chacha20")]
    kx_groups.push(kx_group::X25519);
    kx_groups.extend([kx_group::SECP256R1, kx_group::SECP384R1]);
    rustls::crypto::CryptoProvider {
        cipher_suites,
        kx_groups,
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &SystemRandom,
        key_provider: &NoClientKeys,
    }
}

/// The certificate signature algorithms: rustls's ring set (`rustls::crypto::ring`), Ed25519
/// only with the `tls-x25519-chacha20` feature.
static SIGNATURE_ALGORITHMS: rustls::crypto::WebPkiSupportedAlgorithms = {
    use rustls::SignatureScheme as Scheme;
    use webpki::ring as alg;
    rustls::crypto::WebPkiSupportedAlgorithms {
        all: &[
            alg::ECDSA_P256_SHA256,
            alg::ECDSA_P256_SHA384,
            alg::ECDSA_P384_SHA256,
            alg::ECDSA_P384_SHA384,
            #[cfg(feature = "tls-x25519-chacha20")]
            alg::ED25519,
            alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            alg::RSA_PKCS1_2048_8192_SHA256,
            alg::RSA_PKCS1_2048_8192_SHA384,
            alg::RSA_PKCS1_2048_8192_SHA512,
            alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        mapping: &[
            // For TLS 1.2 the curve is not fixed by the scheme; for TLS 1.3 it is.
            (
                Scheme::ECDSA_NISTP384_SHA384,
                &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
            ),
            (
                Scheme::ECDSA_NISTP256_SHA256,
                &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
            ),
            #[cfg(feature = "tls-x25519-chacha20")]
            (Scheme::ED25519, &[alg::ED25519]),
            (
                Scheme::RSA_PSS_SHA512,
                &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
            ),
            (
                Scheme::RSA_PSS_SHA384,
                &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
            ),
            (
                Scheme::RSA_PSS_SHA256,
                &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
            ),
            (Scheme::RSA_PKCS1_SHA512, &[alg::RSA_PKCS1_2048_8192_SHA512]),
            (Scheme::RSA_PKCS1_SHA384, &[alg::RSA_PKCS1_2048_8192_SHA384]),
            (Scheme::RSA_PKCS1_SHA256, &[alg::RSA_PKCS1_2048_8192_SHA256]),
        ],
    }
};

/// Randomness for TLS from ring's `SystemRandom` (the `getrandom` system call).
#[derive(Debug)]
struct SystemRandom;

impl rustls::crypto::SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> std::result::Result<(), rustls::crypto::GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| rustls::crypto::GetRandomFailed)
    }
}

/// The private-key loader: none is ever loaded (no client certificates).
#[derive(Debug)]
struct NoClientKeys;

impl rustls::crypto::KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _key_der: rustls_pki_types::PrivateKeyDer<'static>,
    ) -> std::result::Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".into(),
        ))
    }
}
