//! The reconcile pass: observe, ask [`crate::plan`], execute on the host, repeat until nothing
//! is left to do; plus garbage collection of domains and files no record owns.

use std::collections::BTreeSet;

use base64::Engine as _;
use ferrocore_api::iri::machine::{
    ConditionStatus, ErrorCode, EventType, MachineCondition, RuntimeError,
};

use crate::host::{Host, HostError};
use crate::model::{DomainObservation, NicSpec};
use crate::plan::{self, Action, PlanInput};
use crate::prepare::{self, PrepareError};
use crate::runtime::{MachineRuntime, Slot, host_error, lock};

/// Plan-execute rounds per reconcile pass. Each round's actions change what is observed, so
/// a pass converges in two or three rounds; the bound stops a backend that does not do what it
/// says from spinning a pass forever.
pub const MAX_RECONCILE_ROUNDS: usize = 6;

/// The condition type every failure to reach the desired state is reported under.
pub const READY_CONDITION: &str = "Ready";

/// An action that failed, and why.
#[derive(Debug)]
pub(crate) struct ActionFailure {
    pub(crate) action: Action,
    pub(crate) error: RuntimeError,
}

fn prepare_error(err: &PrepareError) -> RuntimeError {
    match err {
        PrepareError::ImageNotFound(_) | PrepareError::VolumeNotFound(..) => {
            RuntimeError::new(ErrorCode::NotFound, err.to_string())
        }
        PrepareError::Unsupported(_) => {
            RuntimeError::new(ErrorCode::FailedPrecondition, err.to_string())
        }
        PrepareError::Host(h) => host_error(h),
    }
}

impl<H: Host> MachineRuntime<H> {
    /// One periodic pass: removes leftovers no record owns, then reconciles every machine
    /// (finishing shutdowns, retrying creations that waited for an image or volume, noticing
    /// guests that stopped). The node agent calls it about once a second.
    pub fn tick(&self) {
        let _ = self.collect_garbage();
        for slot in self.slot_list() {
            let mut s = lock(&slot);
            if !s.removed {
                let _ = self.reconcile_locked(&mut s);
            }
        }
    }

    /// Reconciles one machine whose slot the caller holds.
    pub(crate) fn reconcile_locked(&self, s: &mut Slot) -> Result<(), ActionFailure> {
        let id = s.record.id().clone();
        for _ in 0..MAX_RECONCILE_ROUNDS {
            let observed = self.host.observe(&id).map_err(|e| ActionFailure {
                action: Action::WaitForShutdown,
                error: host_error(&e),
            })?;
            if observed.is_none() {
                s.shutdown_since = None;
            }
            let actions = plan::plan(&PlanInput {
                now: self.clock.now(),
                record: &s.record,
                observed: observed.as_ref(),
                shutdown_since: s.shutdown_since,
                grace: self.grace,
                create_blocked: false,
            });
            self.refresh_status(s, observed.as_ref());
            if actions.iter().all(|a| *a == Action::WaitForShutdown) {
                return Ok(());
            }
            for action in actions {
                if let Err(error) = self.execute(s, &action) {
                    let reason = format!("{action:?}");
                    self.event(
                        &s.record,
                        EventType::Warning,
                        "ActionFailed",
                        format!("{reason}: {}", error.message),
                    );
                    return Err(ActionFailure { action, error });
                }
                if s.removed {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn refresh_status(&self, s: &mut Slot, observed: Option<&DomainObservation>) {
        let rec = &s.record;
        let mut status = rec.machine.status.clone();
        status.state = plan::machine_state(rec, observed);
        status.volumes = plan::volume_status(rec, observed);
        status.network_interfaces = plan::nic_status(rec, observed);
        status.observed_generation = rec.machine.metadata.generation;
        if status != s.record.machine.status {
            s.record.machine.status = status;
            let _ = self.host.save_record(&s.record);
        }
    }

    fn execute(&self, s: &mut Slot, action: &Action) -> Result<(), RuntimeError> {
        let id = s.record.id().clone();
        let host_err = |e: HostError| host_error(&e);
        match action {
            Action::CreateDomain => return self.create_domain(s),
            Action::Shutdown => {
                self.host.shutdown_domain(&id).map_err(host_err)?;
                s.shutdown_since = Some(self.clock.now());
                self.event(
                    &s.record,
                    EventType::Normal,
                    "ShutdownTriggered",
                    "ACPI power button".into(),
                );
            }
            Action::Destroy => {
                self.host.destroy_domain(&id).map_err(host_err)?;
                self.event(
                    &s.record,
                    EventType::Normal,
                    "DomainDestroyed",
                    "domain destroyed".into(),
                );
            }
            Action::AttachVolume(_)
            | Action::DetachDisk { .. }
            | Action::ResizeDisk { .. }
            | Action::AttachNic(_)
            | Action::DetachNic { .. } => return self.execute_device(s, action),
            Action::Finalize => {
                self.host.remove_machine(&id).map_err(host_err)?;
                s.removed = true;
                lock(&self.slots).remove(&id);
                self.event(
                    &s.record,
                    EventType::Normal,
                    "MachineDeletionSucceeded",
                    "domain, disks and logs removed".into(),
                );
            }
            Action::WaitForShutdown => {}
        }
        Ok(())
    }

    fn execute_device(&self, s: &Slot, action: &Action) -> Result<(), RuntimeError> {
        let id = s.record.id().clone();
        let host_err = |e: HostError| host_error(&e);
        match action {
            Action::AttachVolume(name) => {
                let vol = s.record.volume(name).cloned().ok_or_else(|| {
                    RuntimeError::new(ErrorCode::NotFound, format!("volume {name:?}"))
                })?;
                let (disk, _) = prepare::disk(&self.host, &self.defaults, &id, &vol, false)
                    .map_err(|e| prepare_error(&e))?;
                self.host.attach_disk(&id, &disk).map_err(host_err)?;
                self.event(
                    &s.record,
                    EventType::Normal,
                    "AttachVolumeSucceeded",
                    name.clone(),
                );
            }
            Action::DetachDisk { alias } => {
                self.host.detach_disk(&id, alias).map_err(host_err)?;
                if let Some(name) = alias_name(alias, "ua-vol-") {
                    self.host.remove_local_disk(&id, &name).map_err(host_err)?;
                }
                self.event(
                    &s.record,
                    EventType::Normal,
                    "DetachVolumeSucceeded",
                    alias.clone(),
                );
            }
            Action::ResizeDisk { target, bytes } => {
                self.host
                    .resize_disk(&id, target, *bytes)
                    .map_err(host_err)?;
                self.event(
                    &s.record,
                    EventType::Normal,
                    "ResizeVolumeSucceeded",
                    format!("{target} to {bytes} bytes"),
                );
            }
            Action::AttachNic(name) => {
                let nic = s.record.nic(name).map(NicSpec::from_iri).ok_or_else(|| {
                    RuntimeError::new(ErrorCode::NotFound, format!("network interface {name:?}"))
                })?;
                self.host.attach_nic(&id, &nic).map_err(host_err)?;
                self.event(
                    &s.record,
                    EventType::Normal,
                    "AttachNICSucceeded",
                    name.clone(),
                );
            }
            Action::DetachNic { alias } => {
                self.host.detach_nic(&id, alias).map_err(host_err)?;
                self.event(
                    &s.record,
                    EventType::Normal,
                    "DetachNICSucceeded",
                    alias.clone(),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn create_domain(&self, s: &mut Slot) -> Result<(), RuntimeError> {
        let class = self.classes.get(&s.record.machine.spec.class).cloned();
        let Some(class) = class else {
            let err = RuntimeError::new(
                ErrorCode::InvalidArgument,
                format!(
                    "machine class {:?} is not offered by this node",
                    s.record.machine.spec.class.0
                ),
            );
            self.set_ready(
                s,
                ConditionStatus::False,
                "UnknownMachineClass",
                &err.message,
            );
            return Err(err);
        };
        let prepared = prepare::domain_spec(
            &self.host,
            &self.defaults,
            &s.record,
            class.cpu,
            class.memory_bytes(),
        );
        let (spec, image) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.set_ready(s, ConditionStatus::False, e.reason(), &e.to_string());
                return Err(prepare_error(&e));
            }
        };
        if let Err(e) = self.host.create_domain(&spec) {
            self.set_ready(
                s,
                ConditionStatus::False,
                "CreateDomainFailed",
                &e.to_string(),
            );
            return Err(host_error(&e));
        }
        s.record.machine.status.image_ref = image.map(|i| i.digest).unwrap_or_default();
        self.set_ready(s, ConditionStatus::True, "DomainStarted", "domain started");
        self.event(
            &s.record,
            EventType::Normal,
            "MachineStarted",
            "domain started".into(),
        );
        Ok(())
    }

    /// Sets the `Ready` condition (and persists), keeping the transition time when the status
    /// does not change.
    fn set_ready(&self, s: &mut Slot, status: ConditionStatus, reason: &str, message: &str) {
        let now = self.wall();
        let conditions = &mut s.record.machine.status.conditions;
        let previous = conditions.iter().position(|c| c.kind == READY_CONDITION);
        let last_transition_time = match previous.map(|i| &conditions[i]) {
            Some(c) if c.status == status => c.last_transition_time,
            _ => now,
        };
        let condition = MachineCondition {
            kind: READY_CONDITION.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            last_transition_time,
        };
        let changed = previous.is_none_or(|i| conditions[i] != condition);
        match previous {
            Some(i) => conditions[i] = condition,
            None => conditions.push(condition),
        }
        if changed {
            if status == ConditionStatus::False {
                self.event(&s.record, EventType::Warning, reason, message.to_string());
            }
            let _ = self.host.save_record(&s.record);
        }
    }

    /// Destroys domains and removes machine directories that no record owns (an agent that
    /// died between steps, a record deleted by hand). Records are read after the host is
    /// listed, so a machine being created right now is never mistaken for a leftover.
    pub(crate) fn collect_garbage(&self) -> Result<(), HostError> {
        let domains = self.host.list_domains()?;
        let on_disk = self.host.machines_on_disk()?;
        let known: BTreeSet<_> = lock(&self.slots).keys().cloned().collect();
        for dom in domains.iter().filter(|d| !known.contains(&d.id)) {
            self.host.destroy_domain(&dom.id)?;
            self.host.remove_machine(&dom.id)?;
        }
        for id in on_disk.iter().filter(|id| !known.contains(*id)) {
            self.host.remove_machine(id)?;
        }
        Ok(())
    }
}

/// The device name encoded in one of our aliases.
fn alias_name(alias: &str, prefix: &str) -> Option<String> {
    let encoded = alias.strip_prefix(prefix)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::volume_alias;

    #[test]
    fn alias_names_round_trip() {
        assert_eq!(
            alias_name(&volume_alias("data-1"), "ua-vol-").as_deref(),
            Some("data-1")
        );
        assert_eq!(alias_name("virtio-disk0", "ua-vol-"), None);
    }
}
