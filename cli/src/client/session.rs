//! A connection to one of a context's controllers, with failover: connect to the first server
//! that answers; when the connection breaks mid-call, or the controller says it has no leader
//! yet, move on (or wait) and retry, within bounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_runtime::{
    BearerToken, ClientAuth, ClientConfig, ClientError, ClientSubscription, Credentials,
    FrameError, RpcClient, TrustRoots,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::config::{AuthSource, Context};
use super::error::ApiError;

/// How long one controller gets to complete the QUIC and TLS handshake before the next is tried.
/// A stopped controller on loopback never answers (QUIC ignores ICMP), so this is how it is
/// noticed; a live one answers in milliseconds.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// QUIC idle timeout of the CLI's connections: a controller that died without closing
/// (SIGKILL, power loss) is noticed this fast, so a watch resumes on another controller within
/// it. Well above the keep-alive, so one lost packet does not drop a healthy connection.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Keep-alive interval: keeps a quiet watch open and lets the idle timeout detect a dead peer.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// How many times a call is retried while the cluster answers `Unavailable` (no leader yet): with
/// [`UNAVAILABLE_PAUSE`] this waits out an election (about a second) with room to spare.
const UNAVAILABLE_RETRIES: u32 = 40;
/// Pause between `Unavailable` retries.
const UNAVAILABLE_PAUSE: Duration = Duration::from_millis(250);

/// A controller connection that fails over across the context's servers.
#[derive(Debug)]
pub(crate) struct Session {
    ctx: Context,
    trust: TrustRoots,
    auth: ClientAuth,
    /// The live connection and the index of its server in `ctx.servers`.
    current: Mutex<Option<(usize, Arc<RpcClient>)>>,
}

impl Session {
    /// Loads the context's credentials; connects lazily on the first call.
    pub(crate) fn new(ctx: Context) -> Result<Self, ApiError> {
        let trust = TrustRoots::load(&ctx.ca).map_err(|e| ApiError::Credentials {
            path: ctx.ca.clone(),
            message: e.to_string(),
        })?;
        let auth = match &ctx.auth {
            AuthSource::Certificate { cert, key } => {
                let read = |p: &std::path::Path| {
                    std::fs::read_to_string(p).map_err(|e| ApiError::Credentials {
                        path: p.to_path_buf(),
                        message: e.to_string(),
                    })
                };
                let creds = Credentials::from_pem(&read(cert)?, &read(key)?).map_err(|e| {
                    ApiError::Credentials {
                        path: cert.clone(),
                        message: e.to_string(),
                    }
                })?;
                ClientAuth::Certificate(creds)
            }
            AuthSource::Token(t) => ClientAuth::Token(BearerToken::new(t.clone())),
        };
        Ok(Self {
            ctx,
            trust,
            auth,
            current: Mutex::new(None),
        })
    }

    /// The context this session uses.
    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }

    /// The address of the controller currently connected, if any.
    pub(crate) async fn server(&self) -> Option<SocketAddr> {
        let guard = self.current.lock().await;
        guard.as_ref().map(|(i, _)| self.ctx.servers[*i])
    }

    /// A client, connecting (from server `start` on, wrapping around) when there is none.
    async fn client(&self, skip: Option<usize>) -> Result<Arc<RpcClient>, ApiError> {
        let mut guard = self.current.lock().await;
        if let Some((i, c)) = guard.as_ref()
            && Some(*i) != skip
        {
            return Ok(c.clone());
        }
        let n = self.ctx.servers.len();
        let start = skip.map_or(0, |s| s + 1);
        let mut tried = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let addr = self.ctx.servers[i];
            match self.connect_one(addr).await {
                Ok(c) => {
                    let c = Arc::new(c);
                    *guard = Some((i, c.clone()));
                    return Ok(c);
                }
                Err(ApiError::Unauthenticated { message, file }) => {
                    return Err(ApiError::Unauthenticated { message, file });
                }
                Err(e) => tried.push((addr, first_line(&e.to_string()))),
            }
        }
        *guard = None;
        Err(ApiError::NoServer {
            context: self.ctx.name.clone(),
            tried,
        })
    }

    /// A new connection of its own to server `index` of the context (no failover): for load
    /// generators that spread connections over the controllers.
    pub(crate) async fn connect_index(&self, index: usize) -> Result<RpcClient, ApiError> {
        let addr = self.ctx.servers[index % self.ctx.servers.len()];
        self.connect_one(addr).await
    }

    async fn connect_one(&self, addr: SocketAddr) -> Result<RpcClient, ApiError> {
        let mut cfg = ClientConfig::new(
            addr,
            self.ctx.server_name.clone(),
            self.trust.clone(),
            self.auth.clone(),
        );
        cfg.limits.idle_timeout = IDLE_TIMEOUT;
        cfg.limits.keep_alive_interval = KEEP_ALIVE;
        match ferrocore_runtime::timeout(CONNECT_TIMEOUT, RpcClient::connect(cfg)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(ApiError::from_client(e, &self.ctx.file)),
            Err(_) => Err(ApiError::Transport(format!(
                "no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Calls `method`, failing over to the next controller when the connection breaks and
    /// waiting while the cluster has no leader.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, ApiError> {
        let mut skip = None;
        let mut failovers = 0;
        let mut unavailable = 0;
        loop {
            let client = self.client(skip).await?;
            match client.call(method, params.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_loss(&e) && failovers < self.ctx.servers.len() => {
                    failovers += 1;
                    skip = self.current_index().await;
                    self.drop_current().await;
                }
                Err(e) => {
                    let err = ApiError::from_client(e, &self.ctx.file);
                    if err.is_retryable() && unavailable < UNAVAILABLE_RETRIES {
                        unavailable += 1;
                        ferrocore_runtime::sleep(UNAVAILABLE_PAUSE).await;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Starts a streaming call (a watch) on the current controller, failing over like
    /// [`Session::call`] for the initial response.
    pub(crate) async fn subscribe(
        &self,
        method: &str,
        params: Value,
    ) -> Result<ClientSubscription, ApiError> {
        let mut skip = None;
        let mut failovers = 0;
        loop {
            let client = self.client(skip).await?;
            match client.subscribe(method, params.clone()).await {
                Ok(s) => return Ok(s),
                Err(e) if is_connection_loss(&e) && failovers < self.ctx.servers.len() => {
                    failovers += 1;
                    skip = self.current_index().await;
                    self.drop_current().await;
                }
                Err(e) => return Err(ApiError::from_client(e, &self.ctx.file)),
            }
        }
    }

    /// Forgets the current connection so the next call connects to the next server.
    pub(crate) async fn drop_current(&self) {
        let mut guard = self.current.lock().await;
        if let Some((_, c)) = guard.take() {
            c.close();
        }
    }

    async fn current_index(&self) -> Option<usize> {
        self.current.lock().await.as_ref().map(|(i, _)| *i)
    }
}

/// Whether the error means the connection (not the request) failed: worth another controller.
pub(crate) fn is_connection_loss(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Transport(_)
            | ClientError::Stream(_)
            | ClientError::Frame(FrameError::Io(_) | FrameError::Truncated { .. })
    )
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}
