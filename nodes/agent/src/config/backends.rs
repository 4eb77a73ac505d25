//! The per-pool tables of `backend = "real"`: where each pool's real service is and how to
//! reach it (docs/node-agent.md, "Backends").

use std::path::{Path, PathBuf};

use ferrocore_node_compute::DomainTypeSetting;
use serde::{Deserialize, Serialize};

/// A machine pool's libvirt host (`[machine_pools.libvirt]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibvirtConfig {
    /// libvirt connection URI.
    pub uri: String,
    /// Machines, logs and the image store (`<state_dir>/compute/<pool>` when empty). Must be
    /// traversable by the user libvirt runs QEMU as (`libvirt-qemu`).
    pub state_dir: PathBuf,
    /// `auto` (KVM where the CPU has vmx/svm and a probe guest boots), `kvm` or `qemu` (TCG).
    pub domain_type: DomainTypeSetting,
    /// Disk cache mode for remote volumes (`none` needs O_DIRECT; `writeback` works anywhere).
    pub volume_cache: String,
    /// Memory (MiB) kept back for the host when computing capacity.
    pub reserved_memory_mib: u64,
    /// vCPUs per host CPU the pool may hand out.
    pub cpu_overcommit: u32,
    /// Seconds a guest gets to power off before it is destroyed.
    pub shutdown_grace_seconds: u64,
    /// Boot images imported into the image store at start (idempotent: content-addressed).
    pub images: Vec<ImageImport>,
}

impl Default for LibvirtConfig {
    fn default() -> Self {
        Self {
            uri: "qemu:///system".into(),
            state_dir: PathBuf::new(),
            domain_type: DomainTypeSetting::Auto,
            volume_cache: "none".into(),
            reserved_memory_mib: 512,
            cpu_overcommit: 4,
            shutdown_grace_seconds: 60,
            images: Vec::new(),
        }
    }
}

/// One boot image to import (`[[machine_pools.libvirt.images]]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageImport {
    /// The name machines use (`name[:tag]`).
    pub name: String,
    /// The root disk (raw or qcow2): a file, or an `http(s)://` URL.
    pub disk: String,
    /// A kernel to boot directly (with `initrd`); absent: firmware boots the disk.
    #[serde(default)]
    pub kernel: Option<String>,
    /// The initramfs for `kernel`.
    #[serde(default)]
    pub initrd: Option<String>,
    /// Kernel command line (the compute node's default when absent).
    #[serde(default)]
    pub cmdline: Option<String>,
    /// Firmware boot with UEFI (OVMF) rather than BIOS (only without `kernel`).
    #[serde(default)]
    pub uefi: bool,
}

/// A volume pool on raw files (`[volume_pools.local]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalVolumeConfig {
    /// Where the files live (`<state_dir>/volumes/<pool>` when empty). Must be traversable by
    /// `libvirt-qemu` when machines on this node attach them.
    pub dir: PathBuf,
    /// Where OS images named by Volumes (`spec.image`) are found.
    pub image_dir: Option<PathBuf>,
}

/// A volume pool on Ceph RBD (`[volume_pools.ceph]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CephVolumeConfig {
    /// `ceph.conf` (monitors, keyring).
    pub conf: PathBuf,
    /// The node's cephx user.
    #[serde(default = "default_ceph_user")]
    pub user: String,
    /// The RBD pool (must exist).
    pub pool: String,
    /// The cephx user handed to machines in `status.access`.
    #[serde(default = "default_ceph_client_user")]
    pub client_user: String,
    /// Monitor addresses handed to machines (`host:port[,host:port]`).
    pub monitors: String,
    /// Where OS images named by Volumes are found.
    #[serde(default)]
    pub image_dir: Option<PathBuf>,
}

fn default_ceph_user() -> String {
    "admin".into()
}

fn default_ceph_client_user() -> String {
    "volumes".into()
}

/// A bucket pool on RGW (`[bucket_pools.rgw]`).
#[derive(Clone, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RgwConfig {
    /// `http://host:port`.
    pub endpoint: String,
    /// The RGW admin user's access key.
    pub access_key: String,
    /// The RGW admin user's secret key.
    pub secret_key: String,
}

impl std::fmt::Debug for RgwConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgwConfig")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Makes `p` absolute against `base` (empty stays empty: "use the default").
pub(super) fn resolve(base: &Path, p: &mut PathBuf) {
    if !p.as_os_str().is_empty() && p.is_relative() {
        *p = base.join(&*p);
    }
}

/// Makes a file path given as a string absolute against `base` (URLs stay as they are).
pub(super) fn resolve_source(base: &Path, s: &mut String) {
    if !s.contains("://") && Path::new(s.as_str()).is_relative() {
        *s = base.join(s.as_str()).display().to_string();
    }
}
