//! A cluster of real `ferrocore controller` processes on loopback, for integration tests:
//! bootstrap N controllers into a temporary directory (`ferrocore cluster bootstrap`), tune
//! their Raft timing for tests, start them on free UDP ports, find the leader, SIGKILL,
//! SIGTERM and restart single controllers, and connect admin clients.
//!
//! Tests that start clusters run one at a time: [`Cluster::bootstrap`] holds a process-wide
//! lock until the cluster is dropped (2 shared cores cannot run two clusters and keep Raft's
//! timing). Dropping a cluster kills its processes.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ferrocore_runtime::{
    BearerToken, ClientAuth, ClientConfig, ClientError, Clock, Credentials, RpcClient, SystemClock,
    TransportLimits, TrustRoots,
};
use serde_json::{Value, json};

use crate::ferrocore_bin;

/// One cluster at a time per test process.
static CLUSTER_LOCK: Mutex<()> = Mutex::new(());

/// Rounds over the running controllers [`Cluster::call_any`] makes before it gives up (250 ms
/// apart: about 10 s plus the calls' own time, longer than any election in test timing).
const CALL_ANY_ROUNDS: usize = 40;

/// The TLS name every controller certificate carries.
pub const SERVER_NAME: &str = "ferrocore";

/// Raft and transport timing for a test cluster (written into every controller's config).
#[derive(Clone, Debug)]
pub struct Timing {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Election timeout range: relaxed, since debug builds on 2 shared cores are slow.
    pub election_min_ms: u64,
    /// Upper end of the election timeout.
    pub election_max_ms: u64,
    /// A snapshot every this many entries.
    pub snapshot_logs: u64,
    /// Entries kept behind a snapshot.
    pub snapshot_keep_logs: u64,
    /// QUIC idle timeout: how fast a dead peer's connection is dropped.
    pub idle_timeout_ms: u64,
    /// QUIC keep-alive interval.
    pub keep_alive_ms: u64,
    /// How long a write may take before the client gets `Timeout`.
    pub write_timeout_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_min_ms: 600,
            election_max_ms: 1200,
            snapshot_logs: 10_000,
            snapshot_keep_logs: 1_000,
            idle_timeout_ms: 3_000,
            keep_alive_ms: 500,
            write_timeout_ms: 8_000,
        }
    }
}

/// What to bootstrap.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Controllers written (ids 1..=N).
    pub controllers: u64,
    /// How many of them form the cluster on first start (`None`: all).
    pub voters: Option<u64>,
    /// Timing knobs.
    pub timing: Timing,
}

impl ClusterOptions {
    /// `n` controllers, all initial members, test timing.
    pub fn new(n: u64) -> Self {
        Self {
            controllers: n,
            voters: None,
            timing: Timing::default(),
        }
    }
}

/// A bootstrapped cluster and its running controller processes.
#[derive(Debug)]
pub struct Cluster {
    _lock: MutexGuard<'static, ()>,
    dir: tempfile::TempDir,
    addrs: BTreeMap<u64, SocketAddr>,
    children: BTreeMap<u64, Child>,
    trust: TrustRoots,
    admin: Credentials,
    token: String,
}

impl Cluster {
    /// Bootstraps a cluster in a fresh temporary directory on free loopback ports. Nothing is
    /// started yet.
    ///
    /// # Errors
    /// If bootstrap fails or no free ports are found.
    pub fn bootstrap(options: &ClusterOptions) -> anyhow::Result<Self> {
        let lock = CLUSTER_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = tempfile::Builder::new()
            .prefix("ferrocore-cluster-")
            .tempdir()?;
        let base = free_port_block(options.controllers)?;
        let mut cmd = Command::new(ferrocore_bin());
        cmd.args([
            "cluster",
            "bootstrap",
            "--name",
            "test",
            "--host",
            "127.0.0.1",
        ])
        .arg("--controllers")
        .arg(options.controllers.to_string())
        .arg("--base-port")
        .arg(base.to_string())
        .arg("--dir")
        .arg(dir.path());
        if let Some(voters) = options.voters {
            cmd.arg("--voters").arg(voters.to_string());
        }
        let out = cmd
            .output()
            .context("running ferrocore cluster bootstrap")?;
        if !out.status.success() {
            bail!("bootstrap failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut addrs = BTreeMap::new();
        for id in 1..=options.controllers {
            let port = base + u16::try_from(id - 1)?;
            addrs.insert(id, SocketAddr::from(([127, 0, 0, 1], port)));
            tune(
                &dir.path().join(format!("controller-{id}/controller.toml")),
                &options.timing,
            )?;
        }
        let trust = TrustRoots::load(&dir.path().join("ca.crt"))?;
        let admin = Credentials::load(dir.path(), "admin")?;
        let tokens = std::fs::read_to_string(dir.path().join("tokens"))?;
        let token = tokens
            .lines()
            .find_map(|l| l.strip_prefix("admin "))
            .context("no admin token")?
            .trim()
            .to_owned();
        Ok(Self {
            _lock: lock,
            dir,
            addrs,
            children: BTreeMap::new(),
            trust,
            admin,
            token,
        })
    }

    /// Bootstraps and starts every controller, then waits for a leader and a served API.
    ///
    /// # Errors
    /// If a controller does not come up in time.
    pub async fn start_all(options: &ClusterOptions) -> anyhow::Result<Self> {
        let mut cluster = Self::bootstrap(options)?;
        for id in 1..=options.controllers {
            cluster.start(id)?;
        }
        let voters = options.voters.unwrap_or(options.controllers);
        for id in 1..=voters {
            cluster.wait_ready(id, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    /// The bootstrap directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Controller `id`'s directory (config, certificate, `data/`, `controller.log`).
    pub fn controller_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("controller-{id}"))
    }

    /// Controller `id`'s data directory.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.controller_dir(id).join("data")
    }

    /// Controller `id`'s UDP address.
    pub fn addr(&self, id: u64) -> SocketAddr {
        self.addrs[&id]
    }

    /// The ids of every controller written by bootstrap.
    pub fn ids(&self) -> Vec<u64> {
        self.addrs.keys().copied().collect()
    }

    /// The ids of running controllers.
    pub fn running(&mut self) -> Vec<u64> {
        let ids: Vec<u64> = self.children.keys().copied().collect();
        ids.into_iter().filter(|id| self.is_running(*id)).collect()
    }

    /// The admin's bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The cluster CA.
    pub fn trust(&self) -> &TrustRoots {
        &self.trust
    }

    /// The admin's client certificate.
    pub fn admin(&self) -> &Credentials {
        &self.admin
    }

    /// Starts controller `id` (its output is appended to `controller.log` in its directory).
    ///
    /// # Errors
    /// If the process cannot be spawned or is running already.
    pub fn start(&mut self, id: u64) -> anyhow::Result<()> {
        if self.is_running(id) {
            bail!("controller {id} is running already");
        }
        let cdir = self.controller_dir(id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cdir.join("controller.log"))?;
        let child = Command::new(ferrocore_bin())
            .arg("controller")
            .arg("--config")
            .arg(cdir.join("controller.toml"))
            .env("RUST_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting controller {id}"))?;
        self.children.insert(id, child);
        Ok(())
    }

    /// Whether controller `id`'s process is alive.
    pub fn is_running(&mut self, id: u64) -> bool {
        self.children
            .get_mut(&id)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILLs controller `id` and reaps it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs controller `id` and waits (up to `timeout`) for it to exit.
    ///
    /// # Errors
    /// If it does not exit in time (it is then killed).
    pub fn terminate(&mut self, id: u64, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let child = self.children.get(&id).context("not started")?;
        let pid = libc::pid_t::try_from(child.id())?;
        // SAFETY: sending a signal to a child process we spawned and have not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        match self.wait_exit(id, timeout) {
            Some(status) => Ok(status),
            None => {
                self.kill(id);
                bail!("controller {id} did not stop within {timeout:?} after SIGTERM")
            }
        }
    }

    /// Waits up to `timeout` for controller `id` to exit on its own; its status if it did.
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> Option<ExitStatus> {
        let clock = SystemClock::new();
        let deadline = clock.now() + timeout;
        while clock.now() < deadline {
            let child = self.children.get_mut(&id)?;
            if let Ok(Some(status)) = child.try_wait() {
                self.children.remove(&id);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Everything controller `id` has logged (across restarts).
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.controller_dir(id).join("controller.log")).unwrap_or_default()
    }

    /// An admin client (certificate) of controller `id`.
    ///
    /// # Errors
    /// If the connection fails.
    pub async fn client(&self, id: u64) -> anyhow::Result<RpcClient> {
        let config = self.client_config(id, ClientAuth::Certificate(self.admin.clone()));
        Ok(RpcClient::connect(config).await?)
    }

    /// Calls `method` on whichever controller answers, retrying (every 250 ms, up to
    /// [`CALL_ANY_ROUNDS`] rounds over the running controllers) while none does or the cluster
    /// is between leaders (Unavailable 1006, NotLeader 1007, internal -32603). Other errors are
    /// returned at once, as the `ClientError` they are.
    ///
    /// # Errors
    /// The call's own error, or the last transport error when no controller answered.
    pub async fn call_any(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let mut last = String::new();
        for _ in 0..CALL_ANY_ROUNDS {
            for id in self.running() {
                let Ok(client) = self.client(id).await else {
                    continue;
                };
                let call = client.call(method, params.clone());
                let result = ferrocore_runtime::timeout(Duration::from_secs(10), call).await;
                client.close();
                match result {
                    Ok(Ok(v)) => return Ok(v),
                    Ok(Err(ClientError::Rpc(e)))
                        if !matches!(e.code.value(), 1006 | 1007 | -32603) =>
                    {
                        bail!(ClientError::Rpc(e));
                    }
                    Ok(Err(e)) => last = e.to_string(),
                    Err(_) => last = "timed out".into(),
                }
            }
            ferrocore_runtime::sleep(Duration::from_millis(250)).await;
        }
        bail!("{method}: no controller answered: {last}")
    }

    /// `object.get` through [`Cluster::call_any`]: the object, or `None` when it does not exist
    /// (NotFound, code 1000).
    ///
    /// # Errors
    /// Any other failure of the call.
    pub async fn get_object(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<Value>> {
        let params = json!({"kind": kind, "namespace": namespace, "name": name});
        match self.call_any("object.get", params).await {
            Ok(v) => Ok(Some(v["object"].clone())),
            Err(e) => match e.downcast_ref::<ClientError>() {
                Some(ClientError::Rpc(rpc)) if rpc.code.value() == 1000 => Ok(None),
                _ => Err(e),
            },
        }
    }

    /// A client of controller `id` that authenticates with the admin bearer token.
    ///
    /// # Errors
    /// If the connection fails.
    pub async fn token_client(&self, id: u64) -> anyhow::Result<RpcClient> {
        let auth = ClientAuth::Token(BearerToken::new(self.token.clone()));
        Ok(RpcClient::connect(self.client_config(id, auth)).await?)
    }

    /// Client settings for controller `id` with short QUIC timeouts (a killed controller is
    /// noticed within seconds).
    pub fn client_config(&self, id: u64, auth: ClientAuth) -> ClientConfig {
        let mut config = ClientConfig::new(self.addr(id), SERVER_NAME, self.trust.clone(), auth);
        config.limits = TransportLimits {
            idle_timeout: Duration::from_secs(3),
            keep_alive_interval: Duration::from_millis(500),
            ..TransportLimits::default()
        };
        config
    }

    /// `cluster.status` of controller `id`.
    ///
    /// # Errors
    /// If the call fails.
    pub async fn status(&self, id: u64) -> anyhow::Result<Value> {
        let client = self.client(id).await?;
        let status = ferrocore_runtime::timeout(
            Duration::from_secs(5),
            client.call("cluster.status", json!({})),
        )
        .await
        .context("cluster.status timed out")??;
        client.close();
        Ok(status)
    }

    /// The leader that the running controllers agree on (polling up to `timeout`).
    ///
    /// # Errors
    /// If they do not agree on a running leader in time.
    pub async fn leader(&mut self, timeout: Duration) -> anyhow::Result<u64> {
        let clock = SystemClock::new();
        let deadline = clock.now() + timeout;
        loop {
            let running = self.running();
            let mut seen = Vec::new();
            for id in &running {
                if let Ok(status) = self.status(*id).await {
                    seen.push(status["leader"].as_u64());
                }
            }
            if let Some(Some(leader)) = seen.first().copied()
                && seen.len() == running.len()
                && seen.iter().all(|l| *l == Some(leader))
                && running.contains(&leader)
            {
                return Ok(leader);
            }
            if clock.now() > deadline {
                bail!("no agreed leader among {running:?} within {timeout:?}: {seen:?}");
            }
            ferrocore_runtime::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Merges `plane` into the `[plane]` table of every controller's config (control-plane
    /// timing knobs: heartbeat, grace period, command retry, ...). Call it before starting.
    ///
    /// # Errors
    /// If a config cannot be read or written.
    pub fn configure_plane(&self, plane: &toml::Table) -> anyhow::Result<()> {
        for id in self.ids() {
            let path = self.controller_dir(id).join("controller.toml");
            let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?)?;
            let table = config
                .entry("plane")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(table) = table else {
                bail!("{}: plane is not a table", path.display());
            };
            for (k, v) in plane {
                table.insert(k.clone(), v.clone());
            }
            std::fs::write(&path, toml::to_string(&config)?)?;
        }
        Ok(())
    }

    /// The node bootstrap token (the `node-bootstrap` line of the tokens file): what a new
    /// `ferrocore node` presents once to `node.join`.
    ///
    /// # Errors
    /// If the tokens file has no such line.
    pub fn node_token(&self) -> anyhow::Result<String> {
        let tokens = std::fs::read_to_string(self.dir.path().join("tokens"))?;
        Ok(tokens
            .lines()
            .find_map(|l| l.strip_prefix("node-bootstrap "))
            .context("no node bootstrap token")?
            .trim()
            .to_owned())
    }

    /// Waits until controller `id` serves a linearizable list (it has a leader and has
    /// recovered its store).
    ///
    /// # Errors
    /// If it does not within `timeout` (its log is in the message).
    pub async fn wait_ready(&self, id: u64, timeout: Duration) -> anyhow::Result<()> {
        let clock = SystemClock::new();
        let deadline = clock.now() + timeout;
        let mut last = String::new();
        while clock.now() < deadline {
            match self.client(id).await {
                Ok(client) => {
                    let probe = client.call("object.list", json!({"kind": "Network", "limit": 1}));
                    match ferrocore_runtime::timeout(Duration::from_secs(5), probe).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(e)) => last = e.to_string(),
                        Err(_) => last = "list timed out".into(),
                    }
                    client.close();
                }
                Err(e) => last = e.to_string(),
            }
            ferrocore_runtime::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "controller {id} not ready within {timeout:?}: {last}\n--- log ---\n{}",
            self.log(id)
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
    }
}

/// Writes the test timing into a controller config.
fn tune(path: &Path, timing: &Timing) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut config: toml::Table = toml::from_str(&text)?;
    let mut raft = toml::Table::new();
    let int = |v: u64| toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    raft.insert("heartbeat_interval_ms".into(), int(timing.heartbeat_ms));
    raft.insert(
        "election_timeout_min_ms".into(),
        int(timing.election_min_ms),
    );
    raft.insert(
        "election_timeout_max_ms".into(),
        int(timing.election_max_ms),
    );
    raft.insert("snapshot_logs".into(), int(timing.snapshot_logs));
    raft.insert("snapshot_keep_logs".into(), int(timing.snapshot_keep_logs));
    raft.insert("write_timeout_ms".into(), int(timing.write_timeout_ms));
    config.insert("raft".into(), toml::Value::Table(raft));
    let mut transport = toml::Table::new();
    transport.insert("idle_timeout_ms".into(), int(timing.idle_timeout_ms));
    transport.insert("keep_alive_interval_ms".into(), int(timing.keep_alive_ms));
    config.insert("transport".into(), toml::Value::Table(transport));
    std::fs::write(path, toml::to_string(&config)?)?;
    Ok(())
}

/// The first of `n` consecutive loopback UDP ports that are free right now.
fn free_port_block(n: u64) -> anyhow::Result<u16> {
    let n = u16::try_from(n)?;
    // Start somewhere that depends on the process, so parallel test binaries rarely collide.
    let seed = u16::try_from(std::process::id() % 2000)?;
    let mut base = 21_000 + seed * 10;
    for _ in 0..500 {
        let free = (0..n).all(|i| UdpSocket::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return Ok(base);
        }
        base = if base > 60_000 { 21_000 } else { base + n + 1 };
    }
    bail!("no block of {n} free UDP ports")
}
