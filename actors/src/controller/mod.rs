//! The controller process: reads its config, opens the consensus node on disk, serves Raft and
//! the API on one QUIC endpoint, forms the cluster on the first start of the bootstrap member
//! set, and runs until SIGTERM or SIGINT (docs/controller.md).
//!
//! ```text
//!   UDP :7700 ── Endpoint ─┬─ ferrocore-raft/1 ─► QuicNet ─► serve_raft ─► Node (openraft)
//!                          ├─ ferrocore-rpc/1  ─► RpcServer ─► ApiService ─► Node
//!                          └─ ferrocore-node/1 ─► NodeBroker ─► Plane (supervisor, on the leader)
//! ```

mod bootstrap;
mod config;
mod logging;
mod transport;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrocore_consensus::{
    APPEND_TIMEOUT_PRODUCTION, FlushMode, Node, NodeConfig, NodeError, NodeId, TokioRuntime,
};
use ferrocore_runtime::{
    Alpn, BearerToken, ConnectionHandler, Credentials, Endpoint, Identity, OsSeededRng, QuicNet,
    Router, RpcServer, RpcServerConfig, StdDisk, SystemClock, TokenSet, TrustRoots, spawn,
};
use openraft::async_runtime::watch::WatchReceiver;

pub use bootstrap::{
    BootstrapError, BootstrapOutput, BootstrapPlan, CLUSTER_SERVER_NAME, bootstrap,
};
pub use config::{ControllerConfig, RaftTiming};
pub use logging::init_logging;
pub use transport::RAFT_FRAME_MAX;

use crate::api::{ApiService, ApiSettings, CipherError, LeaderLink, SecretCipher};
use crate::broker::{JoinGate, NodeBroker, NodeSigner};
use crate::supervisor::Plane;
use transport::{QuicRaftTransport, serve_raft};

/// The consensus node a controller runs.
pub type ControllerNode = Node<TokioRuntime>;

/// How long one wait for recovery after a restart lasts before it is logged and retried.
const RECOVERY_WAIT: Duration = Duration::from_secs(30);

/// Why a controller could not start or stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The config file is unreadable or wrong.
    #[error("Config {path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate, key or token file cannot be used.
    #[error("{0}")]
    Credentials(String),
    /// The secrets-at-rest key cannot be used.
    #[error(transparent)]
    SecretsKey(#[from] CipherError),
    /// The data directory is damaged (the message names file and offset) or Raft failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The endpoint could not start.
    #[error(transparent)]
    Transport(#[from] ferrocore_runtime::TransportError),
    /// Raft stopped on a fatal error while running (e.g. the disk failed).
    #[error("Raft stopped: {0}")]
    Fatal(String),
    /// The process runtime or signal handling failed.
    #[error("Runtime: {0}")]
    Runtime(String),
}

/// A controller whose node is open and whose endpoint is bound, before or while serving.
#[derive(Debug)]
pub struct Controller {
    config: ControllerConfig,
    node: ControllerNode,
    endpoint: Endpoint,
    raft_net: Arc<QuicNet>,
    api: ApiService,
    tokens: TokenSet,
    plane: Plane,
    signer: Option<Arc<NodeSigner>>,
}

impl Controller {
    /// Loads credentials and keys, binds the endpoint and opens the node (recovering its log
    /// and snapshot). Nothing is served yet.
    ///
    /// # Errors
    /// [`ControllerError`] naming what cannot be used; a damaged log names file and offset.
    pub async fn open(config: ControllerConfig) -> Result<Self, ControllerError> {
        let cred_error =
            |e: ferrocore_runtime::PkiError| ControllerError::Credentials(e.to_string());
        let trust = TrustRoots::load(&config.tls.ca).map_err(cred_error)?;
        let credentials = load_credentials(&config.tls.cert, &config.tls.key)?;
        let tokens = load_tokens(&config)?;
        let cipher = SecretCipher::load(&config.secrets_key_path())?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| ControllerError::Config {
            path: config.data_dir.clone(),
            reason: e.to_string(),
        })?;
        let endpoint = Endpoint::server(config.listen, &credentials, &trust, &config.transport)?;
        let raft_net = QuicNet::new(
            endpoint.clone(),
            Alpn::Raft,
            Identity::Controller(config.id),
        );
        let transport = Arc::new(QuicRaftTransport::new(raft_net.clone()));
        let mut node_config = NodeConfig::new(NodeId(config.id), config.data_dir.clone());
        node_config.raft = config.openraft();
        node_config.segment_bytes_max = config.raft.segment_bytes;
        node_config.watch_retention = config.raft.watch_retention;
        node_config.flush = FlushMode::Background;
        node_config.append_timeout = Some(APPEND_TIMEOUT_PRODUCTION);
        let rng = OsSeededRng::new().map_err(|e| ControllerError::Runtime(e.to_string()))?;
        let node = Node::<TokioRuntime>::open(
            node_config,
            Arc::new(StdDisk),
            transport,
            Arc::new(SystemClock::new()),
            Box::new(rng),
        )
        .await?;
        let settings = ApiSettings {
            write_timeout: config.raft.write_timeout(),
            ..ApiSettings::default()
        };
        let link = LeaderLink::new(credentials, trust, config.transport.clone());
        let api = ApiService::new(
            node.clone(),
            cipher,
            settings,
            config.cluster.clone(),
            Some(link),
        );
        let signer = match &config.plane.ca_key {
            Some(key) => Some(Arc::new(
                NodeSigner::load(&config.tls.ca, key)
                    .map_err(|e| ControllerError::Credentials(e.to_string()))?,
            )),
            None => None,
        };
        let plane = Plane::new(
            node.clone(),
            api.clone(),
            config.plane.clone(),
            Arc::new(SystemClock::new()),
            Duration::from_millis(config.raft.election_timeout_min_ms),
        );
        Ok(Self {
            config,
            node,
            endpoint,
            raft_net,
            api,
            tokens,
            plane,
            signer,
        })
    }

    /// The control plane runtime (supervisor and node broker).
    pub fn plane(&self) -> &Plane {
        &self.plane
    }

    /// The consensus node (for services that plug into the endpoint, such as the node broker).
    pub fn node(&self) -> &ControllerNode {
        &self.node
    }

    /// The bound endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Starts serving Raft, the API (with `node.join`) and the node broker, plus `extra`
    /// handlers for other ALPNs (one given for `Alpn::Node` replaces the broker). Then
    /// forms the cluster if this is the first start of the bootstrap member set, and marks the
    /// API ready once the node has recovered.
    ///
    /// # Errors
    /// [`ControllerError::Node`] if forming the cluster fails for another reason than that it
    /// exists already.
    pub async fn serve(
        &self,
        extra: Vec<(Alpn, Arc<dyn ConnectionHandler>)>,
    ) -> Result<(), ControllerError> {
        spawn(serve_raft(self.raft_net.clone(), self.node.server()));
        let gate = JoinGate::new(
            Arc::new(self.api.clone()),
            self.signer.clone(),
            Arc::new(SystemClock::new()),
        );
        let rpc = RpcServer::new(
            Arc::new(gate),
            RpcServerConfig {
                tokens: self.tokens.clone(),
                ..RpcServerConfig::default()
            },
        );
        let broker: Arc<dyn ConnectionHandler> = Arc::new(NodeBroker::new(self.plane.clone()));
        let mut router = Router::new()
            .route(Alpn::Raft, self.raft_net.clone())
            .route(Alpn::Rpc, rpc)
            .route(Alpn::Node, broker);
        for (alpn, handler) in extra {
            router = router.route(alpn, handler);
        }
        self.endpoint.serve(router);
        tracing::info!(
            id = self.config.id,
            listen = %self.config.listen,
            cluster = %self.config.cluster,
            "controller serving"
        );
        self.form_cluster().await?;
        spawn(mark_ready(self.node.clone(), self.api.clone()));
        self.plane.start();
        Ok(())
    }

    /// Initializes Raft on the lowest-id bootstrap member if its log is pristine. A restarted
    /// controller has a log, so it never initializes again.
    async fn form_cluster(&self) -> Result<(), ControllerError> {
        let members = self
            .config
            .members()
            .map_err(|reason| ControllerError::Config {
                path: PathBuf::from("peers"),
                reason,
            })?;
        let first = members.keys().next().copied();
        if !self.config.bootstrap || first != Some(NodeId(self.config.id)) {
            return Ok(());
        }
        let initialized = self
            .node
            .raft()
            .is_initialized()
            .await
            .map_err(|e| ControllerError::Fatal(e.to_string()))?;
        if initialized {
            return Ok(());
        }
        tracing::info!(members = members.len(), "forming the cluster (first start)");
        self.node.initialize(members).await?;
        Ok(())
    }

    /// Serves until SIGTERM or SIGINT (then shuts down in order) or until Raft stops on a
    /// fatal error.
    ///
    /// # Errors
    /// [`ControllerError::Fatal`] if Raft stopped on its own.
    pub async fn run_until_signal(self) -> Result<(), ControllerError> {
        let outcome = wait_for_stop(self.node.clone()).await;
        self.endpoint.close();
        self.node.shutdown().await;
        self.endpoint.wait_idle().await;
        tracing::info!("controller stopped");
        outcome
    }
}

/// Resolves on SIGTERM or SIGINT (`Ok`), or when Raft stops on a fatal error.
async fn wait_for_stop(node: ControllerNode) -> Result<(), ControllerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = |e: std::io::Error| ControllerError::Runtime(e.to_string());
    let mut term = signal(SignalKind::terminate()).map_err(runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(runtime)?;
    let signal = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        fatal = watch_metrics(node) => return Err(ControllerError::Fatal(fatal)),
    };
    tracing::info!(signal, "shutting down");
    Ok(())
}

/// Runs a controller from its config file until it is told to stop: what `ferrocore
/// controller --config FILE` does.
///
/// # Errors
/// [`ControllerError`] if it cannot start or Raft fails while running.
pub fn run_controller(config_path: &Path) -> Result<(), ControllerError> {
    let config = ControllerConfig::load(config_path)?;
    let runtime =
        ferrocore_runtime::build_runtime().map_err(|e| ControllerError::Runtime(e.to_string()))?;
    runtime.block_on(async move {
        let controller = Controller::open(config).await?;
        controller.serve(Vec::new()).await?;
        controller.run_until_signal().await
    })
}

fn load_credentials(cert: &Path, key: &Path) -> Result<Credentials, ControllerError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| ControllerError::Credentials(format!("{}: {e}", p.display())))
    };
    Credentials::from_pem(&read(cert)?, &read(key)?)
        .map_err(|e| ControllerError::Credentials(format!("{}: {e}", cert.display())))
}

fn load_tokens(config: &ControllerConfig) -> Result<TokenSet, ControllerError> {
    let mut set = TokenSet::new();
    let Some(path) = &config.auth.tokens else {
        return Ok(set);
    };
    let fail = |reason: String| ControllerError::Config {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    for (name, token) in config::parse_tokens(&text).map_err(fail)? {
        set.insert(&BearerToken::new(token), name);
    }
    Ok(set)
}

/// Waits (logging and retrying) until the node holds what it held before a restart, then
/// lets the API serve objects.
async fn mark_ready(node: ControllerNode, api: ApiService) {
    while let Err(e) = node.wait_recovered(RECOVERY_WAIT).await {
        tracing::warn!(error = %e, "still recovering the store");
    }
    tracing::info!("store recovered; serving the API");
    api.set_ready();
}

/// Logs leader changes; returns the reason when Raft stops on a fatal error.
async fn watch_metrics(node: ControllerNode) -> String {
    let mut metrics = node.raft().metrics();
    let mut leader = None;
    loop {
        let m = metrics.borrow_watched().clone();
        if let Err(fatal) = &m.running_state {
            tracing::error!(error = %fatal, "Raft stopped");
            return fatal.to_string();
        }
        if m.current_leader != leader {
            leader = m.current_leader;
            log_leader(leader, m.current_term);
        }
        if metrics.changed().await.is_err() {
            return "the Raft core stopped".into();
        }
    }
}

fn log_leader(leader: Option<NodeId>, term: u64) {
    match leader {
        Some(id) => tracing::info!(leader = id.0, term, "leader elected"),
        None => tracing::info!(term, "no leader"),
    }
}
