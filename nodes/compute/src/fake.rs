//! A fake hypervisor host for the simulator and for tests: it keeps real state (domains with
//! their disks and NICs, files, images, records, memory) and refuses what libvirt would refuse
//! (a second domain of one name, a disk on a taken target, a 31st device, an encrypted RBD
//! hot-plug, shrinking a disk, more guest memory than the host has). It is not a mock: the
//! conformance suite ([`crate::conformance`]) holds it to the same behaviour as libvirt.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ferrocore_api::iri::machine::MachineId;

use crate::host::{ConsoleIo, Host, HostError, ImageBoot, LocalDiskPlan, ResolvedImage};
use crate::model::{
    DiskSource, DiskSpec, DomainObservation, DomainRunState, DomainSpec, HostResources,
    MachineRecord, NicSpec, ObservedDisk,
};
use crate::runtime::lock;

/// PCIe root ports the real domain XML pre-creates for hot-plug; the fake has as many slots.
pub const FAKE_PCI_SLOTS: usize = 30;

#[derive(Debug)]
struct FakeDomain {
    spec: DomainSpec,
    state: DomainRunState,
    disks: BTreeMap<String, (DiskSpec, u64)>,
    nics: BTreeMap<String, NicSpec>,
}

#[derive(Debug, Default)]
struct World {
    domains: BTreeMap<MachineId, FakeDomain>,
    records: BTreeMap<MachineId, MachineRecord>,
    files: BTreeMap<PathBuf, u64>,
    images: BTreeMap<String, ResolvedImage>,
    dirs: BTreeSet<MachineId>,
    guests_ignore_acpi: bool,
}

/// The fake host.
#[derive(Debug)]
pub struct FakeHost {
    resources: HostResources,
    world: Mutex<World>,
}

const ROOT: &str = "/fake";

impl FakeHost {
    /// A host with `cpus` CPUs and `memory_bytes` of memory, OVMF firmware present, no images.
    pub fn new(cpus: u32, memory_bytes: u64) -> Self {
        let mut world = World::default();
        world
            .files
            .insert(PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd"), 4 << 20);
        Self {
            resources: HostResources { cpus, memory_bytes },
            world: Mutex::new(world),
        }
    }

    /// Adds an image to the fake store under `name` (`virtual_size` bytes, direct-kernel boot).
    pub fn add_image(&self, name: &str, virtual_size: u64) {
        let image = ResolvedImage {
            digest: format!("sha256:{:064x}", virtual_size),
            path: PathBuf::from(format!("{ROOT}/images/{name}")),
            format: "raw",
            virtual_size,
            boot: ImageBoot::Kernel {
                kernel: PathBuf::from(format!("{ROOT}/images/{name}.kernel")),
                initrd: PathBuf::from(format!("{ROOT}/images/{name}.initrd")),
                cmdline: None,
            },
        };
        lock(&self.world).images.insert(name.to_string(), image);
    }

    /// Adds a file (a storage node's local volume) of `size` bytes.
    pub fn add_file(&self, path: &Path, size: u64) {
        lock(&self.world).files.insert(path.to_path_buf(), size);
    }

    /// Makes guests ignore the ACPI power button (so shutdowns need the destroy fallback).
    pub fn set_guests_ignore_acpi(&self, ignore: bool) {
        lock(&self.world).guests_ignore_acpi = ignore;
    }

    /// Simulates the guest powering itself off (the domain disappears: it is transient).
    pub fn guest_poweroff(&self, id: &MachineId) {
        lock(&self.world).domains.remove(id);
    }

    fn machine_dir(id: &MachineId) -> PathBuf {
        PathBuf::from(format!("{ROOT}/machines/{}", id.0))
    }

    fn used_memory(world: &World) -> u64 {
        world.domains.values().map(|d| d.spec.memory_bytes).sum()
    }

    fn disk_capacity(world: &World, disk: &DiskSpec) -> Result<u64, HostError> {
        match &disk.source {
            DiskSource::File { path, .. } => world
                .files
                .get(path)
                .copied()
                .ok_or_else(|| HostError::NotFound(format!("disk file {}", path.display()))),
            DiskSource::Rbd { .. } => Ok(1 << 30),
        }
    }

    fn with_domain<T>(
        &self,
        id: &MachineId,
        f: impl FnOnce(&mut FakeDomain, &mut BTreeMap<PathBuf, u64>) -> Result<T, HostError>,
    ) -> Result<T, HostError> {
        let mut world = lock(&self.world);
        let World { domains, files, .. } = &mut *world;
        let dom = domains
            .get_mut(id)
            .ok_or_else(|| HostError::NotFound(format!("domain {id}")))?;
        f(dom, files)
    }
}

fn observe(id: &MachineId, dom: &FakeDomain) -> DomainObservation {
    DomainObservation {
        id: id.clone(),
        metadata: dom.spec.metadata.clone(),
        state: dom.state,
        disks: dom
            .disks
            .iter()
            .map(|(alias, (spec, cap))| ObservedDisk {
                alias: alias.clone(),
                target: spec.target.clone(),
                capacity_bytes: *cap,
            })
            .collect(),
        nics: dom.nics.keys().cloned().collect(),
    }
}

impl Host for FakeHost {
    fn name(&self) -> &'static str {
        "ferrocore-fake"
    }

    fn resources(&self) -> Result<HostResources, HostError> {
        Ok(self.resources)
    }

    fn list_domains(&self) -> Result<Vec<DomainObservation>, HostError> {
        let world = lock(&self.world);
        Ok(world.domains.iter().map(|(id, d)| observe(id, d)).collect())
    }

    fn observe(&self, id: &MachineId) -> Result<Option<DomainObservation>, HostError> {
        Ok(lock(&self.world).domains.get(id).map(|d| observe(id, d)))
    }

    fn create_domain(&self, spec: &DomainSpec) -> Result<(), HostError> {
        let mut world = lock(&self.world);
        if world.domains.contains_key(&spec.id) {
            return Err(HostError::Refused(format!(
                "domain {} already exists",
                spec.id
            )));
        }
        if Self::used_memory(&world) + spec.memory_bytes > self.resources.memory_bytes {
            return Err(HostError::Exhausted("not enough host memory".into()));
        }
        if spec.disks.len() + spec.nics.len() > FAKE_PCI_SLOTS {
            return Err(HostError::Exhausted("No more available PCI slots".into()));
        }
        let mut disks = BTreeMap::new();
        for disk in &spec.disks {
            let cap = Self::disk_capacity(&world, disk)?;
            if disks
                .insert(disk.alias.clone(), (disk.clone(), cap))
                .is_some()
            {
                return Err(HostError::Refused(format!(
                    "duplicate disk alias {}",
                    disk.alias
                )));
            }
        }
        for path in [&spec.ignition, &spec.hostname.as_ref().map(|h| h.1.clone())]
            .into_iter()
            .flatten()
        {
            if !world.files.contains_key(path) {
                return Err(HostError::NotFound(format!(
                    "fw_cfg file {}",
                    path.display()
                )));
            }
        }
        let nics = spec
            .nics
            .iter()
            .map(|n| (n.alias.clone(), n.clone()))
            .collect();
        world.files.insert(spec.console_log.clone(), 0);
        world.domains.insert(
            spec.id.clone(),
            FakeDomain {
                spec: spec.clone(),
                state: DomainRunState::Running,
                disks,
                nics,
            },
        );
        Ok(())
    }

    fn shutdown_domain(&self, id: &MachineId) -> Result<(), HostError> {
        let mut world = lock(&self.world);
        let ignore = world.guests_ignore_acpi;
        let dom = world
            .domains
            .get_mut(id)
            .ok_or_else(|| HostError::NotFound(format!("domain {id}")))?;
        if dom.state != DomainRunState::Running {
            return Err(HostError::Refused(format!("domain {id} is not running")));
        }
        if !ignore {
            // The guest honours the button: a transient domain disappears when it powers off.
            world.domains.remove(id);
        }
        Ok(())
    }

    fn destroy_domain(&self, id: &MachineId) -> Result<(), HostError> {
        lock(&self.world).domains.remove(id);
        Ok(())
    }

    fn attach_disk(&self, id: &MachineId, disk: &DiskSpec) -> Result<(), HostError> {
        let mut world = lock(&self.world);
        let cap = Self::disk_capacity(&world, disk)?;
        let dom = world
            .domains
            .get_mut(id)
            .ok_or_else(|| HostError::NotFound(format!("domain {id}")))?;
        if matches!(
            &disk.source,
            DiskSource::Rbd {
                encryption: Some(_),
                ..
            }
        ) {
            return Err(HostError::Refused(
                "encrypted RBD volumes cannot be hot-plugged".into(),
            ));
        }
        if dom.disks.len() + dom.nics.len() >= FAKE_PCI_SLOTS {
            return Err(HostError::Exhausted("No more available PCI slots".into()));
        }
        if dom.disks.contains_key(&disk.alias)
            || dom.disks.values().any(|(d, _)| d.target == disk.target)
        {
            return Err(HostError::Refused(format!(
                "target {} or alias taken",
                disk.target
            )));
        }
        dom.disks.insert(disk.alias.clone(), (disk.clone(), cap));
        Ok(())
    }

    fn detach_disk(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        self.with_domain(id, |dom, _| {
            dom.disks
                .remove(alias)
                .map(|_| ())
                .ok_or_else(|| HostError::NotFound(format!("disk {alias}")))
        })
    }

    fn resize_disk(&self, id: &MachineId, target: &str, bytes: u64) -> Result<(), HostError> {
        self.with_domain(id, |dom, files| {
            let (disk, cap) = dom
                .disks
                .values_mut()
                .find(|(d, _)| d.target == target)
                .ok_or_else(|| {
                    HostError::NotFound(format!("invalid path {target} not assigned to domain"))
                })?;
            if bytes < *cap {
                return Err(HostError::Refused(
                    "shrinking a disk is not supported".into(),
                ));
            }
            *cap = bytes;
            if let DiskSource::File { path, .. } = &disk.source {
                files.insert(path.clone(), bytes);
            }
            Ok(())
        })
    }

    fn attach_nic(&self, id: &MachineId, nic: &NicSpec) -> Result<(), HostError> {
        self.with_domain(id, |dom, _| {
            if dom.disks.len() + dom.nics.len() >= FAKE_PCI_SLOTS {
                return Err(HostError::Exhausted("No more available PCI slots".into()));
            }
            if dom.nics.insert(nic.alias.clone(), nic.clone()).is_some() {
                return Err(HostError::Refused(format!("alias {} taken", nic.alias)));
            }
            Ok(())
        })
    }

    fn detach_nic(&self, id: &MachineId, alias: &str) -> Result<(), HostError> {
        self.with_domain(id, |dom, _| {
            dom.nics
                .remove(alias)
                .map(|_| ())
                .ok_or_else(|| HostError::NotFound(format!("nic {alias}")))
        })
    }

    fn resolve_image(&self, reference: &str) -> Result<ResolvedImage, HostError> {
        let world = lock(&self.world);
        world
            .images
            .get(reference)
            .or_else(|| world.images.values().find(|i| i.digest == reference))
            .cloned()
            .ok_or_else(|| HostError::NotFound(format!("image {reference}")))
    }

    fn file_size(&self, path: &Path) -> Result<u64, HostError> {
        lock(&self.world)
            .files
            .get(path)
            .copied()
            .ok_or_else(|| HostError::NotFound(path.display().to_string()))
    }

    fn prepare_local_disk(
        &self,
        id: &MachineId,
        volume: &str,
        plan: &LocalDiskPlan,
    ) -> Result<(PathBuf, &'static str), HostError> {
        let mut world = lock(&self.world);
        let path = Self::machine_dir(id)
            .join("disks")
            .join(format!("{volume}.qcow2"));
        let size = match plan {
            LocalDiskPlan::Overlay { size_bytes, .. } | LocalDiskPlan::Empty { size_bytes } => {
                *size_bytes
            }
        };
        world.dirs.insert(id.clone());
        world.files.entry(path.clone()).or_insert(size);
        Ok((path, "qcow2"))
    }

    fn remove_local_disk(&self, id: &MachineId, volume: &str) -> Result<(), HostError> {
        let path = Self::machine_dir(id)
            .join("disks")
            .join(format!("{volume}.qcow2"));
        lock(&self.world).files.remove(&path);
        Ok(())
    }

    fn write_machine_file(
        &self,
        id: &MachineId,
        name: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, HostError> {
        let path = Self::machine_dir(id).join(name);
        let mut world = lock(&self.world);
        world.dirs.insert(id.clone());
        world.files.insert(path.clone(), bytes.len() as u64);
        Ok(path)
    }

    fn console_log_path(&self, id: &MachineId) -> PathBuf {
        Self::machine_dir(id).join("console.log")
    }

    fn remove_machine(&self, id: &MachineId) -> Result<(), HostError> {
        let dir = Self::machine_dir(id);
        let mut world = lock(&self.world);
        world.files.retain(|p, _| !p.starts_with(&dir));
        world.dirs.remove(id);
        world.records.remove(id);
        Ok(())
    }

    fn machines_on_disk(&self) -> Result<Vec<MachineId>, HostError> {
        let world = lock(&self.world);
        let mut ids: BTreeSet<MachineId> = world.dirs.clone();
        ids.extend(world.records.keys().cloned());
        Ok(ids.into_iter().collect())
    }

    fn save_record(&self, record: &MachineRecord) -> Result<(), HostError> {
        let mut world = lock(&self.world);
        world.dirs.insert(record.id().clone());
        world.records.insert(record.id().clone(), record.clone());
        Ok(())
    }

    fn load_records(&self) -> Result<Vec<MachineRecord>, HostError> {
        Ok(lock(&self.world).records.values().cloned().collect())
    }

    fn open_console(&self, id: &MachineId) -> Result<Box<dyn ConsoleIo>, HostError> {
        if !lock(&self.world).domains.contains_key(id) {
            return Err(HostError::NotFound(format!("domain {id}")));
        }
        Ok(Box::new(EchoConsole::default()))
    }
}

/// The fake's console: the guest echoes what it is sent (enough for an exec bridge test).
#[derive(Debug, Default)]
struct EchoConsole {
    pending: Mutex<Vec<u8>>,
}

impl ConsoleIo for EchoConsole {
    fn read(&self, buf: &mut [u8], _timeout: Duration) -> Result<usize, HostError> {
        let mut pending = lock(&self.pending);
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        pending.drain(..n);
        Ok(n)
    }

    fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        lock(&self.pending).extend_from_slice(bytes);
        Ok(())
    }
}
