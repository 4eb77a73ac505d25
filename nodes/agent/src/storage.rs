//! Volume and bucket pools over the storage crate's fake (`--backend sim`) or its real
//! backends (`--backend real`: raw files or Ceph RBD, RGW): the ten VolumeRuntime and six
//! BucketRuntime operations, and what each pool holds.
//!
//! The simulated block store answers like Ceph: volumes are reached with the `ceph` driver (an
//! image name, a monitor and a key that point nowhere), so a simulated hypervisor on any node
//! accepts them; OS images resolve in `/sim-images`, where the configured images exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrocore_api::iri::bucket::{
    self as ib, Bucket, ListBucketClassesRequest, ListBucketsRequest,
};
use ferrocore_api::iri::protocol::{
    BucketRequest, BucketResponse, PoolCapacity, PoolRegistration, ReportedState, VolumeRequest,
    VolumeResponse,
};
use ferrocore_api::iri::volume::{
    self as iv, ListVolumeSnapshotsRequest, ListVolumesRequest, ObjectFilter, RuntimeError,
    SecretData, StatusRequest, StorageBytes, VolumeAccess,
};
use ferrocore_node_storage::ceph::{CEPH_TIMEOUT_SECS, CephBackend, CephConfig};
use ferrocore_node_storage::fake::Fake;
use ferrocore_node_storage::s3::S3Credentials;
use ferrocore_node_storage::{
    BackendError, BlockBackend, BucketService, FakeObjectStore, FileStore, ImageName, Kek,
    LocalBackend, Provision, QosLimits, RecordStore, RgwObjectStore, VolumeConfig, VolumeService,
    Workers,
};
use ferrocore_runtime::{Clock, OsSeededRng};

use crate::AgentError;
use crate::config::{BucketPoolConfig, CephVolumeConfig, VolumePoolConfig};

/// Labels the control plane puts on IRI volumes, snapshots and buckets (actors' reconcile
/// cores; repeated here because node crates do not depend on `actors`).
pub(crate) const VOLUME_PREFIX: &str = "storage.ferrocore.dev/volume";
/// See [`VOLUME_PREFIX`].
pub(crate) const SNAPSHOT_PREFIX: &str = "storage.ferrocore.dev/volume-snapshot";
/// See [`VOLUME_PREFIX`].
pub(crate) const BUCKET_PREFIX: &str = "storage.ferrocore.dev/bucket";

/// Where the simulated store finds OS images.
const SIM_IMAGE_DIR: &str = "/sim-images";

/// Bytes of every simulated OS image.
const SIM_IMAGE_BYTES: usize = 1 << 20;

/// Storage worker threads per simulated pool (the fake is fast; two keep a slow step from
/// blocking everything).
const SIM_WORKERS: usize = 2;

/// Storage worker threads per real pool (Ceph calls block for up to the Ceph timeout; two keep
/// one slow image from stalling the rest without crowding a small node).
const REAL_WORKERS: usize = 2;

/// The storage crate's fake, presented as a Ceph cluster to hypervisors.
#[derive(Debug)]
struct SimBlock(Fake);

impl BlockBackend for SimBlock {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn supports_encryption(&self) -> bool {
        self.0.supports_encryption()
    }
    fn probe(&self) -> Result<(), BackendError> {
        self.0.probe()
    }
    fn capacity(&self) -> Result<StorageBytes, BackendError> {
        self.0.capacity()
    }
    fn import_base(&self, base: &ImageName, path: &Path) -> Result<StorageBytes, BackendError> {
        self.0.import_base(base, path)
    }
    fn provision(&self, p: &Provision) -> Result<StorageBytes, BackendError> {
        self.0.provision(p)
    }
    fn resize(&self, image: &ImageName, size: StorageBytes) -> Result<StorageBytes, BackendError> {
        self.0.resize(image, size)
    }
    fn remove(&self, image: &ImageName) -> Result<(), BackendError> {
        self.0.remove(image)
    }
    fn snapshot(&self, image: &ImageName, snap: &str) -> Result<StorageBytes, BackendError> {
        self.0.snapshot(image, snap)
    }
    fn remove_snapshot(&self, image: &ImageName, snap: &str) -> Result<(), BackendError> {
        self.0.remove_snapshot(image, snap)
    }
    fn list_images(&self) -> Result<Vec<ImageName>, BackendError> {
        self.0.list_images()
    }
    fn access(&self, image: &ImageName, wwn: &str, qos: QosLimits) -> VolumeAccess {
        let fake = self.0.access(image, wwn, qos);
        let mut attributes = fake.attributes;
        attributes.insert("image".into(), format!("sim/{image}"));
        attributes.insert("monitors".into(), "sim-monitor.invalid:6789".into());
        let mut secret = BTreeMap::new();
        secret.insert("userID".to_owned(), b"sim".to_vec());
        secret.insert("userKey".to_owned(), b"AAAAAAAAAAAAAAAAAAAAAA==".to_vec());
        VolumeAccess {
            driver: ferrocore_api::iri::machine::VOLUME_DRIVER_CEPH.into(),
            handle: fake.handle,
            attributes,
            secret_data: SecretData(secret),
        }
    }
    fn write(&self, image: &ImageName, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.0.write(image, offset, data)
    }
    fn read(&self, image: &ImageName, offset: u64, len: usize) -> Result<Vec<u8>, BackendError> {
        self.0.read(image, offset, len)
    }
    fn image_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from(SIM_IMAGE_DIR))
    }
}

fn uid_filter(prefix: &str, uid: &str) -> ObjectFilter {
    ObjectFilter {
        id: None,
        label_selector: BTreeMap::from([(format!("{prefix}-uid"), uid.to_owned())]),
    }
}

/// One volume pool.
#[derive(Debug)]
pub(crate) struct VolumePool {
    pub(crate) config: VolumePoolConfig,
    service: Arc<VolumeService>,
    _workers: Workers,
}

impl VolumePool {
    /// A simulated pool of the configured size, with the configured OS images.
    pub(crate) fn sim(
        config: &VolumePoolConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let fake = Fake::new(StorageBytes(config.capacity_gib.saturating_mul(1 << 30)));
        for image in &config.images {
            let path = Path::new(SIM_IMAGE_DIR).join(image);
            fake.add_image_file(&path.display().to_string(), vec![0; SIM_IMAGE_BYTES]);
        }
        let mut kek = [0u8; 32];
        getrandom::fill(&mut kek).map_err(|e| AgentError::Backend(e.to_string()))?;
        let kek = Kek::from_bytes(&kek).map_err(|e| AgentError::Backend(e.to_string()))?;
        let rng = OsSeededRng::new().map_err(|e| AgentError::Backend(e.to_string()))?;
        let store = fake.store();
        let block: Arc<dyn BlockBackend> = Arc::new(SimBlock(fake));
        let volume_config = VolumeConfig {
            classes: config.classes.clone(),
            kek: Some(kek),
        };
        let service = VolumeService::open(block, store, volume_config, clock, Box::new(rng))
            .map_err(|e| AgentError::Backend(format!("volume pool {}: {e}", config.name)))?;
        let service = Arc::new(service);
        let workers = Workers::start(service.clone(), None, SIM_WORKERS)
            .map_err(|e| AgentError::Backend(e.to_string()))?;
        Ok(Self {
            config: config.clone(),
            service,
            _workers: workers,
        })
    }

    /// A pool on raw files (`[local]`, the default) or Ceph RBD (`[ceph]`). Volumes are not
    /// encrypted on the real backend (no key-encryption key is configured yet).
    ///
    /// # Errors
    /// [`AgentError::Backend`] naming the fix when the directory is unusable or Ceph does not
    /// answer.
    pub(crate) fn real(
        config: &VolumePoolConfig,
        node_state: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let fail =
            |what: String| AgentError::Backend(format!("volume pool {}: {what}", config.name));
        let (block, store): BlockAndRecords = match &config.ceph {
            Some(c) => ceph(c).map_err(fail)?,
            None => {
                let local = config.local.clone().unwrap_or_default();
                let dir = if local.dir.as_os_str().is_empty() {
                    node_state.join("volumes").join(&config.name)
                } else {
                    local.dir.clone()
                };
                let open = || -> std::io::Result<_> {
                    let block = LocalBackend::open(&dir, local.image_dir.clone())?;
                    Ok((block, FileStore::open(&dir)?))
                };
                let (block, store) =
                    open().map_err(|e| fail(format!("directory {}: {e}", dir.display())))?;
                (Arc::new(block), Arc::new(store))
            }
        };
        let rng = OsSeededRng::new().map_err(|e| AgentError::Backend(e.to_string()))?;
        let volume_config = VolumeConfig {
            classes: config.classes.clone(),
            kek: None,
        };
        let service = VolumeService::open(block, store, volume_config, clock, Box::new(rng))
            .map_err(|e| fail(e.to_string()))?;
        let service = Arc::new(service);
        let workers = Workers::start(service.clone(), None, REAL_WORKERS)
            .map_err(|e| AgentError::Backend(e.to_string()))?;
        tracing::info!(pool = %config.name, backend = if config.ceph.is_some() { "ceph" } else { "local" }, "volume pool");
        Ok(Self {
            config: config.clone(),
            service,
            _workers: workers,
        })
    }

    /// The pool as the node registers it.
    pub(crate) fn registration(&self) -> PoolRegistration {
        let status = self.service.status(&StatusRequest::default());
        PoolRegistration {
            name: self.config.name.clone(),
            provider_id: self.config.provider_id.clone(),
            labels: self.config.labels.clone(),
            capacity: PoolCapacity::Volume(status.volume_class_status),
        }
    }

    /// Whether the backend answers.
    pub(crate) fn probe(&self) -> Result<(), String> {
        self.service.unavailable().map_or(Ok(()), Err)
    }

    /// The volume or snapshot labelled with `uid`.
    pub(crate) fn observe(&self, snapshot: bool, uid: &str) -> ReportedState {
        if snapshot {
            let req = ListVolumeSnapshotsRequest {
                filter: uid_filter(SNAPSHOT_PREFIX, uid),
            };
            let found = self.service.list_volume_snapshots(&req).volume_snapshots;
            return found
                .into_iter()
                .next()
                .map_or(ReportedState::Absent, ReportedState::VolumeSnapshot);
        }
        let req = ListVolumesRequest {
            filter: uid_filter(VOLUME_PREFIX, uid),
        };
        let found = self.service.list_volumes(&req).volumes;
        found
            .into_iter()
            .next()
            .map_or(ReportedState::Absent, ReportedState::Volume)
    }

    /// Every volume and snapshot the pool holds.
    pub(crate) fn inventory(&self) -> (Vec<iv::Volume>, Vec<iv::VolumeSnapshot>) {
        let volumes = self
            .service
            .list_volumes(&ListVolumesRequest::default())
            .volumes;
        let snaps = self
            .service
            .list_volume_snapshots(&ListVolumeSnapshotsRequest::default())
            .volume_snapshots;
        (volumes, snaps)
    }

    /// Runs one request; a create for a uid the pool holds answers with what it holds.
    pub(crate) fn execute(&self, request: VolumeRequest) -> VolumeResponse {
        let s = &self.service;
        let result: Result<VolumeResponse, RuntimeError> = match request {
            VolumeRequest::Version(r) => Ok(VolumeResponse::Version(s.version(&r))),
            VolumeRequest::ListEvents(r) => Ok(VolumeResponse::ListEvents(s.list_events(&r))),
            VolumeRequest::ListVolumes(r) => Ok(VolumeResponse::ListVolumes(s.list_volumes(&r))),
            VolumeRequest::CreateVolume(r) => {
                let held = r
                    .metadata
                    .labels
                    .get(&format!("{VOLUME_PREFIX}-uid"))
                    .and_then(|uid| match self.observe(false, uid) {
                        ReportedState::Volume(volume) => Some(volume),
                        _ => None,
                    });
                match held {
                    Some(volume) => Ok(VolumeResponse::CreateVolume(Box::new(
                        iv::CreateVolumeResponse { volume },
                    ))),
                    None => s
                        .create_volume(r)
                        .map(|v| VolumeResponse::CreateVolume(Box::new(v))),
                }
            }
            VolumeRequest::ExpandVolume(r) => s.expand_volume(&r).map(|_| VolumeResponse::Done),
            VolumeRequest::DeleteVolume(r) => s.delete_volume(&r).map(|_| VolumeResponse::Done),
            VolumeRequest::CreateVolumeSnapshot(r) => {
                let held = r
                    .metadata
                    .labels
                    .get(&format!("{SNAPSHOT_PREFIX}-uid"))
                    .and_then(|uid| match self.observe(true, uid) {
                        ReportedState::VolumeSnapshot(volume_snapshot) => Some(volume_snapshot),
                        _ => None,
                    });
                match held {
                    Some(volume_snapshot) => Ok(VolumeResponse::CreateVolumeSnapshot(
                        iv::CreateVolumeSnapshotResponse { volume_snapshot },
                    )),
                    None => s
                        .create_volume_snapshot(r)
                        .map(VolumeResponse::CreateVolumeSnapshot),
                }
            }
            VolumeRequest::DeleteVolumeSnapshot(r) => {
                s.delete_volume_snapshot(&r).map(|_| VolumeResponse::Done)
            }
            VolumeRequest::ListVolumeSnapshots(r) => Ok(VolumeResponse::ListVolumeSnapshots(
                s.list_volume_snapshots(&r),
            )),
            VolumeRequest::Status(r) => Ok(VolumeResponse::Status(s.status(&r))),
        };
        result.unwrap_or_else(VolumeResponse::Error)
    }
}

/// One bucket pool.
#[derive(Debug)]
pub(crate) struct BucketPool {
    pub(crate) config: BucketPoolConfig,
    service: BucketService,
}

impl BucketPool {
    /// A simulated pool over the fake object store.
    pub(crate) fn sim(
        config: &BucketPoolConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let rng = OsSeededRng::new().map_err(|e| AgentError::Backend(e.to_string()))?;
        let records = Fake::new(StorageBytes(0)).store();
        let service = BucketService::open(
            config.classes.clone(),
            Arc::new(FakeObjectStore::default()),
            records,
            clock,
            Box::new(rng),
        )
        .map_err(|e| AgentError::Backend(format!("bucket pool {}: {e}", config.name)))?;
        Ok(Self {
            config: config.clone(),
            service,
        })
    }

    /// A pool on RGW (`[rgw]`); its records live in `<state_dir>/buckets/<pool>`.
    ///
    /// # Errors
    /// [`AgentError::Backend`] when `[rgw]` is missing or its endpoint is malformed.
    pub(crate) fn rgw(
        config: &BucketPoolConfig,
        node_state: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let fail =
            |what: String| AgentError::Backend(format!("bucket pool {}: {what}", config.name));
        let rgw = config
            .rgw
            .as_ref()
            .ok_or_else(|| fail("the real backend needs [bucket_pools.rgw]".into()))?;
        let admin = S3Credentials {
            access_key: rgw.access_key.clone(),
            secret_key: rgw.secret_key.clone(),
        };
        let objects = RgwObjectStore::new(&rgw.endpoint, admin)
            .map_err(|e| fail(format!("endpoint {}: {e}", rgw.endpoint)))?;
        let dir = node_state.join("buckets").join(&config.name);
        let records =
            FileStore::open(&dir).map_err(|e| fail(format!("directory {}: {e}", dir.display())))?;
        let rng = OsSeededRng::new().map_err(|e| AgentError::Backend(e.to_string()))?;
        let service = BucketService::open(
            config.classes.clone(),
            Arc::new(objects),
            Arc::new(records),
            clock,
            Box::new(rng),
        )
        .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            config: config.clone(),
            service,
        })
    }

    /// The pool as the node registers it.
    pub(crate) fn registration(&self) -> PoolRegistration {
        let classes = self
            .service
            .list_bucket_classes(&ListBucketClassesRequest::default())
            .bucket_classes;
        PoolRegistration {
            name: self.config.name.clone(),
            provider_id: self.config.provider_id.clone(),
            labels: self.config.labels.clone(),
            capacity: PoolCapacity::Bucket(classes),
        }
    }

    /// Background progress (buckets becoming available).
    pub(crate) fn tick(&self) {
        self.service.reconcile_all();
    }

    /// The bucket labelled with `uid`.
    pub(crate) fn observe(&self, uid: &str) -> ReportedState {
        self.by_uid(uid)
            .map_or(ReportedState::Absent, ReportedState::Bucket)
    }

    fn by_uid(&self, uid: &str) -> Option<Bucket> {
        let req = ListBucketsRequest {
            filter: uid_filter(BUCKET_PREFIX, uid),
        };
        self.service.list_buckets(&req).buckets.into_iter().next()
    }

    /// Every bucket the pool holds.
    pub(crate) fn inventory(&self) -> Vec<Bucket> {
        self.service
            .list_buckets(&ListBucketsRequest::default())
            .buckets
    }

    /// Runs one request; a create for a uid the pool holds answers with what it holds.
    pub(crate) fn execute(&self, request: BucketRequest) -> BucketResponse {
        let s = &self.service;
        let result: Result<BucketResponse, RuntimeError> = match request {
            BucketRequest::Version(r) => Ok(BucketResponse::Version(s.version(&r))),
            BucketRequest::ListEvents(r) => Ok(BucketResponse::ListEvents(s.list_events(&r))),
            BucketRequest::ListBuckets(r) => Ok(BucketResponse::ListBuckets(s.list_buckets(&r))),
            BucketRequest::CreateBucket(r) => {
                let held = r
                    .metadata
                    .labels
                    .get(&format!("{BUCKET_PREFIX}-uid"))
                    .and_then(|uid| self.by_uid(uid));
                match held {
                    Some(bucket) => Ok(BucketResponse::CreateBucket(Box::new(
                        ib::CreateBucketResponse { bucket },
                    ))),
                    None => s
                        .create_bucket(r)
                        .map(|b| BucketResponse::CreateBucket(Box::new(b))),
                }
            }
            BucketRequest::DeleteBucket(r) => s.delete_bucket(&r).map(|_| BucketResponse::Done),
            BucketRequest::ListBucketClasses(r) => {
                Ok(BucketResponse::ListBucketClasses(s.list_bucket_classes(&r)))
            }
        };
        result.unwrap_or_else(BucketResponse::Error)
    }
}

/// A block backend and the record store of the same pool.
type BlockAndRecords = (Arc<dyn BlockBackend>, Arc<dyn RecordStore>);

/// A Ceph RBD backend and its RADOS record store, refused unless the cluster answers now.
fn ceph(c: &CephVolumeConfig) -> Result<BlockAndRecords, String> {
    let backend = CephBackend::new(CephConfig {
        conf: c.conf.display().to_string(),
        user: c.user.clone(),
        pool: c.pool.clone(),
        client_user: c.client_user.clone(),
        monitors: c.monitors.clone(),
        timeout_secs: CEPH_TIMEOUT_SECS,
    });
    backend.probe().map_err(|e| {
        format!(
            "Ceph is not reachable with {} (user {}, pool {}): {e}; run scripts/ceph-up.sh or \
             fix [volume_pools.ceph]",
            c.conf.display(),
            c.user,
            c.pool
        )
    })?;
    let store = backend.store();
    Ok((backend, store))
}
