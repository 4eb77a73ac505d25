//! Choosing the domain type: KVM only where the CPU advertises hardware virtualisation (`vmx`
//! or `svm` in `/proc/cpuinfo`) AND a probe guest actually boots under it; TCG otherwise.
//!
//! The probe matters: some hosts expose `/dev/kvm` without usable hardware support (this
//! project's CI machines run a paravirtual KVM on which an unmodified guest crawls), and
//! libvirt itself would happily pick `kvm` there.

use std::path::Path;
use std::time::Duration;

use ferrocore_api::iri::machine::MachineId;

use crate::config::DomainTypeSetting;
use crate::model::{BootSpec, DomainMetadata, DomainSpec, DomainType};
use crate::{Host, LibvirtHost};

/// How long a KVM probe guest gets to print its first kernel line.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The decision, from the setting, the CPU flags and (lazily) a probe.
pub fn choose_domain_type(
    setting: DomainTypeSetting,
    cpuinfo: &str,
    probe_boots: impl FnOnce() -> bool,
) -> DomainType {
    match setting {
        DomainTypeSetting::Kvm => DomainType::Kvm,
        DomainTypeSetting::Qemu => DomainType::Qemu,
        DomainTypeSetting::Auto if cpu_has_virtualization(cpuinfo) && probe_boots() => {
            DomainType::Kvm
        }
        DomainTypeSetting::Auto => DomainType::Qemu,
    }
}

/// Whether a `flags` line of `/proc/cpuinfo` lists `vmx` (Intel) or `svm` (AMD).
pub fn cpu_has_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// Detects the domain type on this machine: reads `/proc/cpuinfo` and, if needed, boots the
/// kernel + initramfs under KVM and waits for its first console line.
pub fn detect_domain_type(
    setting: DomainTypeSetting,
    host: &LibvirtHost,
    kernel: &Path,
    initrd: &Path,
) -> DomainType {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    choose_domain_type(setting, &cpuinfo, || probe_kvm(host, kernel, initrd))
}

fn probe_kvm(host: &LibvirtHost, kernel: &Path, initrd: &Path) -> bool {
    let id = MachineId(format!("ferrocore-kvm-probe-{}", std::process::id()));
    let log = host.console_log_path(&id);
    let spec = DomainSpec {
        id: id.clone(),
        metadata: DomainMetadata {
            id: id.clone(),
            labels: Default::default(),
        },
        domain_type: DomainType::Kvm,
        machine_type: "q35".into(),
        vcpus: 1,
        memory_bytes: 256 << 20,
        boot: BootSpec::Kernel {
            kernel: kernel.to_path_buf(),
            initrd: initrd.to_path_buf(),
            cmdline: "console=ttyS0 panic=-1".into(),
        },
        disks: Vec::new(),
        nics: Vec::new(),
        ignition: None,
        hostname: None,
        console_log: log.clone(),
    };
    if host.create_domain(&spec).is_err() {
        let _ = host.remove_machine(&id);
        return false;
    }
    let polls = KVM_PROBE_TIMEOUT.as_millis() / 250;
    let mut booted = false;
    for _ in 0..polls {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Linux version") {
            booted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = host.destroy_domain(&id);
    let _ = host.remove_machine(&id);
    booted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_needs_flags_and_a_booting_probe() {
        let amd = "processor: 0\nflags\t\t: fpu vme svm sse\n";
        let none = "flags\t\t: fpu vme sse hypervisor\n";
        let auto = DomainTypeSetting::Auto;
        assert_eq!(choose_domain_type(auto, amd, || true), DomainType::Kvm);
        assert_eq!(choose_domain_type(auto, amd, || false), DomainType::Qemu);
        let mut probed = false;
        assert_eq!(
            choose_domain_type(auto, none, || {
                probed = true;
                true
            }),
            DomainType::Qemu
        );
        assert!(!probed, "no probe without the CPU flag");
        assert_eq!(
            choose_domain_type(DomainTypeSetting::Kvm, none, || false),
            DomainType::Kvm
        );
        assert_eq!(
            choose_domain_type(DomainTypeSetting::Qemu, amd, || true),
            DomainType::Qemu
        );
    }
}
