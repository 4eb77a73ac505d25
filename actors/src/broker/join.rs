//! Node join: a new node proves it holds a bootstrap token and gets a certificate for its own
//! key (it sends a PKCS#10 request; its private key never leaves it).
//!
//! The node ALPN admits only `node:` certificates (transport.md), so the one message a node
//! sends before it has one travels as JSON-RPC on the API ALPN: `node.join` with the
//! [`Join`] message as params, authenticated by the bootstrap token as a bearer token. Tokens
//! whose holder name starts with [`NODE_TOKEN_PREFIX`] may call `node.join` and nothing else
//! ([`JoinGate`] wraps the API service to enforce that). Any controller can answer: signing
//! needs the CA key, not the leader.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::protocol::{Join, JoinAccepted, PROTOCOL_VERSION};
use ferrocore_runtime::{
    BoxFuture, Call, Clock, ErrorCode, Handler, Principal, Reply, RpcError, WallTime,
};
use rcgen::{
    CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber,
};

/// The RPC method a joining node calls.
pub const JOIN_METHOD: &str = "node.join";

/// Token holders named `node-bootstrap...` in the token file may only join nodes.
pub const NODE_TOKEN_PREFIX: &str = "node-bootstrap";

/// How long a node certificate is valid (as every issued certificate, transport.md).
const NODE_CERT_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// Back-dating for clock skew (as the runtime's PKI does).
const BACKDATE: Duration = Duration::from_secs(3600);

/// Largest CSR accepted (a P-256 request is under 1 KiB).
const CSR_MAX_BYTES: usize = 16 * 1024;

/// Signs node certificates with the cluster CA.
pub struct NodeSigner {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl std::fmt::Debug for NodeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSigner").finish_non_exhaustive()
    }
}

/// Why a join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The CA files cannot be used.
    #[error("CA: {0}")]
    Ca(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
}

impl NodeSigner {
    /// A signer from the CA certificate and key files.
    ///
    /// # Errors
    /// [`JoinError::Ca`] when a file is unreadable or does not parse.
    pub fn load(ca_cert: &Path, ca_key: &Path) -> Result<Self, JoinError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| JoinError::Ca(format!("{}: {e}", p.display())))
        };
        let (cert, key) = (read(ca_cert)?, read(ca_key)?);
        let key = KeyPair::from_pem(&key).map_err(|e| JoinError::Ca(e.to_string()))?;
        let issuer =
            Issuer::from_ca_cert_pem(&cert, key).map_err(|e| JoinError::Ca(e.to_string()))?;
        Ok(Self {
            issuer,
            ca_pem: cert,
        })
    }

    /// Signs the join's CSR for `node:<name>` (client use only), valid from `now`.
    ///
    /// # Errors
    /// [`JoinError::Invalid`] for a bad name, version or CSR.
    pub fn sign(&self, join: &Join, now: WallTime) -> Result<JoinAccepted, JoinError> {
        let invalid = |m: String| JoinError::Invalid(m);
        if join.protocol_version != PROTOCOL_VERSION {
            return Err(invalid(format!(
                "protocol version {} is not {PROTOCOL_VERSION}",
                join.protocol_version
            )));
        }
        if !join.node.is_valid() || join.node.as_str().len() > 63 {
            return Err(invalid(format!(
                "node name {:?} is not a DNS label",
                join.node.0
            )));
        }
        if join.csr_pem.len() > CSR_MAX_BYTES {
            return Err(invalid("certificate request too large".into()));
        }
        let mut csr = CertificateSigningRequestParams::from_pem(&join.csr_pem)
            .map_err(|e| invalid(format!("certificate request: {e}")))?;
        let params = &mut csr.params;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "ferrocore");
        dn.push(DnType::CommonName, format!("node:{}", join.node));
        params.distinguished_name = dn;
        params.subject_alt_names.clear();
        params.is_ca = rcgen::IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let start = now.as_unix_seconds() - i64::try_from(BACKDATE.as_secs()).unwrap_or(0);
        let end = now.as_unix_seconds() + i64::try_from(NODE_CERT_VALIDITY.as_secs()).unwrap_or(0);
        params.not_before =
            time::OffsetDateTime::from_unix_timestamp(start).map_err(|e| invalid(e.to_string()))?;
        params.not_after =
            time::OffsetDateTime::from_unix_timestamp(end).map_err(|e| invalid(e.to_string()))?;
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| JoinError::Ca(e.to_string()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(|e| invalid(format!("signing: {e}")))?;
        Ok(JoinAccepted {
            certificate_pem: cert.pem(),
            ca_pem: self.ca_pem.clone(),
        })
    }
}

/// The API service with `node.join` in front: bootstrap-token callers may only join.
pub(crate) struct JoinGate {
    api: Arc<dyn Handler>,
    signer: Option<Arc<NodeSigner>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for JoinGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinGate").finish_non_exhaustive()
    }
}

impl JoinGate {
    pub(crate) fn new(
        api: Arc<dyn Handler>,
        signer: Option<Arc<NodeSigner>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { api, signer, clock }
    }

    fn join(&self, call: &Call) -> Result<Reply, RpcError> {
        let allowed = match &call.principal {
            Principal::Token(name) => name.starts_with(NODE_TOKEN_PREFIX) || name == "admin",
            Principal::Certificate(id) => *id == ferrocore_runtime::Identity::Admin,
        };
        if !allowed {
            return Err(forbidden("node.join needs a node bootstrap token"));
        }
        let join: Join = call.params()?;
        let Some(signer) = &self.signer else {
            return Err(forbidden(
                "this controller has no CA key ([plane] ca_key): it cannot sign",
            ));
        };
        let accepted = signer
            .sign(&join, self.clock.wall())
            .map_err(|e| RpcError::invalid_params(e.to_string()))?;
        tracing::info!(node = %join.node, remote = %call.remote, "node joined");
        serde_json::to_value(accepted)
            .map(Reply::Value)
            .map_err(|e| RpcError::new(ErrorCode::INTERNAL_ERROR, e.to_string()))
    }
}

fn forbidden(message: &str) -> RpcError {
    RpcError::new(ErrorCode::new(1003), message)
}

impl Handler for JoinGate {
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, RpcError>> {
        if call.method == JOIN_METHOD {
            let reply = self.join(&call);
            return Box::pin(async move { reply });
        }
        if matches!(&call.principal, Principal::Token(n) if n.starts_with(NODE_TOKEN_PREFIX)) {
            return Box::pin(async {
                Err(forbidden("a node bootstrap token may only join nodes"))
            });
        }
        self.api.call(call)
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::protocol::{BootstrapToken, NodeName};
    use ferrocore_runtime::{ClusterCa, TrustRoots};

    use super::*;

    fn csr(key: &KeyPair) -> String {
        rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(key)
            .unwrap()
            .pem()
            .unwrap()
    }

    #[test]
    fn a_csr_becomes_a_node_certificate_for_the_named_node() {
        let dir = std::env::temp_dir().join(format!("fc-join-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let now = WallTime::from_unix_nanos(1_800_000_000_000_000_000);
        let ca = ClusterCa::generate("t", now).unwrap();
        ca.save(&dir).unwrap();
        let signer = NodeSigner::load(&dir.join("ca.crt"), &dir.join("ca.key")).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut join = Join {
            protocol_version: PROTOCOL_VERSION,
            token: BootstrapToken("t".into()),
            node: NodeName("node-1".into()),
            csr_pem: csr(&key),
        };
        let accepted = signer.sign(&join, now).unwrap();
        let creds = ferrocore_runtime::Credentials::from_pem(
            &accepted.certificate_pem,
            &key.serialize_pem(),
        )
        .unwrap();
        assert_eq!(
            creds.identity().unwrap(),
            ferrocore_runtime::Identity::Node("node-1".into())
        );
        TrustRoots::from_pem(&accepted.ca_pem).unwrap();
        join.node = NodeName("Bad Name".into());
        assert!(signer.sign(&join, now).is_err());
        join.node = NodeName("node-1".into());
        join.csr_pem = "garbage".into();
        assert!(signer.sign(&join, now).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
