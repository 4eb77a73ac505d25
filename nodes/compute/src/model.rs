//! The compute node's own model: the persisted machine record (desired state plus bookkeeping),
//! what a backend is asked to create (a [`DomainSpec`] with [`DiskSpec`]s and [`NicSpec`]s), and
//! what it observes ([`DomainObservation`]).

use std::path::PathBuf;

use base64::Engine as _;
use ferrocore_api::iri::machine::{
    Machine, MachineId, NIC_MAC_ADDRESS_ATTRIBUTE, NIC_TAP_DEVICE_ATTRIBUTE, NetworkInterface,
    Volume,
};
use serde::{Deserialize, Serialize};

/// A machine as the node keeps it: the IRI machine (spec, metadata, last status).
///
/// Persisted as JSON (`<state_dir>/machines/<id>/machine.json` on libvirt) so a restarted
/// runtime finds it again. Runtime-only timers are not part of it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct MachineRecord {
    /// The machine, with the status as last computed.
    pub machine: Machine,
}

impl MachineRecord {
    /// The machine's id.
    pub fn id(&self) -> &MachineId {
        &self.machine.metadata.id
    }

    /// Whether deletion was requested.
    pub fn deleting(&self) -> bool {
        self.machine.metadata.deleted_at.is_some()
    }

    /// The volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.machine.spec.volumes.iter().find(|v| v.name == name)
    }

    /// The network interface called `name`.
    pub fn nic(&self, name: &str) -> Option<&NetworkInterface> {
        self.machine
            .spec
            .network_interfaces
            .iter()
            .find(|n| n.name == name)
    }
}

/// The libvirt alias of a volume's disk: `ua-vol-<base64url(name)>` (aliases allow only
/// `[A-Za-z0-9_-]` after the `ua-` prefix, volume names allow more).
pub fn volume_alias(name: &str) -> String {
    format!("ua-vol-{}", b64(name))
}

/// The libvirt alias of a network interface: `ua-nic-<base64url(name)>`.
pub fn nic_alias(name: &str) -> String {
    format!("ua-nic-{}", b64(name))
}

fn b64(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes())
}

/// The guest-visible serial of a volume's disk: its name, cut to the 20 bytes virtio-blk
/// carries, with characters outside `[A-Za-z0-9._-]` replaced by `_`.
pub fn volume_serial(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(20)
        .collect()
}

/// The guest target device for an IRI device name: `oda` → `vda` (`v` + the rest), anything
/// not of the form `o<letters>` → `None`.
pub fn target_dev(device: &str) -> Option<String> {
    let rest = device.strip_prefix('o')?;
    let ok = rest.len() >= 2
        && rest.starts_with('d')
        && rest[1..].chars().all(|c| c.is_ascii_lowercase());
    ok.then(|| format!("v{rest}"))
}

/// The domain type: KVM or TCG.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum DomainType {
    /// `<domain type='kvm'>`.
    Kvm,
    /// `<domain type='qemu'>` (TCG).
    Qemu,
}

impl DomainType {
    /// The XML attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kvm => "kvm",
            Self::Qemu => "qemu",
        }
    }
}

/// How the guest boots.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum BootSpec {
    /// A kernel and initramfs booted directly (root disk optional).
    Kernel {
        /// Kernel image.
        kernel: PathBuf,
        /// Initramfs.
        initrd: PathBuf,
        /// Kernel command line.
        cmdline: String,
    },
    /// UEFI firmware (OVMF) booting the first disk.
    Uefi {
        /// OVMF code.
        loader: PathBuf,
    },
    /// Legacy BIOS booting the first disk.
    Bios,
}

/// Where a disk's bytes are.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum DiskSource {
    /// A file on this node.
    File {
        /// Path.
        path: PathBuf,
        /// `raw` or `qcow2`.
        format: &'static str,
    },
    /// A Ceph RBD image.
    Rbd {
        /// `pool/image`.
        image: String,
        /// Monitors as `host:port`.
        monitors: Vec<String>,
        /// cephx user (without `client.`).
        user: String,
        /// UUID of the libvirt secret holding the key.
        secret_uuid: String,
        /// The key's bytes (set into the secret before the disk is attached).
        key: Vec<u8>,
        /// LUKS2 passphrase secret, if the image is encrypted.
        encryption: Option<(String, Vec<u8>)>,
    },
}

/// A disk of a domain.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DiskSpec {
    /// The volume's name.
    pub volume: String,
    /// Libvirt alias ([`volume_alias`]).
    pub alias: String,
    /// Guest target (`vda`).
    pub target: String,
    /// Guest-visible serial ([`volume_serial`]).
    pub serial: String,
    /// The bytes.
    pub source: DiskSource,
    /// Cache mode.
    pub cache: String,
}

/// A network interface of a domain.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NicSpec {
    /// The interface's name.
    pub name: String,
    /// Libvirt alias ([`nic_alias`]).
    pub alias: String,
    /// TAP device made by the data plane, or `None` for user-mode networking.
    pub tap: Option<String>,
    /// MAC address, if the caller chose one.
    pub mac: Option<String>,
}

impl NicSpec {
    /// The NIC for an IRI network interface.
    pub fn from_iri(nic: &NetworkInterface) -> Self {
        Self {
            name: nic.name.clone(),
            alias: nic_alias(&nic.name),
            tap: nic.attributes.get(NIC_TAP_DEVICE_ATTRIBUTE).cloned(),
            mac: nic.attributes.get(NIC_MAC_ADDRESS_ATTRIBUTE).cloned(),
        }
    }

    /// The status handle: `tap/<dev>` or `user`.
    pub fn handle(&self) -> String {
        self.tap
            .as_ref()
            .map_or_else(|| "user".to_string(), |t| format!("tap/{t}"))
    }
}

/// Everything needed to start a domain.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DomainSpec {
    /// Name and UUID (the machine id).
    pub id: MachineId,
    /// Identity kept in the domain's metadata so a restarted runtime recognises it.
    pub metadata: DomainMetadata,
    /// KVM or TCG.
    pub domain_type: DomainType,
    /// QEMU machine type (`q35`).
    pub machine_type: String,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Boot method.
    pub boot: BootSpec,
    /// Disks in order (the root disk first).
    pub disks: Vec<DiskSpec>,
    /// Network interfaces.
    pub nics: Vec<NicSpec>,
    /// Ignition file passed through fw_cfg.
    pub ignition: Option<PathBuf>,
    /// Host name file passed through fw_cfg (`opt/ferrocore/hostname`).
    pub hostname: Option<(String, PathBuf)>,
    /// Serial console log file.
    pub console_log: PathBuf,
}

/// What the domain's metadata element records.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DomainMetadata {
    /// The machine id.
    pub id: MachineId,
    /// The machine's labels (includes the controller's uid label).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The run state of a domain as the backend sees it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum DomainRunState {
    /// Running (or booting).
    Running,
    /// Paused.
    Paused,
    /// Shutting down.
    ShuttingDown,
    /// Defined but off, or crashed.
    Off,
}

/// One attached disk as observed.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ObservedDisk {
    /// Libvirt alias (our `ua-vol-...`, or another alias for foreign devices).
    pub alias: String,
    /// Guest target.
    pub target: String,
    /// Capacity the guest sees.
    pub capacity_bytes: u64,
}

/// A domain as observed.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DomainObservation {
    /// The machine id (domain name).
    pub id: MachineId,
    /// The metadata, if the domain is ours.
    pub metadata: DomainMetadata,
    /// Run state.
    pub state: DomainRunState,
    /// Disks.
    pub disks: Vec<ObservedDisk>,
    /// NIC aliases.
    pub nics: Vec<String>,
}

/// Host resources for capacity.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct HostResources {
    /// Host CPUs.
    pub cpus: u32,
    /// Host memory in bytes.
    pub memory_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_map_and_aliases_are_safe() {
        assert_eq!(target_dev("oda").as_deref(), Some("vda"));
        assert_eq!(target_dev("odab").as_deref(), Some("vdab"));
        assert_eq!(target_dev("vda"), None);
        assert_eq!(target_dev("od"), None);
        assert_eq!(target_dev("od1"), None);
        let alias = volume_alias("my vol/1");
        assert!(
            alias[3..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(volume_alias("a"), nic_alias("a"));
        assert_eq!(
            volume_serial("data disk #1 with a long name"),
            "data_disk__1_with_a_"
        );
    }
}
