//! Helpers for the store tests: objects, a pool of concurrent writers that survive controller
//! failures (counting only acknowledged writes), full listings, a watch collector, raw frames.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ferrocore_runtime::{
    ClientConfig, ClientError, Credentials, Endpoint, RpcClient, TransportLimits, TrustRoots,
    frame, sleep, spawn, timeout,
};
use ferrocore_tests::cluster::{Cluster, SERVER_NAME};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// The namespace every test object lives in.
pub(crate) const NS: &str = "store";

/// How long one call may take before the writer treats the controller as gone.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per object before a writer gives up (a bound, not an expectation: a failover
/// takes a few attempts).
const ATTEMPTS_MAX: usize = 300;

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    ferrocore_runtime::build_runtime().expect("tokio runtime")
}

/// A Network named `name` in [`NS`].
pub(crate) fn network(name: &str) -> Value {
    json!({"apiVersion": "networking.ironcore.dev/v1alpha1", "kind": "Network",
           "metadata": {"namespace": NS, "name": name, "labels": {"test": "store"}}})
}

/// The params naming a Network in [`NS`].
pub(crate) fn named(name: &str) -> Value {
    json!({"kind": "Network", "namespace": NS, "name": name})
}

/// The application error code of a failed call.
pub(crate) fn code_of(result: &Result<Value, ClientError>) -> Option<i32> {
    match result {
        Err(ClientError::Rpc(e)) => Some(e.code.value()),
        _ => None,
    }
}

/// Creates `count` Networks named `<prefix>-NNNNN` from `workers` concurrent clients spread
/// over the controllers in `configs`. A writer whose controller fails (transport error,
/// `Unavailable`, `Timeout`) moves to the next controller and retries the same object; only
/// writes answered with success are counted as acknowledged.
pub(crate) struct Writers {
    acked: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Writers {
    pub(crate) fn start(
        configs: Vec<ClientConfig>,
        prefix: &str,
        count: usize,
        workers: usize,
    ) -> Self {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(AtomicUsize::new(0));
        let configs = Arc::new(configs);
        let tasks = (0..workers)
            .map(|w| {
                let (acked, next, configs) = (acked.clone(), next.clone(), configs.clone());
                let prefix = prefix.to_owned();
                spawn(async move { write_loop(w, &configs, &prefix, count, &next, &acked).await })
            })
            .collect();
        Self { acked, next, tasks }
    }

    /// Starts no further objects (those in flight finish).
    pub(crate) fn stop(&self) {
        self.next.store(usize::MAX / 2, Ordering::Relaxed);
    }

    /// Acknowledged writes so far.
    pub(crate) fn acked(&self) -> usize {
        self.acked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits for every writer; the acknowledged names.
    pub(crate) async fn finish(self) -> anyhow::Result<BTreeSet<String>> {
        for task in self.tasks {
            task.await.context("writer panicked")??;
        }
        let acked = self.acked.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(acked.iter().cloned().collect())
    }
}

async fn write_loop(
    worker: usize,
    configs: &[ClientConfig],
    prefix: &str,
    count: usize,
    next: &AtomicUsize,
    acked: &Mutex<Vec<String>>,
) -> anyhow::Result<()> {
    let mut target = worker % configs.len();
    let mut client: Option<RpcClient> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            return Ok(());
        }
        let name = format!("{prefix}-{i:05}");
        let params = json!({"object": network(&name)});
        let mut retried = false;
        for attempt in 0.. {
            if attempt >= ATTEMPTS_MAX {
                bail!("writer {worker} gave up on {name}");
            }
            let Some(c) = client.as_ref() else {
                match timeout(CALL_TIMEOUT, RpcClient::connect(configs[target].clone())).await {
                    Ok(Ok(c)) => client = Some(c),
                    _ => {
                        target = (target + 1) % configs.len();
                        sleep(Duration::from_millis(100)).await;
                    }
                }
                continue;
            };
            let result = match timeout(CALL_TIMEOUT, c.call("object.create", params.clone())).await
            {
                Ok(r) => r,
                Err(_) => Err(ClientError::Stream("call timed out".into())),
            };
            match (&result, code_of(&result)) {
                (Ok(_), _) => {
                    acked
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(name);
                    break;
                }
                // An earlier attempt was applied but its answer was lost: present, not acked.
                (_, Some(1001)) if retried => break,
                (_, Some(1006 | 1007)) => {
                    retried = true;
                    target = (target + 1) % configs.len();
                    client = None;
                    sleep(Duration::from_millis(100)).await;
                }
                (Err(ClientError::Rpc(e)), _) => bail!("create {name}: {e}"),
                (Err(_), _) => {
                    retried = true;
                    target = (target + 1) % configs.len();
                    client = None;
                }
            }
        }
    }
}

/// Every Network name in [`NS`] as controller `id` reads it (linearizable, paged).
pub(crate) async fn list_names(cluster: &Cluster, id: u64) -> anyhow::Result<BTreeSet<String>> {
    let client = cluster.client(id).await?;
    let mut names = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = json!({"kind": "Network", "namespace": NS, "limit": 2000});
        if let Some(t) = &token {
            params["continue"] = json!(t);
        }
        let page = timeout(CALL_TIMEOUT, client.call("object.list", params))
            .await
            .context("list timed out")??;
        for item in page["items"].as_array().context("items")? {
            names.insert(
                item["metadata"]["name"]
                    .as_str()
                    .context("name")?
                    .to_owned(),
            );
        }
        match page["continue"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    client.close();
    Ok(names)
}

/// Calls `method` on controller `id`, retrying while the cluster is between leaders.
pub(crate) async fn call_retrying(
    cluster: &Cluster,
    id: u64,
    method: &str,
    params: Value,
) -> anyhow::Result<Value> {
    let mut last = String::new();
    for _ in 0..100 {
        let client = cluster.client(id).await?;
        let result = timeout(CALL_TIMEOUT, client.call(method, params.clone())).await;
        client.close();
        match result {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(ClientError::Rpc(e))) if !matches!(e.code.value(), 1006 | 1007) => {
                bail!("{method}: {e}")
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        sleep(Duration::from_millis(200)).await;
    }
    bail!("{method} on {id} kept failing: {last}")
}

/// A raw QUIC connection to a controller's RPC port, for writing arbitrary bytes.
pub(crate) async fn raw_connection(
    addr: SocketAddr,
    trust: &TrustRoots,
    cert: Option<&Credentials>,
) -> anyhow::Result<(Endpoint, ferrocore_runtime::PeerConnection)> {
    let endpoint = Endpoint::client(
        "127.0.0.1:0".parse()?,
        cert,
        trust,
        &TransportLimits::default(),
    )?;
    let conn = endpoint
        .connect(addr, SERVER_NAME, ferrocore_runtime::Alpn::Rpc)
        .await?;
    Ok((endpoint, conn))
}

/// Writes `bytes` on a new stream, finishes it, and reads the one JSON response frame.
pub(crate) async fn raw_exchange(
    conn: &ferrocore_runtime::PeerConnection,
    bytes: &[u8],
) -> anyhow::Result<Value> {
    let mut stream = conn.open_bi().await?;
    // A refused oversize request is stopped by the server: the write may fail, that is fine.
    let _ = stream.send.write_all(bytes).await;
    let _ = stream.send.shutdown().await;
    let frame = timeout(
        CALL_TIMEOUT,
        frame::read_frame(&mut stream.recv, frame::MaxFrameLen::mib(1)),
    )
    .await
    .context("no response")??
    .context("stream ended without a response")?;
    Ok(serde_json::from_slice(&frame)?)
}

/// A frame: 4-byte big-endian length, then `payload`.
pub(crate) fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(payload);
    out
}
