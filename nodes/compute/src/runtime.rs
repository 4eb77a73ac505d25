//! [`MachineRuntime`]: the fourteen IRI operations over a [`Host`].
//!
//! Every operation validates, records the desired state (persisted through the host), then runs
//! one reconcile pass for that machine: [`crate::plan`] decides, the host acts. Waiting states
//! (a guest shutting down, an image that is not there yet) finish on later [`MachineRuntime::tick`]
//! calls, which the node agent makes periodically (every second or so).
//!
//! Concurrency: operations on different machines run in parallel (each machine has its own
//! lock; the map lock is only held to look machines up), so ten creates start ten domains at
//! once. Operations on one machine are serialised.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrocore_api::iri::machine::{
    CreateMachineRequest, ErrorCode, EventFilter, EventType, MACHINE_UID_LABEL, Machine,
    MachineFilter, MachineId, MachineState, ObjectMetadata, Power, RuntimeError, StatusResponse,
    Timestamp, VersionResponse,
};
use ferrocore_runtime::{Clock, MonoTime, Rng};

use crate::capacity::{CapacityPolicy, class_status};
use crate::config::{ComputeConfig, ConfigError, MachineClasses};
use crate::console::Console;
use crate::events::EventLog;
use crate::host::{Host, HostError};
use crate::model::{DomainType, MachineRecord};
use crate::prepare::DomainDefaults;
use crate::validate;

/// One machine's runtime state: its record plus timers that are not persisted.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) record: MachineRecord,
    /// When the power button was pressed (for the destroy-after-grace decision).
    pub(crate) shutdown_since: Option<MonoTime>,
    /// Set once the machine is finalized; a late operation on the slot sees it is gone.
    pub(crate) removed: bool,
}

pub(crate) type SlotRef = Arc<Mutex<Slot>>;

/// The MachineRuntime of a compute node over a backend `H` (libvirt or the fake).
#[derive(Debug)]
pub struct MachineRuntime<H: Host> {
    pub(crate) host: H,
    pub(crate) classes: MachineClasses,
    pub(crate) defaults: DomainDefaults,
    pub(crate) grace: std::time::Duration,
    pub(crate) policy: CapacityPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    rng: Mutex<Box<dyn Rng>>,
    pub(crate) slots: Mutex<BTreeMap<MachineId, SlotRef>>,
    create_lock: Mutex<()>,
    pub(crate) events: Mutex<EventLog>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means an operation panicked mid-way; the record it guards is still a
    // valid value (every write replaces whole fields), and the next reconcile repairs state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn host_error(err: &HostError) -> RuntimeError {
    let code = match err {
        HostError::NotFound(_) => ErrorCode::NotFound,
        HostError::Refused(_) => ErrorCode::FailedPrecondition,
        HostError::Exhausted(_) => ErrorCode::ResourceExhausted,
        HostError::Unavailable(_) => ErrorCode::Unavailable,
        HostError::Failed(_) => ErrorCode::Internal,
    };
    RuntimeError::new(code, err.to_string())
}

fn not_found(id: &MachineId) -> RuntimeError {
    RuntimeError::new(ErrorCode::NotFound, format!("machine {id} not found"))
}

impl<H: Host> MachineRuntime<H> {
    /// A runtime over `host`, adopting the machines the host already has: persisted records
    /// are loaded, their domains (still running after an agent restart) are kept as they are,
    /// and domains or files that belong to no record are removed.
    ///
    /// # Errors
    /// [`ConfigError`] for bad classes; a host that cannot list its state is reported as
    /// `Unavailable` inside [`RuntimeError`] through [`NewRuntimeError`].
    pub fn new(
        host: H,
        config: &ComputeConfig,
        domain_type: DomainType,
        clock: Arc<dyn Clock>,
        rng: Box<dyn Rng>,
    ) -> Result<Self, NewRuntimeError> {
        let classes = config.classes()?;
        let runtime = Self {
            host,
            classes,
            defaults: DomainDefaults {
                domain_type,
                machine_type: config.machine_type.clone(),
                cache: config.volume_cache.clone(),
                ovmf_code: config.ovmf_code.clone(),
                default_cmdline: config.default_cmdline.clone(),
            },
            grace: config.shutdown_grace(),
            policy: CapacityPolicy {
                reserved_cpus: config.reserved_cpus,
                reserved_memory_bytes: config.reserved_memory_mib.saturating_mul(1 << 20),
                cpu_overcommit: config.cpu_overcommit,
            },
            clock,
            rng: Mutex::new(rng),
            slots: Mutex::new(BTreeMap::new()),
            create_lock: Mutex::new(()),
            events: Mutex::new(EventLog::default()),
        };
        let records = runtime.host.load_records().map_err(|e| host_error(&e))?;
        {
            let mut slots = lock(&runtime.slots);
            for record in records {
                let slot = Slot {
                    record,
                    shutdown_since: None,
                    removed: false,
                };
                slots.insert(slot.record.id().clone(), Arc::new(Mutex::new(slot)));
            }
        }
        runtime.collect_garbage().map_err(|e| host_error(&e))?;
        runtime.tick();
        Ok(runtime)
    }

    /// The backend.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// `Version`.
    pub fn version(&self) -> VersionResponse {
        VersionResponse {
            runtime_name: self.host.name().to_string(),
            runtime_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// `ListEvents`.
    pub fn list_events(&self, filter: &EventFilter) -> Vec<ferrocore_api::iri::machine::Event> {
        lock(&self.events).list(filter)
    }

    /// `ListMachines`: machines passing `filter`, ordered by id, with their last status.
    pub fn list_machines(&self, filter: &MachineFilter) -> Vec<Machine> {
        self.slot_list()
            .into_iter()
            .filter_map(|slot| {
                let s = lock(&slot);
                (!s.removed && filter.matches(&s.record.machine.metadata))
                    .then(|| s.record.machine.clone())
            })
            .collect()
    }

    /// One machine by id.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn machine(&self, id: &MachineId) -> Result<Machine, RuntimeError> {
        let slot = self.slot(id)?;
        let s = lock(&slot);
        if s.removed {
            return Err(not_found(id));
        }
        Ok(s.record.machine.clone())
    }

    /// `CreateMachine`. A machine carrying the same [`MACHINE_UID_LABEL`] as an existing one
    /// (not being deleted) is that machine: it is returned, not created twice.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown class or malformed volumes; nothing is stored then.
    pub fn create_machine(&self, req: CreateMachineRequest) -> Result<Machine, RuntimeError> {
        let spec = req.machine.spec;
        validate::spec(&spec, &self.classes)?;
        let labels = req.machine.metadata.labels;
        // Serialises the uid check with the insert, so two creates of one uid cannot both pass.
        // Slots are locked one at a time with the map lock released (finalize takes the map
        // lock while holding its slot's lock).
        let _creating = lock(&self.create_lock);
        if let Some(uid) = labels.get(MACHINE_UID_LABEL) {
            for existing in self.slot_list() {
                let s = lock(&existing);
                let meta = &s.record.machine.metadata;
                if meta.labels.get(MACHINE_UID_LABEL) == Some(uid)
                    && !s.record.deleting()
                    && !s.removed
                {
                    return Ok(s.record.machine.clone());
                }
            }
        }
        let id = self.new_id();
        let machine = Machine {
            metadata: ObjectMetadata {
                id: id.clone(),
                annotations: req.machine.metadata.annotations,
                labels,
                generation: 1,
                created_at: self.wall(),
                deleted_at: None,
            },
            spec,
            status: ferrocore_api::iri::machine::MachineStatus::default(),
        };
        let record = MachineRecord { machine };
        let slot = Arc::new(Mutex::new(Slot {
            record: record.clone(),
            shutdown_since: None,
            removed: false,
        }));
        {
            // Saved and inserted under the map lock: garbage collection reads the map after
            // listing directories, so it never sees this machine's directory without its slot.
            let mut slots = lock(&self.slots);
            self.host.save_record(&record).map_err(|e| host_error(&e))?;
            slots.insert(id, Arc::clone(&slot));
        }
        drop(_creating);
        let mut s = lock(&slot);
        self.event(
            &s.record,
            EventType::Normal,
            "MachineCreated",
            "machine accepted".into(),
        );
        let _ = self.reconcile_locked(&mut s);
        Ok(s.record.machine.clone())
    }

    /// `DeleteMachine`: the guest gets the power button, then is destroyed after the grace
    /// period; disks, logs and the record go once the domain is gone.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn delete_machine(&self, id: &MachineId) -> Result<(), RuntimeError> {
        self.update(id, |rec, now| {
            if rec.machine.metadata.deleted_at.is_none() {
                rec.machine.metadata.deleted_at = Some(now);
                rec.machine.metadata.generation += 1;
            }
            Ok(())
        })
    }

    /// `UpdateMachineAnnotations`: replaces the annotations.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn update_annotations(
        &self,
        id: &MachineId,
        annotations: BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        self.update(id, |rec, _| {
            rec.machine.metadata.annotations = annotations;
            Ok(())
        })
    }

    /// `UpdateMachinePower`: off presses the ACPI power button (destroy after the grace
    /// period); on starts the domain again with the same disks.
    ///
    /// # Errors
    /// `NotFound`; `FailedPrecondition` while the machine is being deleted.
    pub fn update_power(&self, id: &MachineId, power: Power) -> Result<(), RuntimeError> {
        self.update(id, |rec, _| {
            if rec.deleting() {
                return Err(RuntimeError::new(
                    ErrorCode::FailedPrecondition,
                    format!("machine {} is being deleted", rec.id()),
                ));
            }
            if rec.machine.spec.power != power {
                rec.machine.spec.power = power;
                rec.machine.metadata.generation += 1;
            }
            Ok(())
        })
    }

    /// `Status`: capacity per class (host resources minus the machines that should run).
    ///
    /// # Errors
    /// `Unavailable` when the hypervisor does not answer (this is the heartbeat probe).
    pub fn status(&self) -> Result<StatusResponse, RuntimeError> {
        let resources = self.host.resources().map_err(|e| host_error(&e))?;
        let records: Vec<MachineRecord> = self
            .slot_list()
            .iter()
            .map(|slot| lock(slot).record.clone())
            .collect();
        Ok(StatusResponse {
            machine_class_status: class_status(
                &self.classes,
                resources,
                self.policy,
                records.iter(),
            ),
        })
    }

    /// `Exec`: the machine's serial console as a byte stream (both directions). The node agent
    /// forwards it over its QUIC stream; tests drive the guest's shell with it.
    ///
    /// # Errors
    /// `NotFound` when the machine does not exist or its domain does not run.
    pub fn exec(&self, id: &MachineId) -> Result<Console, RuntimeError> {
        let state = self.machine(id)?.status.state;
        if state != MachineState::Running {
            return Err(RuntimeError::new(
                ErrorCode::FailedPrecondition,
                format!("machine {id} is {state:?}, not Running: no console"),
            ));
        }
        let io = self.host.open_console(id).map_err(|e| host_error(&e))?;
        Ok(Console::new(io))
    }

    /// Applies `change` to the machine's record, persists it, and reconciles.
    pub(crate) fn update(
        &self,
        id: &MachineId,
        change: impl FnOnce(&mut MachineRecord, Timestamp) -> Result<(), RuntimeError>,
    ) -> Result<(), RuntimeError> {
        let slot = self.slot(id)?;
        let mut s = lock(&slot);
        if s.removed {
            return Err(not_found(id));
        }
        change(&mut s.record, self.wall())?;
        self.host
            .save_record(&s.record)
            .map_err(|e| host_error(&e))?;
        let _ = self.reconcile_locked(&mut s);
        Ok(())
    }

    pub(crate) fn slot(&self, id: &MachineId) -> Result<SlotRef, RuntimeError> {
        lock(&self.slots)
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    pub(crate) fn slot_list(&self) -> Vec<SlotRef> {
        lock(&self.slots).values().cloned().collect()
    }

    pub(crate) fn wall(&self) -> Timestamp {
        Timestamp(self.clock.wall().as_unix_nanos())
    }

    pub(crate) fn event(&self, rec: &MachineRecord, kind: EventType, reason: &str, msg: String) {
        let at = self.wall();
        lock(&self.events).push(&rec.machine.metadata, kind, reason, msg, at);
    }

    /// A random (version 4) UUID from the runtime's RNG.
    fn new_id(&self) -> MachineId {
        let mut b = [0u8; 16];
        lock(&self.rng).fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        MachineId(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        ))
    }
}

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum NewRuntimeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The backend could not list its state.
    #[error(transparent)]
    Host(#[from] RuntimeError),
}
