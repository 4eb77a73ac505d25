//! The load generator of `bench store`: C concurrent clients, each writing one object after
//! another for a fixed time, over a shared set of connections; latencies of every write.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use ferrocore_runtime::{Clock, RpcClient};
use serde_json::{Value, json};

use crate::client::config;
use crate::client::session::Session;

/// The figures of one concurrency level.
#[derive(Debug)]
pub(super) struct Level {
    /// Concurrent clients.
    pub(super) clients: usize,
    /// Acknowledged writes.
    pub(super) ops: u64,
    /// Failed writes (not in `ops` or the latencies).
    pub(super) errors: u64,
    /// Wall time of the level.
    pub(super) elapsed: Duration,
    /// Median write latency.
    pub(super) p50: Duration,
    /// 99th-percentile write latency.
    pub(super) p99: Duration,
}

impl Level {
    /// Acknowledged writes per second.
    pub(super) fn writes_per_sec(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a rate for display
        let ops = self.ops as f64;
        ops / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Where the writes go.
pub(super) enum Writer {
    /// ferrocore controllers: one JSON-RPC connection per slot, spread over the 3 controllers.
    Ferrocore(Vec<Arc<RpcClient>>),
    /// etcd: one gRPC client per slot, spread over the 3 members.
    Etcd(Vec<etcd_client::KvClient>),
}

impl Writer {
    /// `conns` connections to the controllers of the admin config, round-robin over them.
    pub(super) async fn ferrocore(admin: &std::path::Path, conns: usize) -> anyhow::Result<Self> {
        let ctx = config::load(Some(admin), None)?;
        let servers = ctx.servers.len();
        let session = Session::new(ctx)?;
        let mut out = Vec::with_capacity(conns);
        for i in 0..conns {
            let c = session.connect_index(i % servers).await?;
            out.push(Arc::new(c));
        }
        Ok(Self::Ferrocore(out))
    }

    /// `conns` gRPC clients over the etcd endpoints.
    pub(super) async fn etcd(endpoints: &[String], conns: usize) -> anyhow::Result<Self> {
        if endpoints.is_empty() {
            anyhow::bail!("no etcd endpoints");
        }
        let mut out = Vec::with_capacity(conns);
        for i in 0..conns {
            // Connection i talks to member i mod 3 only, as ours does, so both spread the same
            // way (writes that reach a follower are forwarded to the leader in both systems).
            let ep = &endpoints[i % endpoints.len().max(1)];
            let client = etcd_client::Client::connect([ep.as_str()], None)
                .await
                .context("connecting to etcd")?;
            out.push(client.kv_client());
        }
        Ok(Self::Etcd(out))
    }

    fn slots(&self) -> usize {
        match self {
            Self::Ferrocore(c) => c.len(),
            Self::Etcd(c) => c.len(),
        }
    }
}

/// A payload of `bytes` pseudo-random bytes (the same for every write and both systems).
pub(super) fn payload(bytes: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let raw: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The object one write creates.
fn object(name: &str, payload: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": "bench"},
           "type": "Opaque", "data": {"payload": payload}})
}

/// One client's loop: write until `deadline`, return latencies and errors.
async fn client_loop(
    slot: Slot,
    clock: Arc<dyn Clock>,
    payload: Arc<String>,
    name_prefix: String,
    budget: Duration,
) -> (Vec<Duration>, u64, Option<String>) {
    let start = clock.now();
    let mut lat = Vec::new();
    let mut errors = 0u64;
    let mut first_error = None;
    let mut seq = 0u64;
    let mut slot = slot;
    while clock.now().saturating_since(start) < budget {
        let name = format!("{name_prefix}-{seq}");
        seq += 1;
        let obj = object(&name, &payload);
        let t0 = clock.now();
        let result = match &mut slot {
            Slot::Ferrocore(c) => c
                .call("object.create", json!({ "object": obj }))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Slot::Etcd(kv) => {
                let kv = &mut **kv;
                let key = format!("/registry/secrets/bench/{name}");
                let value = serde_json::to_vec(&obj).unwrap_or_default();
                kv.put(key, value, None)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        };
        match result {
            Ok(()) => lat.push(clock.now().saturating_since(t0)),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    (lat, errors, first_error)
}

enum Slot {
    Ferrocore(Arc<RpcClient>),
    // Boxed: a gRPC client is much larger than an Arc.
    Etcd(Box<etcd_client::KvClient>),
}

/// Runs `clients` concurrent writers for `budget`; object names start with `tag`.
pub(super) async fn run(
    writer: &Writer,
    clock: &Arc<dyn Clock>,
    payload: &Arc<String>,
    clients: usize,
    budget: Duration,
    tag: &str,
) -> anyhow::Result<Level> {
    let start = clock.now();
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let k = i % writer.slots();
        let slot = match writer {
            Writer::Ferrocore(c) => Slot::Ferrocore(c[k].clone()),
            Writer::Etcd(c) => Slot::Etcd(Box::new(c[k].clone())),
        };
        tasks.push(ferrocore_runtime::spawn(client_loop(
            slot,
            clock.clone(),
            payload.clone(),
            format!("{tag}-{i}"),
            budget,
        )));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let (lat, e, first) = t.await.context("a load task panicked")?;
        all.extend(lat);
        errors += e;
        first_error = first_error.or(first);
    }
    let elapsed = clock.now().saturating_since(start);
    all.sort_unstable();
    let pct = |p: f64| -> Duration {
        if all.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )] // an index into a non-empty vector, computed from a fraction in [0, 1]
        let i = ((all.len() - 1) as f64 * p).round() as usize;
        all[i.min(all.len() - 1)]
    };
    if all.is_empty() && errors > 0 {
        anyhow::bail!(
            "every write failed ({errors} errors), e.g.: {}",
            first_error.unwrap_or_default()
        );
    }
    if let Some(e) = first_error {
        eprintln!("bench store: {errors} write(s) failed, e.g.: {e}");
    }
    Ok(Level {
        clients,
        ops: all.len() as u64,
        errors,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    })
}
