//! rustls configurations for the QUIC endpoint: TLS 1.3 only, the ring provider, the cluster CA
//! as the only trust root, and client certificates asked for but not required (an RPC client
//! may authenticate with a bearer token instead; see `rpc_server`).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;

use crate::identity::Identity;
use crate::pki::{Credentials, PkiError, TrustRoots};
use crate::quic::Alpn;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificates or keys are unusable.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("TLS configuration refused")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built from the trust roots.
    #[error("Client certificate verifier: {0}")]
    Verifier(String),
    /// quinn refused the rustls configuration (no TLS 1.3 cipher suite usable by QUIC).
    #[error("QUIC refused the TLS configuration: {0}")]
    Quic(String),
}

fn provider() -> Arc<CryptoProvider> {
    // Explicit provider: if aws-lc-rs ever enters the graph too, rustls cannot pick a default.
    Arc::new(rustls::crypto::ring::default_provider())
}

fn root_store(trust: &TrustRoots) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in trust.certs_der()? {
        roots.add(cert)?;
    }
    Ok(Arc::new(roots))
}

/// The server side: presents `server` and offers every ALPN in [`Alpn::ALL`].
pub(crate) fn server_config(
    server: &Credentials,
    trust: &TrustRoots,
) -> Result<QuicServerConfig, TlsError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(root_store(trust)?, provider.clone())
        // DESIGN.md §8: ask for a client certificate but do not require one; a connection
        // without one is admitted only where its ALPN allows it (RPC, then a token).
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(server.chain_der()?, server.key_der()?)?;
    tls.alpn_protocols = Alpn::ALL.iter().map(|a| a.as_bytes().to_vec()).collect();
    // No 0-RTT: replayed early data would let a request run twice.
    tls.max_early_data_size = 0;
    QuicServerConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))
}

/// The client side for one ALPN, presenting `client` if given.
pub(crate) fn client_config(
    alpn: Alpn,
    client: Option<&Credentials>,
    trust: &TrustRoots,
) -> Result<QuicClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(root_store(trust)?);
    let mut tls = match client {
        Some(c) => builder.with_client_auth_cert(c.chain_der()?, c.key_der()?)?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    QuicClientConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))
}

/// The identity named by the CN of a (verified) certificate.
pub(crate) fn identity_of(cert: &CertificateDer<'_>) -> Result<Identity, PkiError> {
    let (_, x509) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| PkiError::X509(e.to_string()))?;
    let cn = x509
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(|| PkiError::X509("no common name".into()))?;
    let cn = cn
        .as_str()
        .map_err(|e| PkiError::X509(format!("common name is not a string: {e}")))?;
    Ok(cn.parse()?)
}
