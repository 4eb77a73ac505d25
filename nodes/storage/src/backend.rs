//! The two seams every volume backend fills: [`BlockBackend`] (images, snapshots, clones) and
//! [`RecordStore`] (where the runtime's records live). Ceph, local files and the fake each
//! implement both; the runtime's decisions never depend on which.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferrocore_api::iri::volume::{StorageBytes, VolumeAccess};

use crate::record::{ImageName, Namespace, QosLimits, Source};

/// Why a backend call failed, classified by what the runtime does next.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be reached (Ceph down, timeout): retry later, tell the user why.
    #[error("Backend unavailable: {0}")]
    Unavailable(String),
    /// The request cannot succeed as asked (shrink, missing source): retrying will not help.
    #[error("Refused: {0}")]
    Refused(String),
    /// Anything else; retried a bounded number of times.
    #[error("Backend failed: {0}")]
    Failed(String),
}

/// What to provision for one volume; every field is needed to do it idempotently.
#[derive(Clone, Debug)]
pub struct Provision {
    /// The image to create.
    pub image: ImageName,
    /// Its size.
    pub size: StorageBytes,
    /// Its content.
    pub source: Source,
    /// Limits to apply as image configuration.
    pub qos: QosLimits,
    /// The WWN to record on the image.
    pub wwn: String,
    /// The LUKS2 passphrase, when the image must be formatted. Never logged (`Passphrase`'s
    /// `Debug` hides it).
    pub format_with: Option<Passphrase>,
}

/// A clear passphrase, held only while a provisioning step needs it.
#[derive(Clone)]
pub struct Passphrase(pub Vec<u8>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Block storage: images with snapshots and copy-on-write clones.
///
/// Every mutating call is idempotent (creating what exists or removing what is gone succeeds),
/// because the runtime re-issues work after a crash without knowing how far it got.
pub trait BlockBackend: Send + Sync + std::fmt::Debug {
    /// `ceph`, `local` or `fake`.
    fn name(&self) -> &'static str;
    /// Whether LUKS2 encryption is available.
    fn supports_encryption(&self) -> bool;
    /// A cheap round trip that fails when the backend is unreachable.
    ///
    /// # Errors
    /// [`BackendError::Unavailable`] with the reason.
    fn probe(&self) -> Result<(), BackendError>;
    /// Bytes still available for new volumes.
    ///
    /// # Errors
    /// When the backend cannot say.
    fn capacity(&self) -> Result<StorageBytes, BackendError>;
    /// Imports the raw disk at `path` into base image `base` with a protected snapshot
    /// [`crate::record::BASE_SNAPSHOT`]; returns its size.
    ///
    /// # Errors
    /// When the file cannot be read or the image written.
    fn import_base(
        &self,
        base: &ImageName,
        path: &std::path::Path,
    ) -> Result<StorageBytes, BackendError>;
    /// Creates (or finishes creating) a volume image; returns the size a machine will see.
    ///
    /// # Errors
    /// When the backend fails or refuses.
    fn provision(&self, p: &Provision) -> Result<StorageBytes, BackendError>;
    /// Grows an image; returns the size a machine will see.
    ///
    /// # Errors
    /// [`BackendError::Refused`] for a shrink.
    fn resize(&self, image: &ImageName, size: StorageBytes) -> Result<StorageBytes, BackendError>;
    /// Removes an image (gone already is fine).
    ///
    /// # Errors
    /// When the image still has snapshots or the backend fails.
    fn remove(&self, image: &ImageName) -> Result<(), BackendError>;
    /// Takes (and protects) snapshot `snap` of `image`; returns its size.
    ///
    /// # Errors
    /// When the image is missing or the backend fails.
    fn snapshot(&self, image: &ImageName, snap: &str) -> Result<StorageBytes, BackendError>;
    /// Removes snapshot `snap` of `image`, first making clones of it independent.
    ///
    /// # Errors
    /// When the backend fails.
    fn remove_snapshot(&self, image: &ImageName, snap: &str) -> Result<(), BackendError>;
    /// Every image name, for finding orphans after a crash.
    ///
    /// # Errors
    /// When the backend cannot list.
    fn list_images(&self) -> Result<Vec<ImageName>, BackendError>;
    /// How a machine reaches `image` (no I/O: from what the backend already knows).
    fn access(&self, image: &ImageName, wwn: &str, qos: QosLimits) -> VolumeAccess;
    /// Writes `data` at `offset` (raw, below any encryption): image import and tests.
    ///
    /// # Errors
    /// When the image is missing or the write fails.
    fn write(&self, image: &ImageName, offset: u64, data: &[u8]) -> Result<(), BackendError>;
    /// Reads `len` bytes at `offset` (raw).
    ///
    /// # Errors
    /// When the image is missing or the read fails.
    fn read(&self, image: &ImageName, offset: u64, len: usize) -> Result<Vec<u8>, BackendError>;
    /// Where OS image references are resolved (absolute paths are taken as they are).
    fn image_dir(&self) -> Option<PathBuf> {
        None
    }
}

/// Durable key → JSON storage for the runtime's records.
///
/// A `put` that returned `Ok` survives a crash of the process (and, for Ceph, of the node).
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// Every record of a namespace.
    ///
    /// # Errors
    /// When the store is unreachable.
    fn load(&self, ns: Namespace) -> Result<BTreeMap<String, Vec<u8>>, BackendError>;
    /// Writes one record.
    ///
    /// # Errors
    /// When the store is unreachable.
    fn put(&self, ns: Namespace, key: &str, value: &[u8]) -> Result<(), BackendError>;
    /// Removes one record (absent is fine).
    ///
    /// # Errors
    /// When the store is unreachable.
    fn delete(&self, ns: Namespace, key: &str) -> Result<(), BackendError>;
}
