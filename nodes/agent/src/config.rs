//! The node's TOML config (docs/node-agent.md). Relative paths are relative to the config
//! file's directory. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrocore_api::iri::bucket::BucketClass;
use ferrocore_api::iri::protocol::{CLASSES_PER_POOL_MAX, NodeName, POOLS_PER_NODE_MAX};
use ferrocore_api::iri::volume::VolumeClass;
use ferrocore_node_compute::ClassConfig;
use ferrocore_runtime::TransportLimits;
use serde::{Deserialize, Serialize};

use crate::AgentError;

/// Which backends the node runs its pools on.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The node crates' fakes: real state kept in memory, impossible requests refused.
    #[default]
    Sim,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sim" => Ok(Self::Sim),
            other => Err(format!(
                "unknown backend {other:?}: only `sim` is available until the compute and \
                 storage nodes are wired into the agent"
            )),
        }
    }
}

/// A machine pool: a (simulated) hypervisor and the classes it offers.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MachinePoolConfig {
    /// The MachinePool's name.
    pub name: String,
    /// `spec.providerID` to claim (a pool declared beforehand); empty: `ferrocore://<node>/<pool>`.
    #[serde(default)]
    pub provider_id: String,
    /// Labels for the pool object (`topology.ironcore.dev/zone`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// CPUs of the simulated host.
    pub cpus: u32,
    /// Memory of the simulated host, MiB.
    pub memory_mib: u64,
    /// Boot images the simulated host has (`name[:tag]`).
    #[serde(default)]
    pub images: Vec<String>,
    /// Machine classes offered.
    pub classes: Vec<ClassConfig>,
}

/// A volume pool: a (simulated) block store and its classes.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolumePoolConfig {
    /// The VolumePool's name.
    pub name: String,
    /// `spec.providerID` to claim; empty: `ferrocore://<node>/<pool>`.
    #[serde(default)]
    pub provider_id: String,
    /// Labels for the pool object.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Capacity of the simulated store, GiB.
    pub capacity_gib: u64,
    /// OS images volumes can be made from (`image` references).
    #[serde(default)]
    pub images: Vec<String>,
    /// Volume classes offered.
    pub classes: Vec<VolumeClass>,
}

/// A bucket pool: a (simulated) object store and its classes.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BucketPoolConfig {
    /// The BucketPool's name.
    pub name: String,
    /// `spec.providerID` to claim; empty: `ferrocore://<node>/<pool>`.
    #[serde(default)]
    pub provider_id: String,
    /// Labels for the pool object.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Bucket classes offered.
    pub classes: Vec<BucketClass>,
}

/// The node's configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name (a DNS label); its certificate is `node:<name>`.
    pub name: String,
    /// Controller addresses (`host:port`); the node finds the leader among them.
    pub controllers: Vec<String>,
    /// The TLS name in the controllers' certificates.
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// The cluster CA certificate.
    pub ca: PathBuf,
    /// The bootstrap token (used once, to obtain the certificate).
    #[serde(default)]
    pub token: String,
    /// Where the node keeps its certificate, key and state.
    pub state_dir: PathBuf,
    /// The backend (`--backend` overrides it).
    #[serde(default)]
    pub backend: Backend,
    /// How often the node heartbeats (upstream 10 s).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// First pause between connection attempts (doubles up to 10 s).
    #[serde(default = "default_reconnect_ms")]
    pub reconnect_ms: u64,
    /// How often held objects are polled for changes (upstream's relist: 5 s).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// QUIC limits.
    #[serde(default)]
    pub transport: TransportLimits,
    /// Machine pools.
    #[serde(default)]
    pub machine_pools: Vec<MachinePoolConfig>,
    /// Volume pools.
    #[serde(default)]
    pub volume_pools: Vec<VolumePoolConfig>,
    /// Bucket pools.
    #[serde(default)]
    pub bucket_pools: Vec<BucketPoolConfig>,
}

fn default_server_name() -> String {
    "ferrocore".into()
}

fn default_heartbeat_ms() -> u64 {
    10_000
}

fn default_reconnect_ms() -> u64 {
    500
}

fn default_poll_ms() -> u64 {
    1_000
}

impl NodeConfig {
    /// Reads `path`, resolves relative paths against its directory and checks it.
    ///
    /// # Errors
    /// [`AgentError::Config`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, AgentError> {
        let fail = |reason: String| AgentError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut config: Self = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        for p in [&mut config.ca, &mut config.state_dir] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        config.check().map_err(fail)?;
        Ok(config)
    }

    /// Checks names and bounds.
    ///
    /// # Errors
    /// A message naming the first problem.
    pub fn check(&self) -> Result<(), String> {
        let name = NodeName(self.name.clone());
        if !name.is_valid() || self.name.len() > 63 || self.name.contains('.') {
            return Err(format!("name {:?} is not a DNS label", self.name));
        }
        if self.controllers.is_empty() {
            return Err("controllers: at least one address is needed".into());
        }
        if self.heartbeat_interval_ms == 0 || self.poll_interval_ms == 0 {
            return Err("heartbeat_interval_ms and poll_interval_ms must be positive".into());
        }
        let pools = self.machine_pools.len() + self.volume_pools.len() + self.bucket_pools.len();
        if pools == 0 || pools > POOLS_PER_NODE_MAX {
            return Err(format!(
                "a node serves 1..={POOLS_PER_NODE_MAX} pools, not {pools}"
            ));
        }
        let too_many = self
            .machine_pools
            .iter()
            .any(|p| p.classes.len() > CLASSES_PER_POOL_MAX)
            || self
                .volume_pools
                .iter()
                .any(|p| p.classes.len() > CLASSES_PER_POOL_MAX)
            || self
                .bucket_pools
                .iter()
                .any(|p| p.classes.len() > CLASSES_PER_POOL_MAX);
        if too_many {
            return Err(format!(
                "a pool offers at most {CLASSES_PER_POOL_MAX} classes"
            ));
        }
        Ok(())
    }

    /// The node's name.
    pub fn node_name(&self) -> NodeName {
        NodeName(self.name.clone())
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// The poll interval.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The first reconnect pause.
    pub fn reconnect(&self) -> Duration {
        Duration::from_millis(self.reconnect_ms.max(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"
name = "node-1"
controllers = ["127.0.0.1:7700"]
ca = "ca.crt"
token = "secret"
state_dir = "state"
heartbeat_interval_ms = 500

[[machine_pools]]
name = "hv-zone-a"
labels = { "topology.ironcore.dev/zone" = "eu-central-a" }
cpus = 16
memory_mib = 65536
images = ["gardenlinux:rootfs-image"]
classes = [{ name = "x86-small", cpu = 1, memory_mib = 1024 }]

[[volume_pools]]
name = "ceph-zone-a"
capacity_gib = 1024
classes = [{ name = "fast", capabilities = { tps = 524288000, iops = 10000 } }]

[[bucket_pools]]
name = "rgw-zone-a"
classes = [{ name = "standard", capabilities = { tps = 104857600, iops = 500 } }]
"#;

    #[test]
    fn a_config_parses_and_checks() {
        let c: NodeConfig = toml::from_str(SAMPLE).unwrap();
        c.check().unwrap();
        assert_eq!(c.backend, Backend::Sim);
        assert_eq!(c.heartbeat(), Duration::from_millis(500));
        assert_eq!(c.machine_pools[0].classes[0].memory_mib, 1024);
        let bad: NodeConfig = toml::from_str(&SAMPLE.replace("node-1", "Node_1")).unwrap();
        assert!(bad.check().is_err());
        assert!(toml::from_str::<NodeConfig>(&format!("{SAMPLE}\nbogus = 1")).is_err());
        assert!("libvirt".parse::<Backend>().is_err());
    }
}
