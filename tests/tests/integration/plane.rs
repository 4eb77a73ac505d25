//! The control plane end to end on real processes: 3 `ferrocore controller`s from `ferrocore
//! cluster bootstrap` and 2 `ferrocore node --backend sim` agents that join with the bootstrap
//! token. One cluster serves every scenario, in order:
//!
//! 1. `apply` of the web-shop examples (platform + tenant): every Machine Running, every Volume
//!    Available, every NIC Available with its IPs, within 10 s; deleting the machines removes
//!    their ephemeral volumes and NICs, the nodes hold nothing, and pool `allocatable` returns
//!    to `capacity`.
//! 2. Quota: a create over a ResourceQuota fails naming the quota and the resource.
//! 3. A NoExecute taint evicts the machine that does not tolerate it, not the one that does.
//! 4. A hostile node (a real node certificate): garbage frames, another node's pool, absurd
//!    capacity, reports for objects it does not serve or from the future: refused, store
//!    unchanged.
//! 5. The leader is SIGKILLed while 200 Machines are created: all end Running, each held by
//!    exactly one node, once.
//! 6. A stopped node's pool goes `Ready=Unknown` after the grace period; the other stays True.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrocore_tests::cluster::{Cluster, ClusterOptions, SERVER_NAME};
use ferrocore_tests::{ferrocore_bin, workspace_root};
use serde_json::{Value, json};

#[allow(clippy::disallowed_methods)] // test harness timing, outside any simulated code
fn now() -> Instant {
    Instant::now()
}

/// A `ferrocore node` process; killed when dropped.
struct NodeProc {
    name: String,
    config: PathBuf,
    state: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.with_extension("log"))?;
        let child = Command::new(ferrocore_bin())
            .args(["node", "--backend", "sim", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the node's runtimes hold (`objects.json`).
    fn held(&self) -> Vec<Value> {
        std::fs::read(self.state.join("objects.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<Value>>(&b).ok())
            .unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.state.with_extension("log")).unwrap_or_default()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The cluster, its nodes, and the admin config for the CLI.
struct World {
    cluster: Cluster,
    nodes: BTreeMap<String, NodeProc>,
}

/// Short control-plane timing for tests (heartbeats, grace period, retries).
fn plane_timing() -> toml::Table {
    toml::from_str(
        r#"
heartbeat_interval_ms = 300
lease_duration_ms = 1200
grace_period_ms = 2000
command_retry_ms = 1000
command_retry_max_ms = 3000
resync_interval_ms = 3000
assume_ttl_ms = 3000
prefix_allocation_retry_ms = 300
"#,
    )
    .expect("plane timing")
}

fn machine_pool(name: &str, region: &str, zone: &str) -> String {
    format!(
        r#"
[[machine_pools]]
name = "{name}"
provider_id = "libvirt://{name}"
labels = {{ "topology.ironcore.dev/region" = "{region}", "topology.ironcore.dev/zone" = "{zone}" }}
cpus = 512
memory_mib = 4194304
images = ["gardenlinux:rootfs-image"]
classes = [{{ name = "x86-small", cpu = 1, memory_mib = 1024 }}, {{ name = "x86-medium", cpu = 2, memory_mib = 4096 }}]
"#
    )
}

const STORAGE_POOLS: &str = r#"
[[volume_pools]]
name = "ceph-zone-a"
provider_id = "ceph://ceph-zone-a"
labels = { "topology.ironcore.dev/zone" = "eu-central-a" }
capacity_gib = 10240
images = ["gardenlinux:rootfs-image"]
classes = [{ name = "fast", capabilities = { tps = 524288000, iops = 10000 } }, { name = "standard", capabilities = { tps = 104857600, iops = 1000 } }]

[[bucket_pools]]
name = "rgw-zone-a"
provider_id = "rgw://rgw-zone-a"
labels = { "topology.ironcore.dev/zone" = "eu-central-a" }
classes = [{ name = "standard", capabilities = { tps = 104857600, iops = 500 } }]
"#;

fn node_config(cluster: &Cluster, name: &str, state: &Path, pools: &str) -> anyhow::Result<String> {
    let controllers: Vec<String> = cluster
        .ids()
        .iter()
        .map(|id| format!("{:?}", cluster.addr(*id).to_string()))
        .collect();
    Ok(format!(
        r#"name = "{name}"
controllers = [{controllers}]
server_name = "{SERVER_NAME}"
ca = {ca:?}
token = "{token}"
state_dir = {state:?}
heartbeat_interval_ms = 300
poll_interval_ms = 200
reconnect_ms = 100

[transport]
idle_timeout_ms = 3000
keep_alive_interval_ms = 500
{pools}"#,
        controllers = controllers.join(", "),
        ca = cluster.dir().join("ca.crt"),
        token = cluster.node_token()?,
    ))
}

impl World {
    async fn start() -> anyhow::Result<Self> {
        let options = ClusterOptions::new(3);
        let mut cluster = Cluster::bootstrap(&options)?;
        cluster.configure_plane(&plane_timing())?;
        for id in cluster.ids() {
            cluster.start(id)?;
        }
        for id in cluster.ids() {
            cluster.wait_ready(id, Duration::from_secs(60)).await?;
        }
        let mut world = Self {
            cluster,
            nodes: BTreeMap::new(),
        };
        let a = format!(
            "{}{STORAGE_POOLS}",
            machine_pool("hv-zone-a", "eu-central", "eu-central-a")
        );
        world.add_node("node-a", &a)?;
        world.add_node(
            "node-b",
            &machine_pool("hv-zone-b", "eu-central", "eu-central-b"),
        )?;
        Ok(world)
    }

    fn add_node(&mut self, name: &str, pools: &str) -> anyhow::Result<()> {
        let state = self.cluster.dir().join(name);
        let config = self.cluster.dir().join(format!("{name}.toml"));
        std::fs::write(&config, node_config(&self.cluster, name, &state, pools)?)?;
        let mut node = NodeProc {
            name: name.to_owned(),
            config,
            state,
            child: None,
        };
        node.start()?;
        self.nodes.insert(name.to_owned(), node);
        Ok(())
    }

    /// Calls `method` on a running controller (the next one when a controller is down).
    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.cluster.call_any(method, params).await
    }

    async fn list(&mut self, kind: &str, namespace: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let mut params = json!({"kind": kind});
        if let Some(ns) = namespace {
            params["namespace"] = json!(ns);
        }
        let out = self.call("object.list", params).await?;
        Ok(out["items"].as_array().cloned().unwrap_or_default())
    }

    async fn get(&mut self, kind: &str, ns: &str, name: &str) -> anyhow::Result<Option<Value>> {
        self.cluster.get_object(kind, ns, name).await
    }

    /// The `ferrocore` CLI with the cluster's admin config.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(ferrocore_bin())
            .args(args)
            .env("FERROCORE_CONFIG", self.cluster.dir().join("admin.toml"))
            .output()
            .expect("running the ferrocore CLI")
    }

    fn node(&self, name: &str) -> &NodeProc {
        &self.nodes[name]
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (name, n) in &self.nodes {
            out += &format!("--- {name} ---\n{}\n", tail(&n.log(), 40));
        }
        for id in self.cluster.ids() {
            out += &format!(
                "--- controller {id} ---\n{}\n",
                tail(&self.cluster.log(id), 40)
            );
        }
        out
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn state(o: &Value) -> &str {
    o["status"]["state"].as_str().unwrap_or("")
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn condition<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Polls `check` until it returns `Ok(None)` (done) or `timeout` passes (the last complaint).
macro_rules! eventually {
    ($timeout:expr, $world:expr, $check:expr) => {{
        let deadline = now() + $timeout;
        loop {
            let complaint: Option<String> = $check;
            match complaint {
                None => break,
                Some(why) if now() > deadline => {
                    panic!("not within {:?}: {why}\n{}", $timeout, $world.logs())
                }
                Some(_) => ferrocore_runtime::sleep(Duration::from_millis(200)).await,
            }
        }
    }};
}

mod failover;
mod hostile;

/// Every Machine Running, every Volume Available, every NIC Available with all its IPs.
async fn shop_converged(w: &mut World) -> anyhow::Result<Option<String>> {
    let machines = w.list("Machine", Some("shop")).await?;
    if machines.len() != 4 {
        return Ok(Some(format!("{} machines", machines.len())));
    }
    if let Some(m) = machines.iter().find(|m| state(m) != "Running") {
        return Ok(Some(format!("machine {}: {}", name(m), m["status"])));
    }
    let volumes = w.list("Volume", Some("shop")).await?;
    if volumes.len() != 4 {
        return Ok(Some(format!(
            "{} volumes (db-data, staging, two roots)",
            volumes.len()
        )));
    }
    if let Some(v) = volumes.iter().find(|v| state(v) != "Available") {
        return Ok(Some(format!("volume {}: {}", name(v), v["status"])));
    }
    let nics = w.list("NetworkInterface", Some("shop")).await?;
    if nics.len() != 5 {
        return Ok(Some(format!("{} NICs", nics.len())));
    }
    for n in &nics {
        let want = n["spec"]["ips"].as_array().map_or(0, Vec::len);
        let got = n["status"]["ips"].as_array().map_or(0, Vec::len);
        if state(n) != "Available" || want == 0 || got != want {
            return Ok(Some(format!("NIC {}: {}", name(n), n["status"])));
        }
    }
    Ok(None)
}

async fn examples_converge_and_clean_up(w: &mut World) -> anyhow::Result<()> {
    let ex = workspace_root().join("examples");
    for dir in ["platform", "tenant"] {
        let out = w.cli(&["apply", "-f", ex.join(dir).to_str().unwrap_or_default()]);
        assert!(
            out.status.success(),
            "apply {dir}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let applied = now();
    eventually!(Duration::from_secs(10), w, shop_converged(w).await?);
    eprintln!("examples converged in {:?}", applied.elapsed());
    let bastion = w
        .get("Machine", "shop", "bastion")
        .await?
        .context("bastion")?;
    assert_eq!(
        bastion["spec"]["machinePoolRef"]["name"], "hv-zone-a",
        "the bastion does not tolerate hv-zone-b's NoSchedule taint"
    );
    for m in ["web-1", "web-2", "db-1", "bastion"] {
        let params = json!({"kind": "Machine", "namespace": "shop", "name": m});
        w.call("object.delete", params).await?;
    }
    eventually!(Duration::from_secs(15), w, {
        let machines = w.list("Machine", Some("shop")).await?.len();
        let roots = w.get("Volume", "shop", "web-1-root").await?.is_some();
        let nic = w
            .get("NetworkInterface", "shop", "web-1-primary")
            .await?
            .is_some();
        let held: usize = ["node-a", "node-b"]
            .iter()
            .map(|n| {
                w.node(n)
                    .held()
                    .iter()
                    .filter(|o| o["kind"] == "Machine")
                    .count()
            })
            .sum();
        let pool = w
            .get("MachinePool", "", "hv-zone-a")
            .await?
            .context("pool")?;
        let released = pool["status"]["allocatable"] == pool["status"]["capacity"]
            && pool["status"]["capacity"]
                .as_object()
                .is_some_and(|c| !c.is_empty());
        (machines > 0 || roots || nic || held > 0 || !released).then(|| {
            format!(
                "machines {machines}, web-1-root {roots}, web-1-primary {nic}, held {held}, pool {}",
                pool["status"]
            )
        })
    });
    let db = w
        .get("Volume", "shop", "db-data")
        .await?
        .context("db-data")?;
    assert!(db["spec"]["claimRef"].is_null(), "db-data released: {db}");
    Ok(())
}

fn quota_names_quota_and_resource(w: &World) -> anyhow::Result<()> {
    let manifest = w.cluster.dir().join("too-fast.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: too-fast\n  \
         namespace: shop\nspec:\n  volumeClassRef:\n    name: fast\n  resources:\n    storage: 300Gi\n",
    )?;
    let out = w.cli(&["apply", "-f", manifest.to_str().unwrap_or_default()]);
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "a 300Gi fast volume passed a 200Gi quota"
    );
    assert!(
        stderr.contains("shop-fast-storage") && stderr.contains("requests.storage"),
        "the error names the quota and the resource: {stderr}"
    );
    Ok(())
}

fn small_machine(ns: &str, name: &str, pool: Option<&str>, tolerations: &Value) -> Value {
    let mut spec = json!({
        "machineClassRef": {"name": "x86-small"},
        "tolerations": tolerations,
    });
    if let Some(p) = pool {
        spec["machinePoolRef"] = json!({"name": p});
    }
    json!({
        "apiVersion": "compute.ironcore.dev/v1alpha1",
        "kind": "Machine",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    })
}

async fn no_execute_evicts(w: &mut World) -> anyhow::Result<()> {
    let tolerates = json!([{"key": "drain", "operator": "Exists", "effect": "NoExecute"}]);
    for (m, tol) in [("victim", json!([])), ("survivor", tolerates)] {
        let object = small_machine("evict", m, Some("hv-zone-a"), &tol);
        w.call("object.create", json!({ "object": object })).await?;
    }
    eventually!(Duration::from_secs(10), w, {
        let ms = w.list("Machine", Some("evict")).await?;
        (ms.len() != 2 || ms.iter().any(|m| state(m) != "Running")).then(|| {
            format!(
                "{:?}",
                ms.iter()
                    .map(|m| (name(m).to_owned(), state(m).to_owned()))
                    .collect::<Vec<_>>()
            )
        })
    });
    let taint = json!({"spec": {"taints": [{"key": "drain", "effect": "NoExecute"}]}});
    let params = json!({"kind": "MachinePool", "name": "hv-zone-a", "patch": taint});
    w.call("object.patch", params).await?;
    eventually!(Duration::from_secs(10), w, {
        let victim = w.get("Machine", "evict", "victim").await?;
        victim.map(|v| format!("victim not evicted: {}", v["metadata"]))
    });
    let survivor = w.get("Machine", "evict", "survivor").await?;
    assert!(
        survivor
            .as_ref()
            .is_some_and(|s| s["metadata"]["deletionTimestamp"].is_null()),
        "the tolerating machine stays: {survivor:?}"
    );
    let untaint = json!({"spec": {"taints": null}});
    let params = json!({"kind": "MachinePool", "name": "hv-zone-a", "patch": untaint});
    w.call("object.patch", params).await?;
    let params = json!({"kind": "Machine", "namespace": "evict", "name": "survivor"});
    w.call("object.delete", params).await?;
    Ok(())
}

async fn stopped_node_goes_unknown(w: &mut World) -> anyhow::Result<()> {
    let ready =
        |p: &Value| condition(p, "Ready").and_then(|c| c["status"].as_str().map(str::to_owned));
    let b = w
        .get("MachinePool", "", "hv-zone-b")
        .await?
        .context("hv-zone-b")?;
    assert_eq!(ready(&b).as_deref(), Some("True"), "{}", b["status"]);
    w.nodes.get_mut("node-b").context("node-b")?.kill();
    let stopped = now();
    eventually!(Duration::from_secs(10), w, {
        let b = w
            .get("MachinePool", "", "hv-zone-b")
            .await?
            .context("hv-zone-b")?;
        (ready(&b).as_deref() != Some("Unknown")).then(|| format!("{}", b["status"]))
    });
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "Unknown only after the 2 s grace period: {took:?}"
    );
    let a = w
        .get("MachinePool", "", "hv-zone-a")
        .await?
        .context("hv-zone-a")?;
    assert_eq!(
        ready(&a).as_deref(),
        Some("True"),
        "node-a still heartbeats: {}",
        a["status"]
    );
    // Restarted, it comes back with the certificate it kept (no second join) and heartbeats.
    let b = w.nodes.get_mut("node-b").context("node-b")?;
    b.start()?;
    eventually!(Duration::from_secs(10), w, {
        let b = w
            .get("MachinePool", "", "hv-zone-b")
            .await?
            .context("hv-zone-b")?;
        (ready(&b).as_deref() != Some("True")).then(|| format!("{}", b["status"]))
    });
    let joins: usize = w
        .cluster
        .ids()
        .iter()
        .map(|id| {
            w.cluster
                .log(*id)
                .lines()
                .filter(|l| l.contains("node joined") && l.contains("node-b"))
                .count()
        })
        .sum();
    assert_eq!(joins, 1, "node-b joined once and reused its certificate");
    // Its fakes lost every machine: what it no longer reports is created again on it.
    let on_b: Vec<String> = w
        .list("Machine", Some("load"))
        .await?
        .iter()
        .filter(|m| m["spec"]["machinePoolRef"]["name"] == "hv-zone-b")
        .map(|m| m["metadata"]["uid"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!on_b.is_empty(), "some load machines were on hv-zone-b");
    eventually!(Duration::from_secs(15), w, {
        let held: Vec<String> = w
            .node("node-b")
            .held()
            .iter()
            .filter(|o| o["kind"] == "Machine" && o["state"] == "Running")
            .map(|o| o["uid"].as_str().unwrap_or("").to_owned())
            .collect();
        let missing = on_b.iter().filter(|u| !held.contains(u)).count();
        (missing > 0).then(|| format!("{missing} of {} not back on node-b", on_b.len()))
    });
    Ok(())
}

#[test]
fn control_plane_end_to_end() {
    let rt = ferrocore_runtime::build_runtime().expect("runtime");
    rt.block_on(async {
        let t0 = now();
        let mut w = World::start()
            .await
            .expect("3 controllers and 2 nodes (build the binary first: cargo build --bins)");
        eprintln!("cluster up in {:?}", t0.elapsed());
        examples_converge_and_clean_up(&mut w)
            .await
            .expect("examples");
        quota_names_quota_and_resource(&w).expect("quota");
        no_execute_evicts(&mut w).await.expect("eviction");
        hostile::hostile_node_changes_nothing(&mut w)
            .await
            .expect("hostile node");
        failover::leader_killed_mid_creation(&mut w)
            .await
            .expect("failover");
        stopped_node_goes_unknown(&mut w)
            .await
            .expect("stopped node");
        eprintln!("plane scenarios took {:?}", t0.elapsed());
    });
}
