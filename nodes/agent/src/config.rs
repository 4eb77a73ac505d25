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

mod backends;

pub use backends::{CephVolumeConfig, ImageImport, LibvirtConfig, LocalVolumeConfig, RgwConfig};

/// Which backends the node runs its pools on.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The node crates' fakes: real state kept in memory, impossible requests refused.
    #[default]
    Sim,
    /// Real backends: libvirt for machine pools, local files or Ceph RBD for volume pools, RGW
    /// for bucket pools (each pool's `[*.libvirt]`, `[*.local]`, `[*.ceph]`, `[*.rgw]` table).
    Real,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sim" => Ok(Self::Sim),
            "real" => Ok(Self::Real),
            other => Err(format!("unknown backend {other:?}: `sim` or `real`")),
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
    /// CPUs of the simulated host (`sim` only; the real host's are counted).
    #[serde(default)]
    pub cpus: u32,
    /// Memory of the simulated host, MiB (`sim` only).
    #[serde(default)]
    pub memory_mib: u64,
    /// Boot images the simulated host has (`name[:tag]`; `sim` only).
    #[serde(default)]
    pub images: Vec<String>,
    /// Machine classes offered.
    pub classes: Vec<ClassConfig>,
    /// The libvirt host (`real`; defaults when absent).
    #[serde(default)]
    pub libvirt: Option<LibvirtConfig>,
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
    /// Capacity of the simulated store, GiB (`sim` only).
    #[serde(default)]
    pub capacity_gib: u64,
    /// OS images volumes can be made from (`image` references).
    #[serde(default)]
    pub images: Vec<String>,
    /// Volume classes offered.
    pub classes: Vec<VolumeClass>,
    /// Raw files on this node (`real`; the default when neither `local` nor `ceph` is set).
    #[serde(default)]
    pub local: Option<LocalVolumeConfig>,
    /// Ceph RBD images (`real`).
    #[serde(default)]
    pub ceph: Option<CephVolumeConfig>,
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
    /// The RGW endpoint (`real`: required).
    #[serde(default)]
    pub rgw: Option<RgwConfig>,
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
        config.resolve_backend_paths(base);
        config.check().map_err(fail)?;
        Ok(config)
    }

    /// Resolves the backend tables' relative paths against `base` (the file's directory).
    fn resolve_backend_paths(&mut self, base: &Path) {
        for p in &mut self.machine_pools {
            if let Some(l) = &mut p.libvirt {
                backends::resolve(base, &mut l.state_dir);
                for i in &mut l.images {
                    backends::resolve_source(base, &mut i.disk);
                    for s in [&mut i.kernel, &mut i.initrd].into_iter().flatten() {
                        backends::resolve_source(base, s);
                    }
                }
            }
        }
        for p in &mut self.volume_pools {
            if let Some(l) = &mut p.local {
                backends::resolve(base, &mut l.dir);
                if let Some(d) = &mut l.image_dir {
                    backends::resolve(base, d);
                }
            }
            if let Some(c) = &mut p.ceph {
                backends::resolve(base, &mut c.conf);
                if let Some(d) = &mut c.image_dir {
                    backends::resolve(base, d);
                }
            }
        }
    }

    /// Checks what `backend` needs of the pools: a simulated host's size, one volume backend
    /// per volume pool, an RGW endpoint per bucket pool on `real`.
    ///
    /// # Errors
    /// A message naming the pool and the missing setting.
    pub fn check_backend(&self, backend: Backend) -> Result<(), String> {
        match backend {
            Backend::Sim => {
                if let Some(p) = self
                    .machine_pools
                    .iter()
                    .find(|p| p.cpus == 0 || p.memory_mib == 0)
                {
                    return Err(format!(
                        "machine pool {}: `cpus` and `memory_mib` (the simulated host) are \
                         required on the sim backend",
                        p.name
                    ));
                }
            }
            Backend::Real => {
                if let Some(p) = self
                    .volume_pools
                    .iter()
                    .find(|p| p.local.is_some() && p.ceph.is_some())
                {
                    return Err(format!(
                        "volume pool {}: set either [local] or [ceph], not both",
                        p.name
                    ));
                }
                if let Some(p) = self.bucket_pools.iter().find(|p| p.rgw.is_none()) {
                    return Err(format!(
                        "bucket pool {}: the real backend needs [bucket_pools.rgw] \
                         (endpoint, access_key, secret_key)",
                        p.name
                    ));
                }
            }
        }
        Ok(())
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
        assert_eq!("real".parse::<Backend>(), Ok(Backend::Real));
        c.check_backend(Backend::Sim).unwrap();
        assert!(
            c.check_backend(Backend::Real)
                .unwrap_err()
                .contains("rgw-zone-a")
        );
    }

    const REAL: &str = r#"
name = "node-1"
controllers = ["127.0.0.1:7700"]
ca = "ca.crt"
state_dir = "state"
backend = "real"

[[machine_pools]]
name = "hv"
classes = [{ name = "small", cpu = 1, memory_mib = 256 }]
[machine_pools.libvirt]
state_dir = "compute"
domain_type = "qemu"
images = [{ name = "guest:latest", disk = "guest/root.raw", kernel = "/boot/vmlinuz", initrd = "guest/initrd.gz" }]

[[volume_pools]]
name = "files"
classes = [{ name = "fast", capabilities = { tps = 1, iops = 1 } }]
local = { dir = "volumes" }

[[volume_pools]]
name = "rbd"
classes = [{ name = "fast", capabilities = { tps = 1, iops = 1 } }]
ceph = { conf = "/etc/ceph/ceph.conf", pool = "rbd", monitors = "127.0.0.1:6789" }
"#;

    #[test]
    fn a_real_config_resolves_paths_and_checks() {
        let dir = std::env::temp_dir().join(format!("agent-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.toml");
        std::fs::write(&path, REAL).unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.backend, Backend::Real);
        c.check_backend(Backend::Real).unwrap();
        assert!(c.check_backend(Backend::Sim).unwrap_err().contains("hv"));
        let l = c.machine_pools[0].libvirt.as_ref().unwrap();
        assert_eq!(l.state_dir, dir.join("compute"));
        assert_eq!(l.uri, "qemu:///system");
        assert_eq!(
            l.images[0].disk,
            dir.join("guest/root.raw").display().to_string()
        );
        assert_eq!(l.images[0].kernel.as_deref(), Some("/boot/vmlinuz"));
        let local = c.volume_pools[0].local.as_ref().unwrap();
        assert_eq!(local.dir, dir.join("volumes"));
        assert_eq!(c.volume_pools[1].ceph.as_ref().unwrap().user, "admin");
        let both = REAL.replace(
            "local = { dir = \"volumes\" }",
            "local = { dir = \"volumes\" }\nceph = { conf = \"c\", pool = \"p\", monitors = \"m\" }",
        );
        let both: NodeConfig = toml::from_str(&both).unwrap();
        assert!(both.check_backend(Backend::Real).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
