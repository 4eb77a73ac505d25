//! Capacity per machine class: host resources minus what the machines that should run use.
//! Pure arithmetic over the class table and the records.

use ferrocore_api::iri::machine::{MachineClassStatus, Power};

use crate::config::MachineClasses;
use crate::model::{HostResources, MachineRecord};

/// Resource knobs for the computation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CapacityPolicy {
    /// CPUs kept for the host.
    pub(crate) reserved_cpus: u32,
    /// Memory kept for the host.
    pub(crate) reserved_memory_bytes: u64,
    /// vCPUs per host CPU.
    pub(crate) cpu_overcommit: u32,
}

/// How many more machines of each class fit. Machines count while they should run (power on,
/// not deleting); a machine of an unknown class (a class removed from the config) counts
/// nothing, as it cannot be started again either.
pub(crate) fn class_status<'a>(
    classes: &MachineClasses,
    host: HostResources,
    policy: CapacityPolicy,
    records: impl Iterator<Item = &'a MachineRecord>,
) -> Vec<MachineClassStatus> {
    let mut used_vcpus: u64 = 0;
    let mut used_memory: u64 = 0;
    for rec in records {
        if rec.deleting() || rec.machine.spec.power == Power::Off {
            continue;
        }
        if let Some(class) = classes.get(&rec.machine.spec.class) {
            used_vcpus += u64::from(class.cpu);
            used_memory += class.memory_bytes();
        }
    }
    let vcpus = u64::from(host.cpus.saturating_sub(policy.reserved_cpus))
        * u64::from(policy.cpu_overcommit.max(1));
    let free_vcpus = vcpus.saturating_sub(used_vcpus);
    let free_memory = host
        .memory_bytes
        .saturating_sub(policy.reserved_memory_bytes)
        .saturating_sub(used_memory);
    classes
        .iter()
        .map(|(_, class)| {
            let by_cpu = free_vcpus / u64::from(class.cpu.max(1));
            let by_memory = free_memory / class.memory_bytes().max(1);
            MachineClassStatus {
                machine_class: class.to_iri(),
                quantity: i64::try_from(by_cpu.min(by_memory)).unwrap_or(i64::MAX),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::machine::{Machine, MachineClassName};

    use super::*;
    use crate::config::{ClassConfig, ComputeConfig};

    #[test]
    fn running_machines_reduce_capacity_stopped_ones_do_not() {
        let cfg = ComputeConfig {
            classes: vec![ClassConfig {
                name: "small".into(),
                cpu: 1,
                memory_mib: 1024,
            }],
            ..ComputeConfig::default()
        };
        let classes = cfg.classes().unwrap();
        let host = HostResources {
            cpus: 2,
            memory_bytes: 4 << 30,
        };
        let policy = CapacityPolicy {
            reserved_cpus: 0,
            reserved_memory_bytes: 0,
            cpu_overcommit: 1,
        };
        let mut m = Machine::default();
        m.spec.class = MachineClassName("small".into());
        let on = MachineRecord { machine: m.clone() };
        let mut off = MachineRecord { machine: m };
        off.machine.spec.power = Power::Off;
        let none = class_status(&classes, host, policy, std::iter::empty());
        assert_eq!(none[0].quantity, 2);
        let one = class_status(&classes, host, policy, [&on, &off].into_iter());
        assert_eq!(one[0].quantity, 1);
    }
}
