//! The `ferrocore node` process: it joins a cluster with a bootstrap token (once: the
//! certificate is kept in its state directory), keeps one connection to the Raft leader on the
//! node protocol (ALPN `ferrocore-node/1`), registers its pools, heartbeats, runs the IRI
//! commands the leader sends (every command carries its object's generation; older ones are
//! answered `Stale`), and reports the state of every object it holds (docs/node-agent.md).
//!
//! ```text
//!  controllers ◄── QUIC (node cert) ── session ──► Pools ─┬─ MachineRuntime (libvirt | fake)
//!                                        │                ├─ VolumeService (local | Ceph | fake)
//!                                        └─ Holdings      └─ BucketService (RGW | fake)
//!                                           (fence, last reports, objects.json)
//! ```
//!
//! It holds no backend logic: the runtimes are the compute and storage crates'. `--backend real`
//! runs the pools on libvirt, local files or Ceph RBD, and RGW as each pool's table says;
//! `--backend sim` runs every pool on those crates' fakes, which keep real state and refuse what
//! the real backends would refuse. It is not the network node (NICs are
//! the data plane's, later) and it never talks to the store directly.

mod certs;
mod compute;
mod config;
mod held;
mod link;
mod pools;
mod session;
mod storage;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrocore_runtime::{Clock, Endpoint, SystemClock, TrustRoots};

pub use config::{Backend, BucketPoolConfig, MachinePoolConfig, NodeConfig, VolumePoolConfig};
pub use config::{CephVolumeConfig, ImageImport, LibvirtConfig, LocalVolumeConfig, RgwConfig};

/// The status file in the state directory: what the node holds (kind, namespace, name, uid,
/// pool, state), rewritten whenever it changes.
pub const STATUS_FILE: &str = "objects.json";

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config file is unreadable or wrong.
    #[error("Config {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The node could not obtain or load its certificate.
    #[error("Join: {0}")]
    Join(String),
    /// A backend could not be opened.
    #[error("Backend: {0}")]
    Backend(String),
    /// The transport or the process runtime failed.
    #[error("Runtime: {0}")]
    Runtime(String),
}

/// Runs the node from its config file until SIGTERM or SIGINT: what `ferrocore node --config
/// FILE` does. `backend` overrides the config's.
///
/// # Errors
/// [`AgentError`] if the node cannot start.
pub fn run_node(config_path: &Path, backend: Option<Backend>) -> Result<(), AgentError> {
    let config = NodeConfig::load(config_path)?;
    let runtime =
        ferrocore_runtime::build_runtime().map_err(|e| AgentError::Runtime(e.to_string()))?;
    runtime.block_on(async move {
        tokio::select! {
            result = serve(config, backend) => result,
            signal = stop_signal() => signal,
        }
    })
}

async fn stop_signal() -> Result<(), AgentError> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = |e: std::io::Error| AgentError::Runtime(e.to_string());
    let mut term = signal(SignalKind::terminate()).map_err(runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(runtime)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("node stopping");
    Ok(())
}

async fn serve(config: NodeConfig, backend: Option<Backend>) -> Result<(), AgentError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|e| AgentError::Config {
        path: config.state_dir.clone(),
        reason: e.to_string(),
    })?;
    let trust = TrustRoots::load(&config.ca).map_err(|e| AgentError::Config {
        path: config.ca.clone(),
        reason: e.to_string(),
    })?;
    let credentials = loop {
        match certs::credentials(&config, &trust).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot join yet; retrying");
                ferrocore_runtime::sleep(config.reconnect().max(std::time::Duration::from_secs(1)))
                    .await;
            }
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let backend = backend.unwrap_or(config.backend);
    let pools = pools::Pools::open(&config, backend, &clock)?;
    let bind = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let endpoint = Endpoint::client(bind, Some(&credentials), &trust, &config.transport)
        .map_err(|e| AgentError::Runtime(e.to_string()))?;
    tracing::info!(node = %config.name, ?backend, "node agent running");
    let agent = session::Agent {
        status_file: config.state_dir.join(STATUS_FILE),
        config,
        pools,
        holdings: held::Holdings::default(),
        clock,
        dirty: true,
    };
    session::run(agent, endpoint).await;
    Ok(())
}
