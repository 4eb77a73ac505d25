//! The sans-IO core: from a machine's desired state and its observed domain, the actions that
//! bring them together, and the status to report. No I/O, no clock: time comes in as `now`.
//!
//! ```text
//!   MachineRecord (desired) ─┐
//!   DomainObservation ───────┼─► plan() ─► [Action]  ─► runtime executes on the Host
//!   now, shutdown_since ─────┘    status() ─► MachineStatus fields
//! ```

use std::time::Duration;

use ferrocore_api::iri::machine::{
    MachineState, NetworkInterfaceState, NetworkInterfaceStatus, Power, VolumeState, VolumeStatus,
};
use ferrocore_runtime::MonoTime;

use crate::model::{
    DomainObservation, DomainRunState, MachineRecord, NicSpec, nic_alias, target_dev, volume_alias,
};

/// One step toward the desired state.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Action {
    /// Prepare disks and start the domain.
    CreateDomain,
    /// Press the ACPI power button (the runtime records when).
    Shutdown,
    /// Pull the plug (the guest ignored the power button for the grace period).
    Destroy,
    /// Hot-plug the volume with this name.
    AttachVolume(String),
    /// Hot-unplug a disk no volume asks for.
    DetachDisk {
        /// Its alias.
        alias: String,
    },
    /// Grow a disk online.
    ResizeDisk {
        /// Guest target.
        target: String,
        /// New size.
        bytes: u64,
    },
    /// Hot-plug the interface with this name.
    AttachNic(String),
    /// Hot-unplug an interface nothing asks for.
    DetachNic {
        /// Its alias.
        alias: String,
    },
    /// The domain is gone and deletion was asked: remove files and the record.
    Finalize,
    /// Nothing to do until the guest powers off or the grace period ends.
    WaitForShutdown,
}

/// What `plan` looks at.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// Now, on the runtime's monotonic clock.
    pub now: MonoTime,
    /// Desired state.
    pub record: &'a MachineRecord,
    /// The machine's domain, if one exists.
    pub observed: Option<&'a DomainObservation>,
    /// When the runtime pressed the power button, if it did and the domain still runs.
    pub shutdown_since: Option<MonoTime>,
    /// How long a guest gets after the power button.
    pub grace: Duration,
    /// Creation is blocked by a missing image or volume (a condition says which): do not try.
    pub create_blocked: bool,
}

/// The actions that move the machine toward its desired state, in order. Empty: converged.
pub fn plan(input: &PlanInput<'_>) -> Vec<Action> {
    let rec = input.record;
    let want_running = !rec.deleting() && rec.machine.spec.power == Power::On;
    let Some(obs) = input.observed else {
        if rec.deleting() {
            return vec![Action::Finalize];
        }
        if want_running && !input.create_blocked {
            return vec![Action::CreateDomain];
        }
        return Vec::new();
    };
    if !want_running {
        return stop(input, obs);
    }
    match obs.state {
        DomainRunState::Running | DomainRunState::Paused => devices(rec, obs),
        // A transient domain that stopped on its own: remove it, the next pass creates it again.
        DomainRunState::Off => vec![Action::Destroy],
        DomainRunState::ShuttingDown => vec![Action::WaitForShutdown],
    }
}

fn stop(input: &PlanInput<'_>, obs: &DomainObservation) -> Vec<Action> {
    if obs.state == DomainRunState::Off || obs.state == DomainRunState::Paused {
        return vec![Action::Destroy];
    }
    match input.shutdown_since {
        None => vec![Action::Shutdown],
        Some(since) if input.now.saturating_since(since) >= input.grace => vec![Action::Destroy],
        Some(_) => vec![Action::WaitForShutdown],
    }
}

/// Device differences of a running domain: detach what is extra, attach what is missing,
/// grow what is smaller than asked. Only our own aliases are touched.
fn devices(rec: &MachineRecord, obs: &DomainObservation) -> Vec<Action> {
    let spec = &rec.machine.spec;
    let mut actions = Vec::new();
    for disk in obs.disks.iter().filter(|d| d.alias.starts_with("ua-vol-")) {
        if !spec
            .volumes
            .iter()
            .any(|v| volume_alias(&v.name) == disk.alias)
        {
            actions.push(Action::DetachDisk {
                alias: disk.alias.clone(),
            });
        }
    }
    for nic in obs.nics.iter().filter(|a| a.starts_with("ua-nic-")) {
        if !spec
            .network_interfaces
            .iter()
            .any(|n| nic_alias(&n.name) == *nic)
        {
            actions.push(Action::DetachNic { alias: nic.clone() });
        }
    }
    for vol in &spec.volumes {
        let alias = volume_alias(&vol.name);
        match obs.disks.iter().find(|d| d.alias == alias) {
            None => actions.push(Action::AttachVolume(vol.name.clone())),
            Some(disk) => {
                let want = vol
                    .connection
                    .as_ref()
                    .map_or(0, |c| c.effective_storage_bytes);
                if want > disk.capacity_bytes {
                    actions.push(Action::ResizeDisk {
                        target: disk.target.clone(),
                        bytes: want,
                    });
                }
            }
        }
    }
    for nic in &spec.network_interfaces {
        if !obs.nics.contains(&nic_alias(&nic.name)) {
            actions.push(Action::AttachNic(nic.name.clone()));
        }
    }
    actions
}

/// The lifecycle state to report.
pub fn machine_state(rec: &MachineRecord, observed: Option<&DomainObservation>) -> MachineState {
    let on = rec.machine.spec.power == Power::On;
    match (observed.map(|o| o.state), rec.deleting(), on) {
        (None, true, _) => MachineState::Terminated,
        (Some(_), true, _) => MachineState::Terminating,
        (None, false, true) => MachineState::Pending,
        (None, false, false) => MachineState::Stopped,
        (Some(DomainRunState::Running), false, true) => MachineState::Running,
        (Some(DomainRunState::Paused), false, true) => MachineState::Suspended,
        (Some(_), false, false) | (Some(DomainRunState::ShuttingDown), false, true) => {
            MachineState::Terminating
        }
        (Some(DomainRunState::Off), false, true) => MachineState::Pending,
    }
}

/// Per-volume status: attached when the domain carries the disk.
pub fn volume_status(
    rec: &MachineRecord,
    observed: Option<&DomainObservation>,
) -> Vec<VolumeStatus> {
    rec.machine
        .spec
        .volumes
        .iter()
        .map(|vol| {
            let alias = volume_alias(&vol.name);
            let disk = observed.and_then(|o| o.disks.iter().find(|d| d.alias == alias));
            let handle = match (&vol.connection, &vol.local_disk) {
                (Some(c), _) => format!("{}/{}", c.driver, c.handle),
                (None, _) => format!("local-disk/{}", target_dev(&vol.device).unwrap_or_default()),
            };
            VolumeStatus {
                name: vol.name.clone(),
                handle,
                state: if disk.is_some() {
                    VolumeState::Attached
                } else {
                    VolumeState::Pending
                },
                size_bytes: disk.map_or(0, |d| d.capacity_bytes),
            }
        })
        .collect()
}

/// Per-interface status.
pub fn nic_status(
    rec: &MachineRecord,
    observed: Option<&DomainObservation>,
) -> Vec<NetworkInterfaceStatus> {
    rec.machine
        .spec
        .network_interfaces
        .iter()
        .map(|nic| {
            let spec = NicSpec::from_iri(nic);
            let attached = observed.is_some_and(|o| o.nics.contains(&spec.alias));
            NetworkInterfaceStatus {
                name: nic.name.clone(),
                handle: spec.handle(),
                state: if attached {
                    NetworkInterfaceState::Attached
                } else {
                    NetworkInterfaceState::Pending
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
