//! What the volume runtime persists: one record per volume, snapshot and imported OS image, as
//! JSON under a namespace and key in a [`crate::RecordStore`] (RADOS omap for Ceph, files for
//! the local backend, memory for the fake). Also the backend-side names derived from ids.

use ferrocore_api::iri::volume::{StorageBytes, Volume, VolumeClassCapabilities, VolumeSnapshot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The namespaces of the record store (also the RADOS omap object names, `ferrocore.<ns>`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Namespace {
    /// Volume records, keyed by volume id.
    Volumes,
    /// Snapshot records, keyed by snapshot id.
    Snapshots,
    /// Imported OS images, keyed by base image name.
    Bases,
    /// Bucket records, keyed by bucket id.
    Buckets,
}

impl Namespace {
    /// Every namespace.
    pub const ALL: [Self; 4] = [Self::Volumes, Self::Snapshots, Self::Bases, Self::Buckets];

    /// The namespace's name (used in file and object names).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volumes => "volumes",
            Self::Snapshots => "snapshots",
            Self::Bases => "bases",
            Self::Buckets => "buckets",
        }
    }
}

/// The name of a block image in the backend (`img_<id>` for volumes, `snap_<digest>` for OS
/// images).
#[derive(Clone, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct ImageName(pub String);

impl ImageName {
    /// Prefix of every volume image; only images with it are ever garbage-collected.
    pub const VOLUME_PREFIX: &'static str = "img_";

    /// The image of volume `id`.
    pub fn volume(id: &str) -> Self {
        Self(format!("{}{id}", Self::VOLUME_PREFIX))
    }

    /// The base image an OS image reference is imported into (content of the reference string
    /// hashed: one import per reference per node).
    pub fn base(reference: &str) -> Self {
        let digest = Sha256::digest(reference.as_bytes());
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        Self(format!("snap_{hex}"))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The snapshot every base image is cloned from.
pub const BASE_SNAPSHOT: &str = "v1";

/// QoS limits a class puts on its volumes (0 = unlimited).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct QosLimits {
    /// I/O operations per second.
    pub iops: u64,
    /// Bytes per second.
    pub bps: u64,
}

impl From<VolumeClassCapabilities> for QosLimits {
    fn from(c: VolumeClassCapabilities) -> Self {
        Self {
            iops: c.iops,
            bps: c.tps,
        }
    }
}

/// A volume passphrase wrapped (AES-256-GCM) with the node's key-encryption key; the clear key
/// never reaches the store.
#[derive(Clone, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) struct WrappedKey {
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext plus tag.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappedKey(..)")
    }
}

/// Where a volume's content comes from, resolved to backend names.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum Source {
    /// Empty.
    Empty,
    /// A clone of an imported OS image.
    Base(ImageName),
    /// A clone of a volume snapshot.
    Snapshot {
        /// The source volume's image.
        image: ImageName,
        /// The snapshot's name on it.
        snap: String,
    },
}

/// Everything the runtime keeps about one volume.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) struct VolumeRecord {
    /// The volume as reported (spec without secret data; status without access, which is
    /// derived from the backend when listed).
    pub volume: Volume,
    /// The content source, resolved.
    pub source: Source,
    /// The class's limits at create.
    pub qos: QosLimits,
    /// The volume's WWN (its access handle).
    pub wwn: String,
    /// The wrapped passphrase of an encrypted volume.
    pub wrapped_key: Option<WrappedKey>,
    /// Whether the LUKS2 header still has to be written (false for restores of an encrypted
    /// snapshot: the clone carries the header).
    pub needs_format: bool,
    /// The size the backend has, once provisioned.
    pub provisioned: Option<StorageBytes>,
    /// Why the volume is in Error, if it is.
    pub error: Option<String>,
}

impl VolumeRecord {
    /// The backend image.
    pub(crate) fn image(&self) -> ImageName {
        ImageName::volume(self.volume.id.as_str())
    }

    /// Whether deletion was requested.
    pub(crate) fn deleted(&self) -> bool {
        self.volume.metadata.deleted_at.is_some()
    }
}

/// Everything the runtime keeps about one snapshot.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) struct SnapshotRecord {
    /// The snapshot as reported.
    pub snapshot: VolumeSnapshot,
    /// The source volume's wrapped key, inherited by restores.
    pub wrapped_key: Option<WrappedKey>,
}

impl SnapshotRecord {
    /// The image the snapshot lives on.
    pub(crate) fn image(&self) -> ImageName {
        ImageName::volume(self.snapshot.spec.volume_id.as_str())
    }

    /// The backend snapshot name.
    pub(crate) fn snap_name(&self) -> String {
        self.snapshot.id.0.clone()
    }

    /// Whether deletion was requested.
    pub(crate) fn deleted(&self) -> bool {
        self.snapshot.metadata.deleted_at.is_some()
    }
}

/// An OS image imported into a base image.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) struct BaseRecord {
    /// The base image.
    pub name: ImageName,
    /// The reference it was imported from.
    pub reference: String,
    /// Its size, once imported.
    pub size: Option<StorageBytes>,
    /// Why the import failed for good, if it did.
    pub error: Option<String>,
}

/// Rounds a requested size the way ceph-provider does: below 1 GiB up to whole MiB, else up to
/// whole GiB (RBD and file sizes stay aligned; machines see round numbers).
pub(crate) fn round_size(size: StorageBytes) -> StorageBytes {
    let unit = if size.0 < StorageBytes::GIB.0 {
        StorageBytes::MIB.0
    } else {
        StorageBytes::GIB.0
    };
    StorageBytes(size.0.div_ceil(unit).saturating_mul(unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_mib_or_gib() {
        assert_eq!(round_size(StorageBytes(1)), StorageBytes::MIB);
        assert_eq!(round_size(StorageBytes::mib(64)), StorageBytes::mib(64));
        assert_eq!(
            round_size(StorageBytes(StorageBytes::GIB.0 + 1)),
            StorageBytes(2 * StorageBytes::GIB.0)
        );
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(ImageName::volume("abc").as_str(), "img_abc");
        assert_eq!(ImageName::base("/x.raw"), ImageName::base("/x.raw"));
        assert_ne!(ImageName::base("/x.raw"), ImageName::base("/y.raw"));
        assert!(ImageName::base("/x.raw").as_str().starts_with("snap_"));
    }
}
