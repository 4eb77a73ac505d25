//! Machine pools: a `MachineRuntime` per pool over the compute crate's fake host (`--backend
//! sim`) or a libvirt host (`--backend real`), the fourteen MachineRuntime operations, and what
//! the pool holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ferrocore_api::iri::machine::{
    CreateMachineResponse, ExecResponse, ListEventsResponse, ListMachinesResponse,
    MACHINE_UID_LABEL, Machine, MachineFilter, MachineRequest, MachineResponse, RuntimeError,
};
use ferrocore_api::iri::protocol::{PoolCapacity, PoolRegistration, ReportedState};
use ferrocore_node_compute::fake::FakeHost;
use ferrocore_node_compute::{
    BootImport, ComputeConfig, DomainType, Host, ImageSource, LibvirtHost, MachineRuntime,
    choose_domain_type, detect_domain_type,
};
use ferrocore_runtime::{Clock, OsSeededRng};

use crate::AgentError;
use crate::config::{ImageImport, LibvirtConfig, MachinePoolConfig};

/// Labels the control plane puts on every IRI machine besides the uid (actors'
/// `reconcile::machine`; node crates do not depend on `actors`, so the names are repeated).
pub(crate) const NAMESPACE_LABEL: &str = "compute.ferrocore.dev/machine-namespace";
/// See [`NAMESPACE_LABEL`].
pub(crate) const NAME_LABEL: &str = "compute.ferrocore.dev/machine-name";

/// Size of every image the simulated host holds (it only matters for local disk sizes).
const SIM_IMAGE_BYTES: u64 = 1 << 30;

/// The runtime of a pool, on one of the hosts.
#[derive(Debug)]
enum Runtime {
    Sim(MachineRuntime<Arc<FakeHost>>),
    Libvirt(MachineRuntime<LibvirtHost>),
}

/// Runs `$body` with `$rt` bound to the pool's runtime, whichever host it is on.
macro_rules! with_rt {
    ($pool:expr, $rt:ident => $body:expr) => {
        match &$pool.runtime {
            Runtime::Sim($rt) => $body,
            Runtime::Libvirt($rt) => $body,
        }
    };
}

/// One machine pool.
#[derive(Debug)]
pub(crate) struct MachinePool {
    pub(crate) config: MachinePoolConfig,
    runtime: Runtime,
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
            runtime: Runtime::Sim(runtime),
        })
    }

    /// A pool on the libvirt host its config names; machines the host already runs for this
    /// state directory are re-adopted (by label and uid), not created again.
    ///
    /// # Errors
    /// [`AgentError::Backend`] naming the fix when libvirtd does not answer, an image does not
    /// import, or a class is invalid.
    pub(crate) fn libvirt(
        config: &MachinePoolConfig,
        node_state: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let fail =
            |what: String| AgentError::Backend(format!("machine pool {}: {what}", config.name));
        let lv = config.libvirt.clone().unwrap_or_default();
        let compute = compute_config(config, &lv, node_state);
        let host = LibvirtHost::open(&compute).map_err(|e| {
            fail(format!(
                "libvirtd is not reachable at {} ({e}): run scripts/libvirt-up.sh (or set \
                 [machine_pools.libvirt] uri)",
                lv.uri
            ))
        })?;
        for image in &lv.images {
            import(&host, image).map_err(|e| fail(format!("image {}: {e}", image.name)))?;
        }
        let domain_type = domain_type(&lv, &host);
        let rng = OsSeededRng::new().map_err(|e| AgentError::Backend(e.to_string()))?;
        let runtime = MachineRuntime::new(host, &compute, domain_type, clock, Box::new(rng))
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(pool = %config.name, uri = %lv.uri, ?domain_type, "machine pool on libvirt");
        Ok(Self {
            config: config.clone(),
            runtime: Runtime::Libvirt(runtime),
        })
    }

    /// The pool as the node registers it.
    pub(crate) fn registration(&self) -> PoolRegistration {
        let classes = with_rt!(self, rt => rt.status())
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
        with_rt!(self, rt => rt.status())
            .map(|_| ())
            .map_err(|e| e.message)
    }

    /// Background progress (guests shutting down, images appearing).
    pub(crate) fn tick(&self) {
        with_rt!(self, rt => rt.tick());
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
        with_rt!(self, rt => rt.list_machines(&filter))
            .into_iter()
            .next()
    }

    /// Every machine the pool holds.
    pub(crate) fn inventory(&self) -> Vec<Machine> {
        with_rt!(self, rt => rt.list_machines(&MachineFilter::default()))
    }

    /// Runs one request.
    pub(crate) fn execute(&self, request: MachineRequest) -> MachineResponse {
        match with_rt!(self, rt => run(rt, request)) {
            Ok(response) => response,
            Err(e) => MachineResponse::Error(e),
        }
    }
}

fn run<H: Host>(
    rt: &MachineRuntime<H>,
    request: MachineRequest,
) -> Result<MachineResponse, RuntimeError> {
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
        MachineRequest::DetachNetworkInterface(r) => done(rt.detach_nic(&r.machine_id, &r.name)),
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

/// The compute crate's config for a libvirt pool.
fn compute_config(
    pool: &MachinePoolConfig,
    lv: &LibvirtConfig,
    node_state: &Path,
) -> ComputeConfig {
    let state_dir = if lv.state_dir.as_os_str().is_empty() {
        node_state.join("compute").join(&pool.name)
    } else {
        lv.state_dir.clone()
    };
    ComputeConfig {
        state_dir,
        libvirt_uri: lv.uri.clone(),
        domain_type: lv.domain_type,
        shutdown_grace_seconds: lv.shutdown_grace_seconds,
        reserved_memory_mib: lv.reserved_memory_mib,
        cpu_overcommit: lv.cpu_overcommit.max(1),
        volume_cache: lv.volume_cache.clone(),
        classes: pool.classes.clone(),
        ..ComputeConfig::default()
    }
}

fn source(s: &str) -> ImageSource {
    if s.starts_with("http://") || s.starts_with("https://") {
        ImageSource::Url(s.to_owned())
    } else {
        ImageSource::File(s.into())
    }
}

/// Imports one configured boot image into the host's store.
fn import(host: &LibvirtHost, image: &ImageImport) -> Result<(), String> {
    let boot = match (&image.kernel, &image.initrd) {
        (Some(kernel), Some(initrd)) => BootImport::Kernel {
            kernel: source(kernel),
            initrd: source(initrd),
            cmdline: image.cmdline.clone(),
        },
        (None, None) => BootImport::Disk { uefi: image.uefi },
        _ => return Err("`kernel` and `initrd` go together".into()),
    };
    host.images()
        .import(&image.name, &source(&image.disk), &boot)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The domain type: the setting, else KVM only where the CPU has it and (with a configured
/// direct-boot image to probe with) a KVM guest boots.
fn domain_type(lv: &LibvirtConfig, host: &LibvirtHost) -> DomainType {
    fn file(s: Option<&String>) -> Option<&Path> {
        s.filter(|s| !s.contains("://")).map(Path::new)
    }
    let probe = lv
        .images
        .iter()
        .find_map(|i| Some((file(i.kernel.as_ref())?, file(i.initrd.as_ref())?)));
    match probe {
        Some((kernel, initrd)) => detect_domain_type(lv.domain_type, host, kernel, initrd),
        None => {
            let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
            choose_domain_type(lv.domain_type, &cpuinfo, || true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocore_runtime::SystemClock;

    #[test]
    fn an_unreachable_libvirtd_is_refused_naming_the_fix() {
        let dir = std::env::temp_dir().join(format!("agent-libvirt-{}", std::process::id()));
        let pool = MachinePoolConfig {
            name: "hv".into(),
            provider_id: String::new(),
            labels: BTreeMap::new(),
            cpus: 0,
            memory_mib: 0,
            images: Vec::new(),
            classes: Vec::new(),
            libvirt: Some(LibvirtConfig {
                uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock".into(),
                state_dir: dir.join("compute"),
                ..LibvirtConfig::default()
            }),
        };
        let err = MachinePool::libvirt(&pool, &dir, Arc::new(SystemClock::new()))
            .expect_err("no libvirtd behind that socket")
            .to_string();
        assert!(err.contains("machine pool hv"), "{err}");
        assert!(err.contains("scripts/libvirt-up.sh"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
