//! The rustls configuration: ring crypto, bundled web PKI roots and/or the caller's PEM roots.

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
    if config.use_bundled_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
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
