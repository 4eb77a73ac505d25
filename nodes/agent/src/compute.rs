//! Machine pools: a `MachineRuntime` per pool over the compute crate's fake host (`--backend
//! sim`), the fourteen MachineRuntime operations, and what the pool holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrocore_api::iri::machine::{
    CreateMachineResponse, ExecResponse, ListEventsResponse, ListMachinesResponse,
    MACHINE_UID_LABEL, Machine, MachineFilter, MachineRequest, MachineResponse, RuntimeError,
};
use ferrocore_api::iri::protocol::{PoolCapacity, PoolRegistration, ReportedState};
use ferrocore_node_compute::fake::FakeHost;
use ferrocore_node_compute::{ComputeConfig, DomainType, MachineRuntime};
use ferrocore_runtime::{Clock, OsSeededRng};

use crate::AgentError;
use crate::config::MachinePoolConfig;

/// Labels the control plane puts on every IRI machine besides the uid (actors'
/// `reconcile::machine`; node crates do not depend on `actors`, so the names are repeated).
pub(crate) const NAMESPACE_LABEL: &str = "compute.ferrocore.dev/machine-namespace";
/// See [`NAMESPACE_LABEL`].
pub(crate) const NAME_LABEL: &str = "compute.ferrocore.dev/machine-name";

/// Size of every image the simulated host holds (it only matters for local disk sizes).
const SIM_IMAGE_BYTES: u64 = 1 << 30;

/// One machine pool.
#[derive(Debug)]
pub(crate) struct MachinePool {
    pub(crate) config: MachinePoolConfig,
    runtime: MachineRuntime<Arc<FakeHost>>,
}

impl MachinePool {
    /// A simulated pool: a fake host of the configured size with the configured images.
    pub(crate) fn sim(
        config: &MachinePoolConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let host = Arc::new(FakeHost::new(
            config.cpus,
            config.memory_mib.saturating_mul(1 << 20),
        ));
        for image in &config.images {
            host.add_image(image, SIM_IMAGE_BYTES);
        }
        let compute = ComputeConfig {
            classes: config.classes.clone(),
            reserved_memory_mib: 0,
            cpu_overcommit: 1,
            shutdown_grace_seconds: 1,
            ..ComputeConfig::default()
        };
        let rng = OsSeededRng::new().map_err(|e| AgentError::Backend(e.to_string()))?;
        let runtime =
            MachineRuntime::new(host, &compute, DomainType::Qemu, clock, Box::new(rng))
                .map_err(|e| AgentError::Backend(format!("machine pool {}: {e}", config.name)))?;
        Ok(Self {
            config: config.clone(),
            runtime,
        })
    }

    /// The pool as the node registers it.
    pub(crate) fn registration(&self) -> PoolRegistration {
        let classes = self
            .runtime
            .status()
            .map(|s| s.machine_class_status)
            .unwrap_or_default();
        PoolRegistration {
            name: self.config.name.clone(),
            provider_id: self.config.provider_id.clone(),
            labels: self.config.labels.clone(),
            capacity: PoolCapacity::Machine(classes),
        }
    }

    /// Whether the runtime answers (the heartbeat probe).
    pub(crate) fn probe(&self) -> Result<(), String> {
        self.runtime.status().map(|_| ()).map_err(|e| e.message)
    }

    /// Background progress (guests shutting down, images appearing).
    pub(crate) fn tick(&self) {
        self.runtime.tick();
    }

    /// The machine labelled with `uid`, if the pool holds one.
    pub(crate) fn observe(&self, uid: &str) -> ReportedState {
        self.by_uid(uid)
            .map_or(ReportedState::Absent, ReportedState::Machine)
    }

    fn by_uid(&self, uid: &str) -> Option<Machine> {
        let filter = MachineFilter {
            id: None,
            label_selector: BTreeMap::from([(MACHINE_UID_LABEL.to_owned(), uid.to_owned())]),
        };
        self.runtime.list_machines(&filter).into_iter().next()
    }

    /// Every machine the pool holds.
    pub(crate) fn inventory(&self) -> Vec<Machine> {
        self.runtime.list_machines(&MachineFilter::default())
    }

    /// Runs one request.
    pub(crate) fn execute(&self, request: MachineRequest) -> MachineResponse {
        match self.run(request) {
            Ok(response) => response,
            Err(e) => MachineResponse::Error(e),
        }
    }

    fn run(&self, request: MachineRequest) -> Result<MachineResponse, RuntimeError> {
        let rt = &self.runtime;
        let done = |r: Result<(), RuntimeError>| r.map(|()| MachineResponse::Done);
        match request {
            MachineRequest::Version(_) => Ok(MachineResponse::Version(rt.version())),
            MachineRequest::ListEvents(r) => Ok(MachineResponse::ListEvents(ListEventsResponse {
                events: rt.list_events(&r.filter),
            })),
            MachineRequest::ListMachines(r) => {
                Ok(MachineResponse::ListMachines(ListMachinesResponse {
                    machines: rt.list_machines(&r.filter),
                }))
            }
            MachineRequest::CreateMachine(r) => rt.create_machine(r).map(|machine| {
                MachineResponse::CreateMachine(Box::new(CreateMachineResponse { machine }))
            }),
            MachineRequest::DeleteMachine(r) => done(rt.delete_machine(&r.machine_id)),
            MachineRequest::UpdateMachineAnnotations(r) => {
                done(rt.update_annotations(&r.machine_id, r.annotations))
            }
            MachineRequest::UpdateMachinePower(r) => done(rt.update_power(&r.machine_id, r.power)),
            MachineRequest::AttachVolume(r) => done(rt.attach_volume(&r.machine_id, r.volume)),
            MachineRequest::UpdateVolume(r) => done(rt.update_volume(&r.machine_id, r.volume)),
            MachineRequest::DetachVolume(r) => done(rt.detach_volume(&r.machine_id, &r.name)),
            MachineRequest::AttachNetworkInterface(r) => {
                done(rt.attach_nic(&r.machine_id, r.network_interface))
            }
            MachineRequest::DetachNetworkInterface(r) => {
                done(rt.detach_nic(&r.machine_id, &r.name))
            }
            MachineRequest::Status => rt.status().map(MachineResponse::Status),
            // The console cannot ride the node protocol's frames yet: check that it opens and
            // answer with the machine it belongs to.
            MachineRequest::Exec(r) => rt.exec(&r.machine_id).map(|_console| {
                MachineResponse::Exec(ExecResponse {
                    machine_id: r.machine_id,
                })
            }),
        }
    }
}
