//! A benchmark-ready entry point for `ferrocore bench store`: N object creates from C concurrent
//! clients against an in-process 3-node cluster on the real disk (fsync on), on tokio.
//!
//! It measures the consensus store alone (no QUIC, no JSON-RPC): the CLI benchmark adds those and
//! the etcd comparison.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_runtime::{Clock, Disk, SeededRng, StdDisk, SystemClock};
use serde_json::json;

use crate::{InProcessNetwork, Node, NodeAddr, NodeConfig, NodeId, ProposeError, TokioRuntime};

/// What to run.
#[derive(Clone, Debug)]
pub struct StoreBench {
    /// Creates in total.
    pub creates: usize,
    /// Concurrent clients (each waits for its write before the next).
    pub clients: usize,
    /// Bytes of payload per object (the object is a little larger: metadata).
    pub object_bytes: usize,
    /// Where the three nodes keep their data (a fresh directory; removed afterwards).
    pub dir: PathBuf,
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct StoreBenchReport {
    /// Acknowledged creates.
    pub creates: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time of the write phase.
    pub elapsed: Duration,
    /// Creates per second.
    pub writes_per_sec: f64,
    /// Median latency of one create.
    pub p50: Duration,
    /// 99th-percentile latency of one create.
    pub p99: Duration,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A node could not start.
    #[error(transparent)]
    Node(#[from] crate::NodeError),
    /// A write failed.
    #[error(transparent)]
    Propose(#[from] ProposeError),
    /// The runtime or the data directory failed.
    #[error("benchmark setup: {0}")]
    Setup(String),
}

/// Runs the benchmark on a fresh multi-threaded tokio runtime.
///
/// # Errors
/// [`BenchError`] if the cluster cannot start or a write fails.
pub fn run_store_bench(bench: &StoreBench) -> Result<StoreBenchReport, BenchError> {
    let rt = ferrocore_runtime::build_runtime().map_err(|e| BenchError::Setup(e.to_string()))?;
    let report = rt.block_on(run(bench));
    let _ = std::fs::remove_dir_all(&bench.dir);
    report
}

async fn start_cluster(dir: &std::path::Path) -> Result<Vec<Node<TokioRuntime>>, BenchError> {
    let net = InProcessNetwork::<TokioRuntime>::new();
    let disk: Arc<dyn Disk> = Arc::new(StdDisk);
    let mut nodes = Vec::new();
    for id in 1..=3u64 {
        let mut config = NodeConfig::new(NodeId(id), dir.join(format!("node{id}")));
        config.raft.snapshot_policy = openraft::SnapshotPolicy::LogsSinceLast(50_000);
        config.flush = crate::FlushMode::Background;
        config.append_timeout = Some(crate::APPEND_TIMEOUT_PRODUCTION);
        let node = Node::<TokioRuntime>::open(
            config,
            disk.clone(),
            net.transport(NodeId(id)),
            Arc::new(SystemClock::new()),
            Box::new(SeededRng::new(id)),
        )
        .await?;
        net.register(NodeId(id), node.server());
        nodes.push(node);
    }
    let members: BTreeMap<NodeId, NodeAddr> = (1..=3)
        .map(|id| (NodeId(id), NodeAddr::new(format!("node{id}"))))
        .collect();
    nodes[0].initialize(members).await?;
    Ok(nodes)
}

async fn leader_of(nodes: &[Node<TokioRuntime>]) -> Result<Node<TokioRuntime>, BenchError> {
    let m = nodes[0]
        .raft()
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "leader")
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let id = m
        .current_leader
        .ok_or_else(|| BenchError::Setup("no leader".into()))?;
    nodes
        .iter()
        .find(|n| n.id() == id)
        .cloned()
        .ok_or_else(|| BenchError::Setup("leader is not a local node".into()))
}

async fn run(bench: &StoreBench) -> Result<StoreBenchReport, BenchError> {
    std::fs::create_dir_all(&bench.dir).map_err(|e| BenchError::Setup(e.to_string()))?;
    let nodes = start_cluster(&bench.dir).await?;
    let leader = leader_of(&nodes).await?;
    // Warm-up write: also waits out the new leader's first (blank) entry.
    leader
        .propose(leader.create_command(object("warmup", 16)))
        .await?;
    let clock = Arc::new(SystemClock::new());
    let clients = bench.clients.max(1);
    let start = clock.now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let count = bench.creates / clients + usize::from(client < bench.creates % clients);
        let (leader, clock, size) = (leader.clone(), clock.clone(), bench.object_bytes);
        tasks.push(ferrocore_runtime::spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                let command = leader.create_command(object(&format!("c{client}-{i}"), size));
                let begin = clock.now();
                leader.propose(command).await?;
                latencies.push(clock.now() - begin);
            }
            Ok::<_, ProposeError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(bench.creates);
    for task in tasks {
        let done = task.await.map_err(|e| BenchError::Setup(e.to_string()))?;
        latencies.extend(done?);
    }
    let elapsed = clock.now() - start;
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(report(clients, elapsed, latencies))
}

fn report(clients: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> StoreBenchReport {
    latencies.sort();
    let pick = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let at = ((latencies.len().saturating_sub(1)) as f64 * q).round() as usize;
        latencies.get(at).copied().unwrap_or_default()
    };
    #[allow(clippy::cast_precision_loss)]
    let writes_per_sec = latencies.len() as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    StoreBenchReport {
        creates: latencies.len(),
        clients,
        elapsed,
        writes_per_sec,
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

fn object(name: &str, payload_bytes: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "bench"},
        "data": {"payload": "x".repeat(payload_bytes)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_on_the_real_disk_with_fsync() {
        let dir = std::env::temp_dir().join(format!("ferrocore-bench-{}", std::process::id()));
        let bench = StoreBench {
            creates: 40,
            clients: 4,
            object_bytes: 1024,
            dir: dir.clone(),
        };
        let report = run_store_bench(&bench).unwrap();
        assert_eq!(report.creates, 40);
        assert!(report.writes_per_sec > 0.0);
        assert!(report.p50 <= report.p99);
        assert!(!dir.exists(), "the data directory is cleaned up");
    }
}
