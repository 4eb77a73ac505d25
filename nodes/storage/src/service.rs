//! The volume runtime's driver: answers VolumeRuntime requests from the core, persists every
//! change before it is acknowledged, and runs backend work on worker threads (so a 28 s LUKS2
//! format never holds up other requests or other volumes).

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ferrocore_api::iri::volume::{
    CreateVolumeRequest, CreateVolumeResponse, CreateVolumeSnapshotRequest,
    CreateVolumeSnapshotResponse, DeleteVolumeRequest, DeleteVolumeResponse,
    DeleteVolumeSnapshotRequest, DeleteVolumeSnapshotResponse, ExpandVolumeRequest,
    ExpandVolumeResponse, ListEventsRequest, ListEventsResponse, ListVolumeSnapshotsRequest,
    ListVolumeSnapshotsResponse, ListVolumesRequest, ListVolumesResponse, RuntimeError, SnapshotId,
    StatusRequest, StatusResponse, UnixNanos, VersionRequest, VersionResponse, VolumeClass,
    VolumeClassStatus, VolumeId, VolumeState,
};
use ferrocore_runtime::{Clock, MonoTime, Rng};

use crate::backend::{BackendError, BlockBackend, Passphrase, Provision, RecordStore};
use crate::core::plan::{CreateVolumeInput, requested_passphrase};
use crate::core::{Mutation, Outcome, VolumeCore, Work};
use crate::kek::Kek;
use crate::record::{BaseRecord, Namespace, SnapshotRecord, VolumeRecord};

/// Re-draws of a colliding random id before giving up (a collision of 100 random bits is
/// already astronomically unlikely; the bound only keeps a broken `Rng` from looping forever).
const ID_DRAWS_MAX: usize = 8;
/// How often the health probe runs while workers are started.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long an idle worker sleeps before looking for due work (retries become due by time).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// How a volume runtime is set up.
#[derive(Clone, Debug)]
pub struct VolumeConfig {
    /// The classes offered.
    pub classes: Vec<VolumeClass>,
    /// The key that wraps volume passphrases; without it encrypted volumes are refused.
    pub kek: Option<Kek>,
}

/// The VolumeRuntime of one storage node over one backend.
#[derive(Debug)]
pub struct VolumeService {
    core: Mutex<VolumeCore>,
    backend: Arc<dyn BlockBackend>,
    store: Arc<dyn RecordStore>,
    clock: Arc<dyn Clock>,
    rng: Mutex<Box<dyn Rng>>,
    kek: Option<Kek>,
    wake: Condvar,
    wake_lock: Mutex<bool>,
}

impl VolumeService {
    /// Opens the runtime: loads every record from `store`. Work left by a previous run
    /// (including a crash) is picked up by [`Self::reconcile_once`] or the workers.
    ///
    /// # Errors
    /// [`RuntimeError::Unavailable`] when the store cannot be read, or a record is corrupt.
    pub fn open(
        backend: Arc<dyn BlockBackend>,
        store: Arc<dyn RecordStore>,
        config: VolumeConfig,
        clock: Arc<dyn Clock>,
        rng: Box<dyn Rng>,
    ) -> Result<Self, RuntimeError> {
        let volumes: Vec<VolumeRecord> = load(store.as_ref(), Namespace::Volumes)?;
        let snapshots: Vec<SnapshotRecord> = load(store.as_ref(), Namespace::Snapshots)?;
        let bases: Vec<BaseRecord> = load(store.as_ref(), Namespace::Bases)?;
        let core = VolumeCore::new(
            config.classes,
            backend.supports_encryption() && config.kek.is_some(),
            volumes,
            snapshots,
            bases,
        );
        core.check_invariants();
        Ok(Self {
            core: Mutex::new(core),
            backend,
            store,
            clock,
            rng: Mutex::new(rng),
            kek: config.kek,
            wake: Condvar::new(),
            wake_lock: Mutex::new(false),
        })
    }

    /// `Version`.
    pub fn version(&self, _req: &VersionRequest) -> VersionResponse {
        VersionResponse {
            runtime_name: format!("ferrocore-{}", self.backend.name()),
            runtime_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// `ListEvents`.
    pub fn list_events(&self, req: &ListEventsRequest) -> ListEventsResponse {
        let core = self.lock();
        ListEventsResponse {
            events: core
                .events()
                .filter(|e| req.filter.matches(e))
                .cloned()
                .collect(),
        }
    }

    /// `ListVolumes`: answered from memory, so it works while the backend is down.
    pub fn list_volumes(&self, req: &ListVolumesRequest) -> ListVolumesResponse {
        let core = self.lock();
        let volumes = core
            .volumes()
            .filter(|(r, _)| {
                req.filter
                    .matches(r.volume.id.as_str(), &r.volume.metadata.labels)
            })
            .map(|(r, conditions)| {
                let mut v = r.volume.clone();
                v.status.conditions = conditions;
                if v.status.state == VolumeState::Available {
                    v.status.access = Some(self.backend.access(&r.image(), &r.wwn, r.qos));
                }
                if let Some(e) = &r.error {
                    v.status
                        .conditions
                        .push(ferrocore_api::iri::volume::Condition {
                            condition_type: "Provisioned".into(),
                            status: false,
                            reason: "Failed".into(),
                            message: e.clone(),
                        });
                }
                v
            })
            .collect();
        ListVolumesResponse { volumes }
    }

    /// `CreateVolume`: persisted (Pending) before it returns; provisioning runs in the
    /// background.
    ///
    /// # Errors
    /// Invalid requests, and [`RuntimeError::Unavailable`] when the store cannot be written.
    pub fn create_volume(
        &self,
        req: CreateVolumeRequest,
    ) -> Result<CreateVolumeResponse, RuntimeError> {
        let wrapped_key = match (requested_passphrase(&req)?, &self.kek) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(RuntimeError::InvalidArgument(
                    "This node has no key-encryption key: encrypted volumes are refused".into(),
                ));
            }
            (Some(key), Some(kek)) => Some(kek.wrap(key, self.rng().as_mut())),
        };
        let mut core = self.lock();
        let id = VolumeId(self.fresh_id(&core)?);
        let wwn = self.fresh_hex(8);
        let input = CreateVolumeInput {
            id,
            wwn,
            wrapped_key,
            request: req,
        };
        let (volume, muts) = core.plan_create_volume(self.wall(), input)?;
        self.commit(&mut core, muts)?;
        drop(core);
        self.kick();
        Ok(CreateVolumeResponse { volume })
    }

    /// `ExpandVolume`.
    ///
    /// # Errors
    /// Unknown volume, a class without expansion, a shrink, or an unwritable store.
    pub fn expand_volume(
        &self,
        req: &ExpandVolumeRequest,
    ) -> Result<ExpandVolumeResponse, RuntimeError> {
        let mut core = self.lock();
        let muts = core.plan_expand(self.wall(), &req.volume_id, req.size)?;
        self.commit(&mut core, muts)?;
        drop(core);
        self.kick();
        Ok(ExpandVolumeResponse {})
    }

    /// `DeleteVolume`.
    ///
    /// # Errors
    /// Unknown volume, or an unwritable store.
    pub fn delete_volume(
        &self,
        req: &DeleteVolumeRequest,
    ) -> Result<DeleteVolumeResponse, RuntimeError> {
        let mut core = self.lock();
        let muts = core.plan_delete_volume(self.wall(), &req.volume_id)?;
        self.commit(&mut core, muts)?;
        drop(core);
        self.kick();
        Ok(DeleteVolumeResponse {})
    }

    /// `CreateVolumeSnapshot`.
    ///
    /// # Errors
    /// Unknown or not-Available source, or an unwritable store.
    pub fn create_volume_snapshot(
        &self,
        req: CreateVolumeSnapshotRequest,
    ) -> Result<CreateVolumeSnapshotResponse, RuntimeError> {
        let mut core = self.lock();
        let id = SnapshotId(self.fresh_id(&core)?);
        let (volume_snapshot, muts) = core.plan_create_snapshot(self.wall(), id, req)?;
        self.commit(&mut core, muts)?;
        drop(core);
        self.kick();
        Ok(CreateVolumeSnapshotResponse { volume_snapshot })
    }

    /// `DeleteVolumeSnapshot`.
    ///
    /// # Errors
    /// Unknown snapshot, or an unwritable store.
    pub fn delete_volume_snapshot(
        &self,
        req: &DeleteVolumeSnapshotRequest,
    ) -> Result<DeleteVolumeSnapshotResponse, RuntimeError> {
        let mut core = self.lock();
        let muts = core.plan_delete_snapshot(self.wall(), &req.snapshot_id)?;
        self.commit(&mut core, muts)?;
        drop(core);
        self.kick();
        Ok(DeleteVolumeSnapshotResponse {})
    }

    /// `ListVolumeSnapshots`.
    pub fn list_volume_snapshots(
        &self,
        req: &ListVolumeSnapshotsRequest,
    ) -> ListVolumeSnapshotsResponse {
        let core = self.lock();
        let volume_snapshots = core
            .snapshots()
            .filter(|s| req.filter.matches(s.id.as_str(), &s.metadata.labels))
            .cloned()
            .collect();
        ListVolumeSnapshotsResponse { volume_snapshots }
    }

    /// `Status`: every class with the bytes available as last probed.
    pub fn status(&self, _req: &StatusRequest) -> StatusResponse {
        let core = self.lock();
        let quantity = core.capacity();
        StatusResponse {
            volume_class_status: core
                .classes()
                .map(|c| VolumeClassStatus {
                    volume_class: c.clone(),
                    quantity,
                })
                .collect(),
        }
    }

    /// Probes the backend and records its health and capacity (the workers do this every
    /// [`PROBE_INTERVAL`]).
    pub fn probe(&self) {
        let result = self
            .backend
            .probe()
            .and_then(|()| self.backend.capacity())
            .map_err(|e| e.to_string());
        let wall = self.wall();
        let mut core = self.lock();
        if let Some(event) = core.observe_health(wall, result) {
            core.apply(event);
        }
    }

    /// Runs one due piece of backend work to completion; `false` when none was due.
    pub fn reconcile_once(&self) -> bool {
        let Some(work) = self.lock().next_work(self.clock.now()) else {
            return false;
        };
        let result = self.run(&work);
        let (now, wall) = (self.clock.now(), self.wall());
        let mut core = self.lock();
        let muts = core.complete(now, wall, &work, result);
        // A store failure here leaves the record as it was: the work is re-planned and, being
        // idempotent, redone.
        let _ = self.commit(&mut core, muts);
        core.finish(&work.key());
        core.check_invariants();
        true
    }

    /// Runs work until nothing is due or running, or `max_steps` pieces ran. For tests,
    /// benchmarks and the simulator; a node uses [`Self::start_workers`].
    pub fn settle(&self, max_steps: usize) -> bool {
        for _ in 0..max_steps {
            if !self.reconcile_once() && self.lock().settled(self.clock.now()) {
                return true;
            }
        }
        self.lock().settled(self.clock.now())
    }

    /// Runs work until nothing is due, running or waiting for a retry, or `timeout` of the
    /// service's clock passed; waits between passes. For real backends in tests and benchmarks.
    pub fn settle_for(&self, timeout: Duration) -> bool {
        let deadline = self.clock.now() + timeout;
        loop {
            if self.reconcile_once() {
                continue;
            }
            if self.is_settled() {
                return true;
            }
            if self.clock.now() >= deadline {
                return false;
            }
            self.wait_for_work(IDLE_WAIT);
        }
    }

    /// Whether no backend work is due or running.
    pub fn is_settled(&self) -> bool {
        self.lock().settled(self.clock.now())
    }

    /// Why the backend is unreachable, if the last probe or work said so.
    pub fn unavailable(&self) -> Option<String> {
        self.lock().unavailable().map(str::to_owned)
    }

    /// The backend (tests read and write image data through it).
    pub fn backend(&self) -> &Arc<dyn BlockBackend> {
        &self.backend
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, VolumeCore> {
        // A panic while holding the lock is a broken invariant in the core; keep serving the
        // state as last committed rather than poisoning every later request.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn wall(&self) -> UnixNanos {
        UnixNanos(self.clock.wall().as_unix_nanos())
    }

    pub(crate) fn now(&self) -> MonoTime {
        self.clock.now()
    }

    pub(crate) fn wait_for_work(&self, timeout: Duration) {
        let guard = self
            .wake_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (mut woken, _) = self
            .wake
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(PoisonError::into_inner);
        *woken = false;
    }

    pub(crate) fn idle_wait() -> Duration {
        IDLE_WAIT
    }

    pub(crate) fn kick(&self) {
        *self
            .wake_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    fn rng(&self) -> MutexGuard<'_, Box<dyn Rng>> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_hex(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.rng().fill(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn fresh_id(&self, core: &VolumeCore) -> Result<String, RuntimeError> {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
        for _ in 0..ID_DRAWS_MAX {
            let mut buf = [0u8; 20];
            self.rng().fill(&mut buf);
            let id: String = buf
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
                .collect();
            if !core.id_taken(&id) {
                return Ok(id);
            }
        }
        Err(RuntimeError::Internal("Could not draw a fresh id".into()))
    }

    /// Persists then applies each mutation, stopping at the first store failure (so memory
    /// never runs ahead of the store).
    fn commit(&self, core: &mut VolumeCore, muts: Vec<Mutation>) -> Result<(), RuntimeError> {
        for m in muts {
            persist(self.store.as_ref(), &m)
                .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
            core.apply(m);
        }
        Ok(())
    }

    fn run(&self, work: &Work) -> Result<Outcome, BackendError> {
        let b = self.backend.as_ref();
        match work {
            Work::CollectOrphans => {
                let listed = b.list_images()?;
                let orphans = self.lock().orphans(&listed);
                for image in orphans {
                    b.remove(&image)?;
                }
                Ok(Outcome::Done)
            }
            Work::ImportBase { base, reference } => {
                let path = resolve_image(reference, b.image_dir())?;
                b.import_base(base, &path).map(Outcome::Sized)
            }
            Work::Provision {
                image,
                size,
                source,
                qos,
                wwn,
                format_with,
                ..
            } => {
                let format_with = match (format_with, &self.kek) {
                    (None, _) => None,
                    (Some(w), Some(kek)) => Some(Passphrase(
                        kek.unwrap(w)
                            .map_err(|e| BackendError::Refused(e.to_string()))?,
                    )),
                    (Some(_), None) => {
                        return Err(BackendError::Refused("No key-encryption key".into()));
                    }
                };
                let p = Provision {
                    image: image.clone(),
                    size: *size,
                    source: source.clone(),
                    qos: *qos,
                    wwn: wwn.clone(),
                    format_with,
                };
                b.provision(&p).map(Outcome::Sized)
            }
            Work::Expand { image, size, .. } => b.resize(image, *size).map(Outcome::Sized),
            Work::RemoveVolume { image, .. } => b.remove(image).map(|()| Outcome::Done),
            Work::TakeSnapshot { id, image } => b.snapshot(image, id.as_str()).map(Outcome::Sized),
            Work::RemoveSnapshot { id, image } => b
                .remove_snapshot(image, id.as_str())
                .map(|()| Outcome::Done),
        }
    }
}

/// Resolves an OS image reference to a readable path: absolute paths as they are, other names
/// inside the backend's image directory (never outside it).
fn resolve_image(reference: &str, dir: Option<PathBuf>) -> Result<PathBuf, BackendError> {
    let reference = reference.strip_prefix("file://").unwrap_or(reference);
    let path = Path::new(reference);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let escapes = path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)));
    match dir {
        Some(dir) if !escapes => Ok(dir.join(path)),
        _ => Err(BackendError::Refused(format!(
            "Image `{reference}` is neither an absolute path nor a name in the image directory"
        ))),
    }
}

fn load<T: serde::de::DeserializeOwned>(
    store: &dyn RecordStore,
    ns: Namespace,
) -> Result<Vec<T>, RuntimeError> {
    let raw = store
        .load(ns)
        .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
    raw.into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes).map_err(|e| {
                RuntimeError::Internal(format!("Corrupt {} record `{key}`: {e}", ns.as_str()))
            })
        })
        .collect()
}

fn persist(store: &dyn RecordStore, m: &Mutation) -> Result<(), BackendError> {
    match m {
        Mutation::PutVolume(r) => store.put(Namespace::Volumes, r.volume.id.as_str(), &json(r)),
        Mutation::DropVolume(id) => store.delete(Namespace::Volumes, id.as_str()),
        Mutation::PutSnapshot(r) => {
            store.put(Namespace::Snapshots, r.snapshot.id.as_str(), &json(r))
        }
        Mutation::DropSnapshot(id) => store.delete(Namespace::Snapshots, id.as_str()),
        Mutation::PutBase(b) => store.put(Namespace::Bases, b.name.as_str(), &json(b)),
        Mutation::Event(_) => Ok(()),
    }
}

fn json<T: serde::Serialize>(record: &T) -> Vec<u8> {
    // Records are plain data with string keys: serialising them cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

impl VolumeService {
    /// The volume's state, for callers waiting on one volume.
    pub fn volume_state(&self, id: &VolumeId) -> Option<VolumeState> {
        self.lock().volume(id).map(|r| r.volume.status.state)
    }
}
