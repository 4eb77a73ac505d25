//! The node's certificate: loaded from its state directory, or obtained once by joining with
//! the bootstrap token (`node.join` over the controllers' RPC ALPN; the key never leaves the
//! node, only a certificate request does).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use ferrocore_api::iri::protocol::{BootstrapToken, Join, JoinAccepted, PROTOCOL_VERSION};
use ferrocore_runtime::{
    BearerToken, ClientAuth, ClientConfig, Credentials, RpcClient, TrustRoots, timeout,
};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::AgentError;
use crate::config::NodeConfig;

/// File stem of the node's certificate and key in its state directory.
pub(crate) const CREDENTIALS_NAME: &str = "node";

/// How long one join attempt may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The RPC method that signs a node's certificate (actors' `JOIN_METHOD`).
const JOIN_METHOD: &str = "node.join";

/// Resolves `host:port`.
pub(crate) fn resolve(addr: &str) -> Option<SocketAddr> {
    addr.to_socket_addrs().ok()?.next()
}

/// The node's credentials, joining the cluster first if it has none.
///
/// # Errors
/// [`AgentError::Join`] when no controller signs the request.
pub(crate) async fn credentials(
    config: &NodeConfig,
    trust: &TrustRoots,
) -> Result<Credentials, AgentError> {
    let dir = &config.state_dir;
    if dir.join(format!("{CREDENTIALS_NAME}.crt")).exists() {
        return Credentials::load(dir, CREDENTIALS_NAME)
            .map_err(|e| AgentError::Join(format!("{}: {e}", dir.display())));
    }
    if config.token.is_empty() {
        return Err(AgentError::Join(
            "no certificate in the state directory and no bootstrap token in the config".into(),
        ));
    }
    let key = KeyPair::generate().map_err(|e| AgentError::Join(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("node:{}", config.name));
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| AgentError::Join(e.to_string()))?;
    let join = Join {
        protocol_version: PROTOCOL_VERSION,
        token: BootstrapToken(config.token.clone()),
        node: config.node_name(),
        csr_pem: csr,
    };
    let mut last = String::from("no controller address resolves");
    for addr in &config.controllers {
        let Some(socket) = resolve(addr) else {
            continue;
        };
        match join_at(config, trust, socket, &join).await {
            Ok(accepted) => return save(dir, &accepted, &key),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(AgentError::Join(last))
}

async fn join_at(
    config: &NodeConfig,
    trust: &TrustRoots,
    addr: SocketAddr,
    join: &Join,
) -> Result<JoinAccepted, String> {
    let auth = ClientAuth::Token(BearerToken::new(config.token.clone()));
    let mut client_config = ClientConfig::new(addr, &config.server_name, trust.clone(), auth);
    client_config.limits = config.transport.clone();
    let params = serde_json::to_value(join).map_err(|e| e.to_string())?;
    let call = async {
        let client = RpcClient::connect(client_config)
            .await
            .map_err(|e| e.to_string())?;
        let reply: Result<JoinAccepted, _> = client.call_as(JOIN_METHOD, &params).await;
        client.close();
        reply.map_err(|e| e.to_string())
    };
    timeout(JOIN_TIMEOUT, call)
        .await
        .map_err(|_| "join timed out".to_string())?
}

fn save(dir: &Path, accepted: &JoinAccepted, key: &KeyPair) -> Result<Credentials, AgentError> {
    let fail = |e: String| AgentError::Join(e);
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let creds = Credentials::from_pem(&accepted.certificate_pem, &key.serialize_pem())
        .map_err(|e| fail(e.to_string()))?;
    creds
        .save(dir, CREDENTIALS_NAME)
        .map_err(|e| fail(e.to_string()))?;
    Ok(creds)
}
