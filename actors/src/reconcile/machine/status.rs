//! Machine status from what the node reports: state (IRI `STOPPED` and `SUSPENDED` are
//! `Shutdown`), machine id, per volume and interface attachment, and the conditions `Ready`,
//! `VolumesReady`, `NetworkInterfacesReady` and `Scheduled`.

use ferrocore_api::compute::{
    AttachmentState, Machine, MachineNetworkInterfaceStatus, MachineState, MachineStatus,
    MachineVolumeStatus,
};
use ferrocore_api::iri::machine as iri;
use ferrocore_api::meta::Time;
use ferrocore_api::{ConditionStatus, LocalObjectReference};

use super::desired::{DesiredMachine, nic_object_name, volume_object_name};
use crate::reconcile::util::{ConditionUpdate, set_condition};

/// How a Machine's `status.machineID` names the IRI machine: `ferrocore://<id>`.
pub const MACHINE_ID_SCHEME: &str = "ferrocore://";

/// The Machine state for an IRI machine state. Upstream leaves `STOPPED` unmapped (a
/// conversion error); here a stopped machine is `Shutdown`, like a suspended one.
pub fn machine_state(state: iri::MachineState) -> MachineState {
    match state {
        iri::MachineState::Pending => MachineState::Pending,
        iri::MachineState::Running => MachineState::Running,
        iri::MachineState::Suspended | iri::MachineState::Stopped => MachineState::Shutdown,
        iri::MachineState::Terminating => MachineState::Terminating,
        iri::MachineState::Terminated => MachineState::Terminated,
    }
}

/// What the status is computed from.
#[derive(Clone, Copy, Debug)]
pub struct StatusInput<'a> {
    /// The desired IRI machine (for the reasons of what is pending).
    pub desired: &'a DesiredMachine,
    /// The IRI machine the node reported, with the generation it applied.
    pub reported: Option<(&'a iri::Machine, i64)>,
    /// Whether the Machine is being deleted.
    pub deleting: bool,
    /// Now, for transition times.
    pub now: Time,
}

/// The Machine status for `input`, keeping transition times that did not change.
pub fn machine_status(machine: &Machine, input: &StatusInput<'_>) -> MachineStatus {
    let old = &machine.status;
    let mut status = MachineStatus {
        machine_id: old.machine_id.clone(),
        observed_generation: old.observed_generation,
        conditions: old.conditions.clone(),
        state: Some(MachineState::Pending),
        network_interfaces: Vec::new(),
        volumes: Vec::new(),
    };
    if let Some((m, generation)) = input.reported {
        status.machine_id = format!("{MACHINE_ID_SCHEME}{}", m.metadata.id);
        status.observed_generation = generation;
        status.state = Some(machine_state(m.status.state));
    }
    if input.deleting && status.state != Some(MachineState::Terminated) {
        status.state = Some(MachineState::Terminating);
    }
    let reported = input.reported.map(|(m, _)| &m.status);
    status.volumes = volume_statuses(machine, reported, input.now);
    status.network_interfaces = nic_statuses(machine, reported, input.now);
    set_conditions(machine, &mut status, input);
    status
}

fn since<S: PartialEq>(old: Option<(&S, Option<Time>)>, new: &S, now: Time) -> Option<Time> {
    match old {
        Some((s, t)) if s == new => t.or(Some(now)),
        _ => Some(now),
    }
}

fn volume_statuses(
    machine: &Machine,
    reported: Option<&iri::MachineStatus>,
    now: Time,
) -> Vec<MachineVolumeStatus> {
    machine
        .spec
        .volumes
        .iter()
        .map(|v| {
            let r = reported.and_then(|s| s.volumes.iter().find(|x| x.name == v.name));
            let state = match r {
                Some(x) if x.state == iri::VolumeState::Attached => AttachmentState::Attached,
                _ => AttachmentState::Pending,
            };
            let old = machine.status.volumes.iter().find(|o| o.name == v.name);
            MachineVolumeStatus {
                name: v.name.clone(),
                handle: r.map(|x| x.handle.clone()).unwrap_or_default(),
                last_state_transition_time: since(
                    old.map(|o| (&o.state, o.last_state_transition_time)),
                    &Some(state.clone()),
                    now,
                ),
                state: Some(state),
                volume_ref: LocalObjectReference::new(
                    volume_object_name(machine, v).unwrap_or_default(),
                ),
            }
        })
        .collect()
}

fn nic_statuses(
    machine: &Machine,
    reported: Option<&iri::MachineStatus>,
    now: Time,
) -> Vec<MachineNetworkInterfaceStatus> {
    machine
        .spec
        .network_interfaces
        .iter()
        .map(|n| {
            let r = reported.and_then(|s| s.network_interfaces.iter().find(|x| x.name == n.name));
            let state = match r {
                Some(x) if x.state == iri::NetworkInterfaceState::Attached => {
                    AttachmentState::Attached
                }
                _ => AttachmentState::Pending,
            };
            let old = machine
                .status
                .network_interfaces
                .iter()
                .find(|o| o.name == n.name);
            MachineNetworkInterfaceStatus {
                name: n.name.clone(),
                handle: r.map(|x| x.handle.clone()).unwrap_or_default(),
                last_state_transition_time: since(
                    old.map(|o| (&o.state, o.last_state_transition_time)),
                    &Some(state.clone()),
                    now,
                ),
                state: Some(state),
                network_interface_ref: LocalObjectReference::new(
                    nic_object_name(machine, n).unwrap_or_default(),
                ),
            }
        })
        .collect()
}

fn pending_message(pending: &[(String, super::desired::NotReady)], attached: &[String]) -> String {
    let mut parts: Vec<String> = pending
        .iter()
        .map(|(n, e)| format!("{n}: {}", e.message))
        .collect();
    parts.extend(attached.iter().map(|n| format!("{n}: not attached yet")));
    parts.join("; ")
}

fn set_conditions(machine: &Machine, status: &mut MachineStatus, input: &StatusInput<'_>) {
    let state = status.state.clone().unwrap_or(MachineState::Pending);
    let (ready, reason) = match state {
        MachineState::Running => (ConditionStatus::True, "Running"),
        MachineState::Shutdown => (ConditionStatus::False, "Shutdown"),
        MachineState::Terminating => (ConditionStatus::False, "Terminating"),
        MachineState::Terminated => (ConditionStatus::False, "Terminated"),
        _ => (ConditionStatus::False, "Pending"),
    };
    let pending_volumes: Vec<String> = status
        .volumes
        .iter()
        .filter(|v| v.state != Some(AttachmentState::Attached))
        .map(|v| v.name.clone())
        .collect();
    let pending_nics: Vec<String> = status
        .network_interfaces
        .iter()
        .filter(|n| n.state != Some(AttachmentState::Attached))
        .map(|n| n.name.clone())
        .collect();
    let desired = input.desired;
    let (ready_reason, ready_message) = match (&desired.blocker, ready.clone()) {
        (Some(b), ConditionStatus::False) if reason == "Pending" => (b.reason, b.message.clone()),
        _ => (reason, String::new()),
    };
    let attachments = |names: &[String], pending: &[(String, super::desired::NotReady)]| {
        // Names not ready to attach carry their reason; the rest are merely not attached yet.
        let waiting: Vec<String> = names
            .iter()
            .filter(|n| !pending.iter().any(|(p, _)| p == *n))
            .cloned()
            .collect();
        if names.is_empty() {
            (ConditionStatus::True, "Attached", String::new())
        } else {
            let reason = pending.first().map_or("NotAttached", |(_, e)| e.reason);
            (
                ConditionStatus::False,
                reason,
                pending_message(pending, &waiting),
            )
        }
    };
    let volumes = attachments(&pending_volumes, &desired.volumes_pending);
    let nics = attachments(&pending_nics, &desired.nics_pending);
    let pool = machine
        .spec
        .machine_pool_ref
        .as_ref()
        .map(|p| format!("bound to machine pool {}", p.name))
        .unwrap_or_default();
    let generation = machine.metadata.generation.0;
    let updates = [
        ("Ready", ready, ready_reason, ready_message),
        ("VolumesReady", volumes.0, volumes.1, volumes.2),
        ("NetworkInterfacesReady", nics.0, nics.1, nics.2),
        ("Scheduled", ConditionStatus::True, "Scheduled", pool),
    ];
    for (type_, st, reason, message) in updates {
        let update = ConditionUpdate {
            type_,
            status: st,
            reason,
            message: &message,
            observed_generation: generation,
        };
        set_condition(&mut status.conditions, &update, input.now);
    }
}
