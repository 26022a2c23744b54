//! TLS for the sandbox's listeners and proxies: the [`TlsIdentity`] they serve (and a throw-away
//! one generated for tests), and the rustls acceptors built from it. Below everything that
//! terminates TLS (the HTTP server, the fault proxy, nginx's configuration).

use std::sync::Arc;

/// A certificate chain and private key (PEM) for serving HTTPS.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain, leaf first, PEM.
    pub cert_chain_pem: String,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub private_key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Generates a throw-away certificate authority and a server certificate it signs for
    /// `hosts` (DNS names or IP addresses). Returns the server identity and the CA certificate
    /// (PEM) that a client must trust. For tests and local HTTPS only.
    pub fn generate_for(hosts: &[&str]) -> std::io::Result<(TlsIdentity, String)> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let failed =
            |e: rcgen::Error| std::io::Error::other(format!("certificate generation: {e}"));
        let ca_key = KeyPair::generate().map_err(failed)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "agora-link-sandbox test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(failed)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().map_err(failed)?;
        let mut leaf_params =
            CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .map_err(failed)?;
        leaf_params.distinguished_name.push(
            DnType::CommonName,
            hosts.first().copied().unwrap_or("localhost"),
        );
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(failed)?;
        Ok((
            TlsIdentity {
                cert_chain_pem: leaf.pem(),
                private_key_pem: leaf_key.serialize_pem(),
            },
            ca_cert.pem(),
        ))
    }
}

/// A TLS acceptor for `identity` offering HTTP/2 and HTTP/1.1 by ALPN (the sandbox's listeners).
pub(crate) fn tls_acceptor(identity: &TlsIdentity) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    tls_acceptor_with_alpn(identity, &[b"h2", b"http/1.1"])
}

/// A TLS acceptor for `identity` offering the ALPN protocols `alpn`, in order of preference.
pub(crate) fn tls_acceptor_with_alpn(
    identity: &TlsIdentity,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_slice_iter(identity.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("bad certificate PEM", &e))?;
    let key = PrivateKeyDer::from_pem_slice(identity.private_key_pem.as_bytes())
        .map_err(|e| invalid("bad private key PEM", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS setup", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("TLS identity", &e))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
