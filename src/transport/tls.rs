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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
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
