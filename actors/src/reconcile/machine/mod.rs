//! The Machine lifecycle (what upstream's machinepoollet does): a Machine bound to a pool
//! becomes an IRI machine on the node serving that pool, and the node's reports become the
//! Machine's status.
//!
//! 1. A bound Machine gets the finalizer `machinepoollet.ironcore.dev/machine` first, so it
//!    cannot vanish from the store while its node still runs it.
//! 2. Once its class, ignition secret, volumes (claimed, `Available`, with access) and network
//!    interfaces (claimed, `Available`, with IPs) are ready, `CreateMachine` goes to the node.
//!    Until then the Machine stays `Pending` and its conditions say what it waits for.
//! 3. Afterwards the reported IRI machine is compared with the desired one: power changes,
//!    volumes and interfaces to attach, update or detach become single IRI requests.
//! 4. Deleting: `DeleteMachine` until the node reports the machine absent, then the finalizer
//!    goes.
//!
//! Every request carries the Machine's generation. The core is level-triggered: it re-emits a
//! request for as long as the difference persists; the runtime keeps at most one identical
//! request in flight per object (see docs/control-plane.md). A report for a recreated Machine
//! (other uid) is ignored.

mod desired;
mod status;

use ferrocore_api::compute::{Machine, MachinePool};
use ferrocore_api::iri::machine as iri;
use ferrocore_api::iri::protocol::{IriRequest, PoolKind, PoolRef, ReportedState};
use ferrocore_api::networking::NetworkInterface;
use serde_json::json;

pub use desired::{
    DesiredMachine, NotReady, desired, network_id, nic_object_name, secret_data, volume_object_name,
};
pub use status::{MACHINE_ID_SCHEME, StatusInput, machine_state, machine_status};

use super::util::{api_time, has_finalizer, key_of, patch, status_update};
use super::{Command, Ctx, NodeRequest, Observed, ViewExt};

/// The finalizer that keeps a Machine in the store until its node has deleted it.
pub const MACHINE_FINALIZER: &str = "machinepoollet.ironcore.dev/machine";

/// Label on every IRI machine: the Machine's namespace.
pub const MACHINE_NAMESPACE_LABEL: &str = "compute.ferrocore.dev/machine-namespace";

/// Label on every IRI machine: the Machine's name.
pub const MACHINE_NAME_LABEL: &str = "compute.ferrocore.dev/machine-name";

fn request(machine: &Machine, pool: &str, request: iri::MachineRequest) -> Command {
    Command::Node(Box::new(NodeRequest {
        pool: PoolRef {
            kind: PoolKind::Machine,
            name: pool.to_owned(),
        },
        object: key_of(machine),
        uid: machine.metadata.uid.clone(),
        generation: machine.metadata.generation,
        request: IriRequest::Machine(request),
    }))
}

/// The IRI machine to create for `machine`.
pub fn iri_machine(machine: &Machine, spec: iri::MachineSpec) -> iri::Machine {
    let meta = &machine.metadata;
    iri::Machine {
        metadata: iri::ObjectMetadata {
            labels: [
                (iri::MACHINE_UID_LABEL, meta.uid.as_str()),
                (MACHINE_NAMESPACE_LABEL, meta.namespace.as_str()),
                (MACHINE_NAME_LABEL, meta.name.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            generation: meta.generation.0,
            ..iri::ObjectMetadata::default()
        },
        spec,
        status: iri::MachineStatus::default(),
    }
}

/// Reconciles a Machine bound to a pool. Unbound Machines are the scheduler's.
pub fn reconcile_machine(ctx: &Ctx<'_>, machine: &Machine) -> Vec<Command> {
    let Some(pool) = machine
        .spec
        .machine_pool_ref
        .as_ref()
        .map(|p| p.name.as_str())
    else {
        return Vec::new();
    };
    let observed = ctx
        .reports
        .observed(&key_of(machine), &machine.metadata.uid);
    let reported = match observed {
        Observed::Present(r) => match &r.state {
            ReportedState::Machine(m) => Some((m, r.generation.0)),
            _ => None,
        },
        _ => None,
    };
    if machine.metadata.is_deleting() {
        return deletion(ctx, machine, pool, observed, reported.map(|r| r.0));
    }
    if !has_finalizer(&machine.metadata, MACHINE_FINALIZER) {
        return vec![Command::AddFinalizer {
            key: key_of(machine),
            finalizer: MACHINE_FINALIZER.to_owned(),
        }];
    }
    let want = desired(ctx, machine);
    let mut out = Vec::new();
    match (observed, reported) {
        (_, Some((have, _))) => out.extend(differences(machine, pool, &want, have)),
        (Observed::Absent, None) if want.complete() => out.push(create(machine, pool, &want)),
        // No report yet: create only what was never created; an existing machine's node
        // re-sends its reports when it (re)registers.
        (Observed::Unknown, None) if want.complete() && machine.status.machine_id.is_empty() => {
            out.push(create(machine, pool, &want));
        }
        _ => {}
    }
    if let Some((have, _)) = reported {
        out.extend(nic_provider_ids(ctx, machine, have));
    }
    let input = StatusInput {
        desired: &want,
        reported,
        deleting: false,
        now: api_time(ctx.wall),
    };
    let status = machine_status(machine, &input);
    out.extend(status_update(machine, &machine.status, &status));
    out
}

fn create(machine: &Machine, pool: &str, want: &DesiredMachine) -> Command {
    request(
        machine,
        pool,
        iri::MachineRequest::CreateMachine(iri::CreateMachineRequest {
            machine: iri_machine(machine, want.spec.clone()),
        }),
    )
}

/// The IRI requests that turn the reported machine into the desired one.
pub fn differences(
    machine: &Machine,
    pool: &str,
    want: &DesiredMachine,
    have: &iri::Machine,
) -> Vec<Command> {
    let id = have.metadata.id.clone();
    let mut out = Vec::new();
    let mut send = |r| out.push(request(machine, pool, r));
    if have.spec.power != want.spec.power {
        send(iri::MachineRequest::UpdateMachinePower(
            iri::UpdateMachinePowerRequest {
                machine_id: id.clone(),
                power: want.spec.power,
            },
        ));
    }
    let in_spec = |name: &str| machine.spec.volumes.iter().any(|v| v.name == name);
    for v in &want.spec.volumes {
        match have.spec.volumes.iter().find(|h| h.name == v.name) {
            None => send(iri::MachineRequest::AttachVolume(
                iri::AttachVolumeRequest {
                    machine_id: id.clone(),
                    volume: v.clone(),
                },
            )),
            Some(h) if h.device != v.device || h.local_disk != v.local_disk => {
                send(detach_volume(&id, &v.name));
            }
            Some(h) if h != v => send(iri::MachineRequest::UpdateVolume(
                iri::UpdateVolumeRequest {
                    machine_id: id.clone(),
                    volume: v.clone(),
                },
            )),
            Some(_) => {}
        }
    }
    for h in have.spec.volumes.iter().filter(|h| !in_spec(&h.name)) {
        send(detach_volume(&id, &h.name));
    }
    let nic_in_spec = |name: &str| {
        machine
            .spec
            .network_interfaces
            .iter()
            .any(|n| n.name == name)
    };
    for n in &want.spec.network_interfaces {
        match have
            .spec
            .network_interfaces
            .iter()
            .find(|h| h.name == n.name)
        {
            None => send(iri::MachineRequest::AttachNetworkInterface(
                iri::AttachNetworkInterfaceRequest {
                    machine_id: id.clone(),
                    network_interface: n.clone(),
                },
            )),
            // The IRI cannot update an interface: detach now, attach on the next pass.
            Some(h) if h != n => send(detach_nic(&id, &n.name)),
            Some(_) => {}
        }
    }
    for h in have
        .spec
        .network_interfaces
        .iter()
        .filter(|h| !nic_in_spec(&h.name))
    {
        send(detach_nic(&id, &h.name));
    }
    out
}

fn detach_volume(id: &iri::MachineId, name: &str) -> iri::MachineRequest {
    iri::MachineRequest::DetachVolume(iri::DetachVolumeRequest {
        machine_id: id.clone(),
        name: name.to_owned(),
    })
}

fn detach_nic(id: &iri::MachineId, name: &str) -> iri::MachineRequest {
    iri::MachineRequest::DetachNetworkInterface(iri::DetachNetworkInterfaceRequest {
        machine_id: id.clone(),
        name: name.to_owned(),
    })
}

/// Writes the IRI interface handles into `NetworkInterface.spec.providerID` (upstream's
/// machinepoollet does the same), for the networking part to find the interface on its node.
fn nic_provider_ids(ctx: &Ctx<'_>, machine: &Machine, have: &iri::Machine) -> Vec<Command> {
    let ns = machine.metadata.namespace.as_str();
    let mut out = Vec::new();
    for st in have
        .status
        .network_interfaces
        .iter()
        .filter(|s| !s.handle.is_empty())
    {
        let Some(n) = machine
            .spec
            .network_interfaces
            .iter()
            .find(|n| n.name == st.name)
        else {
            continue;
        };
        let Some(name) = nic_object_name(machine, n) else {
            continue;
        };
        if let Some(nic) = ctx.view.typed::<NetworkInterface>(ns, &name)
            && nic.spec.provider_id != st.handle
            && nic
                .spec
                .machine_ref
                .as_ref()
                .is_some_and(|r| r.uid == machine.metadata.uid)
        {
            out.push(patch(nic, json!({"spec": {"providerID": st.handle}})));
        }
    }
    out
}

fn deletion(
    ctx: &Ctx<'_>,
    machine: &Machine,
    pool: &str,
    observed: Observed<'_>,
    reported: Option<&iri::Machine>,
) -> Vec<Command> {
    if !has_finalizer(&machine.metadata, MACHINE_FINALIZER) {
        return Vec::new();
    }
    let release = || Command::RemoveFinalizer {
        key: key_of(machine),
        finalizer: MACHINE_FINALIZER.to_owned(),
    };
    let pool_gone = ctx.view.typed::<MachinePool>("", pool).is_none();
    let mut out = match (observed, reported) {
        (_, Some(have)) if !pool_gone => vec![request(
            machine,
            pool,
            iri::MachineRequest::DeleteMachine(iri::DeleteMachineRequest {
                machine_id: have.metadata.id.clone(),
            }),
        )],
        (Observed::Absent, _) => return vec![release()],
        // Never created (no id recorded), or nobody left to ask: nothing to wait for. A create
        // still in flight is cleaned up as an orphan when its node reports it.
        _ if machine.status.machine_id.is_empty() || pool_gone => return vec![release()],
        _ => Vec::new(),
    };
    let input = StatusInput {
        desired: &DesiredMachine::default(),
        reported: reported.map(|m| (m, machine.status.observed_generation)),
        deleting: true,
        now: api_time(ctx.wall),
    };
    let status = machine_status(machine, &input);
    out.extend(status_update(machine, &machine.status, &status));
    out
}

#[cfg(test)]
mod tests;
