//! Forwarding a call to the leader's API over JSON-RPC, for the methods consensus cannot
//! forward itself (membership changes run only on the leader). The follower dials the leader's
//! RPC port with its own controller certificate; the leader never forwards a call that came
//! from another controller, so a stale view of the leader cannot make calls loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_runtime::{
    ClientAuth, ClientConfig, ClientError, Credentials, RpcClient, TransportLimits, TrustRoots,
    timeout,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::ApiError;

/// How long a forwarded call may take: adding a member waits until it has caught up.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to the current leader's API, made on first use and kept while it works.
pub(crate) struct LeaderLink {
    credentials: Credentials,
    trust: TrustRoots,
    limits: TransportLimits,
    client: Mutex<Option<(u64, Arc<RpcClient>)>>,
}

impl std::fmt::Debug for LeaderLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderLink").finish_non_exhaustive()
    }
}

impl LeaderLink {
    pub(crate) fn new(
        credentials: Credentials,
        trust: TrustRoots,
        limits: TransportLimits,
    ) -> Self {
        Self {
            credentials,
            trust,
            limits,
            client: Mutex::new(None),
        }
    }

    /// Calls `method` on controller `leader` at `addr`; its errors come back as they are.
    pub(crate) async fn call(
        &self,
        leader: u64,
        addr: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, ApiError> {
        let client = self.client(leader, addr).await?;
        let result = timeout(FORWARD_TIMEOUT, client.call(method, params)).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(ClientError::Rpc(e))) => Err(ApiError::Remote(e)),
            Ok(Err(e)) => {
                *self.client.lock().await = None;
                Err(ApiError::unavailable(format!(
                    "Forwarding to leader {leader} failed: {e}"
                )))
            }
            Err(_) => Err(ApiError::unavailable(format!(
                "Leader {leader} did not answer in time"
            ))),
        }
    }

    async fn client(&self, leader: u64, addr: &str) -> Result<Arc<RpcClient>, ApiError> {
        let mut cached = self.client.lock().await;
        if let Some((id, client)) = cached.as_ref()
            && *id == leader
        {
            return Ok(client.clone());
        }
        let unreachable =
            |e: String| ApiError::unavailable(format!("Leader {leader} at {addr}: {e}"));
        let socket = resolve(addr).await.map_err(unreachable)?;
        let mut config = ClientConfig::new(
            socket,
            format!("controller-{leader}"),
            self.trust.clone(),
            ClientAuth::Certificate(self.credentials.clone()),
        );
        config.limits = self.limits.clone();
        let client = timeout(FORWARD_TIMEOUT, RpcClient::connect(config))
            .await
            .map_err(|_| unreachable("connection timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let client = Arc::new(client);
        *cached = Some((leader, client.clone()));
        Ok(client)
    }
}

/// The first address `host:port` resolves to.
pub(crate) async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(socket) = addr.parse() {
        return Ok(socket);
    }
    tokio::net::lookup_host(addr)
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))
}
