//! The compute node's configuration (the `[compute]` part of the node's TOML file): machine
//! classes, where state lives, how domains look and how long a guest gets to shut down.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ferrocore_api::iri::machine::{
    CAPABILITY_CPU, CAPABILITY_MEMORY, MachineClass, MachineClassName,
};
use serde::{Deserialize, Serialize};

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML text does not parse or has unknown fields.
    #[error("Invalid compute config")]
    Parse(#[from] toml::de::Error),
    /// A class is defined twice or has zero CPUs or memory.
    #[error("Invalid machine class {0:?}: {1}")]
    Class(String, &'static str),
}

/// Which libvirt domain type guests get.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainTypeSetting {
    /// KVM where `/proc/cpuinfo` has vmx/svm and a probe guest boots; TCG otherwise.
    #[default]
    Auto,
    /// Hardware virtualisation (`<domain type='kvm'>`).
    Kvm,
    /// Software emulation, TCG (`<domain type='qemu'>`).
    Qemu,
}

/// One machine class: what a machine of it gets.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// Class name, as machines name it.
    pub name: String,
    /// Virtual CPUs.
    pub cpu: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}

/// The compute node's configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// Where machines, images and logs live (`/var/lib/ferrocore/compute`). Must be traversable
    /// by the `libvirt-qemu` user (libvirt runs QEMU as that user).
    pub state_dir: PathBuf,
    /// libvirt connection URI.
    pub libvirt_uri: String,
    /// Domain type (auto-detected by default).
    pub domain_type: DomainTypeSetting,
    /// QEMU machine type.
    pub machine_type: String,
    /// Seconds a guest gets to power off after the ACPI power button before it is destroyed.
    pub shutdown_grace_seconds: u64,
    /// Memory (MiB) kept back for the host when computing capacity.
    pub reserved_memory_mib: u64,
    /// CPUs kept back for the host when computing capacity.
    pub reserved_cpus: u32,
    /// vCPUs per host CPU the node may hand out (1 = no overcommit).
    pub cpu_overcommit: u32,
    /// Disk cache mode for volumes (`none`, `writeback`, ...).
    pub volume_cache: String,
    /// OVMF firmware code for UEFI images (first existing path wins).
    pub ovmf_code: Vec<PathBuf>,
    /// Kernel command line for images that boot a kernel directly, unless the image names one.
    pub default_cmdline: String,
    /// Machine classes this node offers.
    pub classes: Vec<ClassConfig>,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("/var/lib/ferrocore/compute"),
            libvirt_uri: "qemu:///system".into(),
            domain_type: DomainTypeSetting::Auto,
            machine_type: "q35".into(),
            shutdown_grace_seconds: 60,
            reserved_memory_mib: 512,
            reserved_cpus: 0,
            cpu_overcommit: 4,
            volume_cache: "none".into(),
            ovmf_code: vec![
                PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd"),
                PathBuf::from("/usr/share/OVMF/OVMF_CODE.fd"),
            ],
            default_cmdline: "console=ttyS0 panic=-1 loglevel=4".into(),
            classes: Vec::new(),
        }
    }
}

impl ComputeConfig {
    /// Parses the `[compute]` table's TOML text and checks the classes.
    ///
    /// # Errors
    /// [`ConfigError`] when the text does not parse or a class is invalid.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.classes()?;
        Ok(config)
    }

    /// The classes by name, checked.
    ///
    /// # Errors
    /// [`ConfigError::Class`] for a duplicate name or a zero CPU or memory.
    pub fn classes(&self) -> Result<MachineClasses, ConfigError> {
        let mut by_name = BTreeMap::new();
        for class in &self.classes {
            if class.cpu == 0 || class.memory_mib == 0 {
                return Err(ConfigError::Class(
                    class.name.clone(),
                    "cpu and memory must be > 0",
                ));
            }
            let name = MachineClassName(class.name.clone());
            if by_name.insert(name, class.clone()).is_some() {
                return Err(ConfigError::Class(class.name.clone(), "defined twice"));
            }
        }
        Ok(MachineClasses { by_name })
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// The node's machine classes, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineClasses {
    by_name: BTreeMap<MachineClassName, ClassConfig>,
}

impl MachineClasses {
    /// The class called `name`.
    pub fn get(&self, name: &MachineClassName) -> Option<&ClassConfig> {
        self.by_name.get(name)
    }

    /// All classes, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&MachineClassName, &ClassConfig)> {
        self.by_name.iter()
    }
}

impl ClassConfig {
    /// Memory in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib.saturating_mul(1 << 20)
    }

    /// The class as the IRI describes it.
    pub fn to_iri(&self) -> MachineClass {
        let memory = i64::try_from(self.memory_bytes()).unwrap_or(i64::MAX);
        MachineClass {
            name: MachineClassName(self.name.clone()),
            capabilities: BTreeMap::from([
                (CAPABILITY_CPU.to_string(), i64::from(self.cpu)),
                (CAPABILITY_MEMORY.to_string(), memory),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_classes_and_defaults() {
        let cfg = ComputeConfig::from_toml(
            r#"
            domain_type = "qemu"
            shutdown_grace_seconds = 5
            [[classes]]
            name = "t3-small"
            cpu = 2
            memory_mib = 2048
            "#,
        )
        .unwrap();
        assert_eq!(cfg.domain_type, DomainTypeSetting::Qemu);
        assert_eq!(cfg.machine_type, "q35");
        let classes = cfg.classes().unwrap();
        let small = classes.get(&MachineClassName("t3-small".into())).unwrap();
        assert_eq!(small.memory_bytes(), 2 << 30);
        assert_eq!(small.to_iri().capabilities[CAPABILITY_CPU], 2);
    }

    #[test]
    fn rejects_duplicate_and_empty_classes() {
        let dup = "[[classes]]\nname='a'\ncpu=1\nmemory_mib=1\n[[classes]]\nname='a'\ncpu=1\nmemory_mib=1";
        assert!(matches!(
            ComputeConfig::from_toml(dup),
            Err(ConfigError::Class(..))
        ));
        let zero = "[[classes]]\nname='a'\ncpu=0\nmemory_mib=1";
        assert!(ComputeConfig::from_toml(zero).is_err());
        assert!(ComputeConfig::from_toml("bogus = 1").is_err());
    }
}
