//! The VolumeRuntime interface (IRI equivalent): its operations, requests, responses and the
//! volume model a node backend keeps.
//!
//! Ten operations, as IronCore's `volume.v1alpha1.VolumeRuntime`: [`VersionRequest`],
//! [`ListEventsRequest`], [`ListVolumesRequest`], [`CreateVolumeRequest`],
//! [`ExpandVolumeRequest`], [`DeleteVolumeRequest`], [`CreateVolumeSnapshotRequest`],
//! [`DeleteVolumeSnapshotRequest`], [`ListVolumeSnapshotsRequest`] and [`StatusRequest`]; each has
//! a response type, and a refusal is a [`RuntimeError`].
//!
//! Also home of the pieces the bucket runtime shares ([`ObjectMetadata`], [`Event`],
//! [`RuntimeError`], [`SecretData`]). Plain serde data: no I/O, no clock.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id or name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_newtype!(
    /// A volume's id, assigned by the runtime on create (opaque to the caller).
    VolumeId
);
string_newtype!(
    /// A volume snapshot's id, assigned by the runtime on create.
    SnapshotId
);
string_newtype!(
    /// The name of a volume class the runtime offers.
    VolumeClassName
);

/// A size in bytes (storage capacity or an effective size).
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
#[serde(transparent)]
pub struct StorageBytes(pub u64);

impl StorageBytes {
    /// One mebibyte.
    pub const MIB: Self = Self(1 << 20);
    /// One gibibyte.
    pub const GIB: Self = Self(1 << 30);

    /// `n` mebibytes (saturating).
    pub const fn mib(n: u64) -> Self {
        Self(n.saturating_mul(1 << 20))
    }

    /// The size in bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for StorageBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// A point in civil time: nanoseconds since the Unix epoch (UTC), as the runtime's clock read it.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
#[serde(transparent)]
pub struct UnixNanos(pub i64);

/// Secret bytes by key (an encryption key, a user key). `Debug` never shows the values, so a
/// request or a status can be logged whole without leaking them.
#[derive(Clone, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SecretData(pub BTreeMap<String, Vec<u8>>);

impl SecretData {
    /// One entry.
    pub fn single(key: &str, value: impl Into<Vec<u8>>) -> Self {
        Self(BTreeMap::from([(key.to_owned(), value.into())]))
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0.get(key).map(Vec::as_slice)
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, format!("<{} bytes redacted>", v.len()))),
            )
            .finish()
    }
}

/// Metadata the caller attaches to an object and the runtime keeps with it (IRI
/// `ObjectMetadata` without the id, which each object carries as its own typed field).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ObjectMetadata {
    /// Labels; callers find their objects by label selector (the id is opaque).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations, kept but not interpreted.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Bumped by the runtime on every change to spec or status.
    #[serde(default)]
    pub generation: i64,
    /// When the runtime accepted the object.
    #[serde(default)]
    pub created_at: UnixNanos,
    /// When deletion was requested, while the runtime is still removing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<UnixNanos>,
}

/// Which objects a list call returns: all, one id, or those whose labels include every pair of
/// the selector.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ObjectFilter {
    /// Only the object with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Only objects carrying all these labels.
    #[serde(default)]
    pub label_selector: BTreeMap<String, String>,
}

impl ObjectFilter {
    /// Whether an object with `id` and `labels` passes the filter.
    pub fn matches(&self, id: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.id.as_deref().is_some_and(|want| want != id) {
            return false;
        }
        self.label_selector
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
    }
}

/// Normal or Warning, as Kubernetes events.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum EventType {
    /// Something went as planned.
    Normal,
    /// Something failed or needs attention.
    Warning,
}

/// What an event is about.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct InvolvedObject {
    /// `Volume`, `VolumeSnapshot` or `Bucket`.
    pub kind: String,
    /// The object's id.
    pub id: String,
    /// The object's labels when the event was recorded (so the caller can map it back).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Something that happened to an object, kept for a while by the runtime (IRI `Event`).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Event {
    /// The object.
    pub involved_object: InvolvedObject,
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// A short CamelCase reason (`Provisioned`, `BackendUnavailable`, ...).
    pub reason: String,
    /// A sentence for people.
    pub message: String,
    /// When it happened.
    pub event_time: UnixNanos,
}

/// Which events `ListEvents` returns.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct EventFilter {
    /// Only events about the object with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Only events whose object labels include all these.
    #[serde(default)]
    pub label_selector: BTreeMap<String, String>,
    /// Only events at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_from_time: Option<UnixNanos>,
    /// Only events at or before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_to_time: Option<UnixNanos>,
}

impl EventFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        let object = ObjectFilter {
            id: self.id.clone(),
            label_selector: self.label_selector.clone(),
        };
        let t = event.event_time;
        object.matches(&event.involved_object.id, &event.involved_object.labels)
            && self.events_from_time.is_none_or(|from| t >= from)
            && self.events_to_time.is_none_or(|to| t <= to)
    }
}

/// Why the runtime refused or could not carry out a request (the gRPC codes the IRI uses).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize, thiserror::Error)]
pub enum RuntimeError {
    /// The request is malformed or asks for something impossible (unknown class, shrink, ...).
    #[error("Invalid argument: {0}")]
    InvalidArgument(String),
    /// No object with that id.
    #[error("Not found: {0}")]
    NotFound(String),
    /// The object is not in a state that allows this (snapshot of a Pending volume, ...).
    #[error("Failed precondition: {0}")]
    FailedPrecondition(String),
    /// The backend cannot be reached right now; retrying later may succeed.
    #[error("Unavailable: {0}")]
    Unavailable(String),
    /// The backend failed in a way retrying will not fix.
    #[error("Internal: {0}")]
    Internal(String),
}

/// `Version`: the caller's protocol version.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VersionRequest {
    /// The caller's IRI-equivalent version.
    pub version: String,
}

/// The runtime's name and semver version.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct VersionResponse {
    /// E.g. `ferrocore-ceph`, `ferrocore-local`, `ferrocore-fake`.
    pub runtime_name: String,
    /// Semver.
    pub runtime_version: String,
}

/// `ListEvents`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListEventsRequest {
    /// Which events.
    #[serde(default)]
    pub filter: EventFilter,
}

/// The events that passed the filter, oldest first.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListEventsResponse {
    /// The events.
    pub events: Vec<Event>,
}

/// How volumes of a class may change size.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum ResizePolicy {
    /// The size is fixed at create.
    #[default]
    Static,
    /// The size may grow, never shrink.
    ExpandOnly,
}

/// What a class promises: throughput and operations per second (IRI `VolumeClassCapabilities`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
pub struct VolumeClassCapabilities {
    /// Bytes per second.
    pub tps: u64,
    /// I/O operations per second.
    pub iops: u64,
}

/// A class of volumes the runtime offers.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeClass {
    /// The class name.
    pub name: VolumeClassName,
    /// Limits applied to every volume of the class.
    pub capabilities: VolumeClassCapabilities,
    /// Whether volumes of the class may grow.
    #[serde(default)]
    pub resize_policy: ResizePolicy,
}

/// Encryption of a volume's data at rest.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeEncryption {
    /// The Secret's data; the key is under [`ENCRYPTION_KEY`].
    pub secret_data: SecretData,
}

/// The secret key that holds a volume's encryption passphrase.
pub const ENCRYPTION_KEY: &str = "encryptionKey";

/// Where a new volume's content comes from.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VolumeDataSource {
    /// An OS image, imported once per node and cloned for every volume.
    Image {
        /// The image reference (for ferrocore nodes: a raw disk file the node can read).
        image: String,
        /// The image architecture, when the reference names several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        architecture: Option<String>,
    },
    /// A Ready snapshot of this runtime.
    Snapshot {
        /// The snapshot.
        snapshot_id: SnapshotId,
    },
}

/// What the caller wants.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeSpec {
    /// The class (must be one the runtime offers).
    pub class: VolumeClassName,
    /// Requested size; zero with a snapshot source means "the snapshot's size".
    pub size: StorageBytes,
    /// Encryption, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<VolumeEncryption>,
    /// The initial content; empty when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<VolumeDataSource>,
}

/// A volume's lifecycle state.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum VolumeState {
    /// Accepted, being provisioned (or waiting for the backend).
    #[default]
    Pending,
    /// Ready to attach; `status.access` is set.
    Available,
    /// Provisioning failed in a way that retrying will not fix.
    Error,
}

/// How a machine reaches the volume (IRI `VolumeAccess`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeAccess {
    /// `ceph` (an RBD image) or `local` (a raw file on the storage node).
    pub driver: String,
    /// The volume's handle (its WWN), stable for the volume's lifetime.
    pub handle: String,
    /// Driver attributes: for `ceph` `monitors` and `image` (`pool/img_<id>`); for `local`
    /// `path`; QoS limits as `qos_iops_limit` / `qos_bps_limit`.
    pub attributes: BTreeMap<String, String>,
    /// Credentials: for `ceph` `userID` and `userKey`.
    pub secret_data: SecretData,
}

/// A condition on a volume or bucket (Kubernetes style, without transition time).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Condition {
    /// E.g. `BackendReachable`.
    #[serde(rename = "type")]
    pub condition_type: String,
    /// Whether the condition holds.
    pub status: bool,
    /// CamelCase reason.
    pub reason: String,
    /// A sentence for people.
    pub message: String,
}

/// What the runtime observed.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeStatus {
    /// Pending, Available or Error.
    pub state: VolumeState,
    /// Set once Available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<VolumeAccess>,
    /// The effective size (what a machine sees, after rounding and encryption header).
    #[serde(default)]
    pub size: StorageBytes,
    /// Conditions, e.g. the backend being unreachable.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A volume as the runtime reports it.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Volume {
    /// The id the runtime assigned.
    pub id: VolumeId,
    /// Labels, annotations, generation, times.
    pub metadata: ObjectMetadata,
    /// What the caller asked for.
    pub spec: VolumeSpec,
    /// What the runtime observed.
    pub status: VolumeStatus,
}

/// `ListVolumes`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListVolumesRequest {
    /// Which volumes.
    #[serde(default)]
    pub filter: ObjectFilter,
}

/// The volumes that passed the filter, by id.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListVolumesResponse {
    /// The volumes.
    pub volumes: Vec<Volume>,
}

/// `CreateVolume`: the runtime assigns the id and answers at once with a Pending volume.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateVolumeRequest {
    /// Labels and annotations (other metadata fields are ignored).
    pub metadata: ObjectMetadata,
    /// What to create.
    pub spec: VolumeSpec,
}

/// The accepted volume.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateVolumeResponse {
    /// The volume (Pending).
    pub volume: Volume,
}

/// `ExpandVolume`: grow a volume of an `ExpandOnly` class.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct ExpandVolumeRequest {
    /// The volume.
    pub volume_id: VolumeId,
    /// The new size; must not be smaller than the current one.
    pub size: StorageBytes,
}

/// `ExpandVolume` succeeded.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ExpandVolumeResponse {}

/// `DeleteVolume`: idempotent; the volume may stay listed (with `deleted_at`) while it goes.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteVolumeRequest {
    /// The volume.
    pub volume_id: VolumeId,
}

/// `DeleteVolume` accepted.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteVolumeResponse {}

/// A snapshot's lifecycle state.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum VolumeSnapshotState {
    /// Being taken.
    #[default]
    Pending,
    /// Taken; volumes can be restored from it.
    Ready,
    /// Could not be taken.
    Failed,
}

/// What a snapshot is of.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeSnapshotSpec {
    /// The source volume (must be Available).
    pub volume_id: VolumeId,
}

/// What the runtime observed about a snapshot.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeSnapshotStatus {
    /// Pending, Ready or Failed.
    pub state: VolumeSnapshotState,
    /// The source volume's size when taken.
    #[serde(default)]
    pub size: StorageBytes,
}

/// A point-in-time copy of a volume.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeSnapshot {
    /// The id the runtime assigned.
    pub id: SnapshotId,
    /// Labels, annotations, generation, times.
    pub metadata: ObjectMetadata,
    /// The source.
    pub spec: VolumeSnapshotSpec,
    /// State and size.
    pub status: VolumeSnapshotStatus,
}

/// `CreateVolumeSnapshot`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateVolumeSnapshotRequest {
    /// Labels and annotations.
    pub metadata: ObjectMetadata,
    /// The source volume.
    pub spec: VolumeSnapshotSpec,
}

/// The accepted snapshot.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateVolumeSnapshotResponse {
    /// The snapshot (Pending or already Ready).
    pub volume_snapshot: VolumeSnapshot,
}

/// `DeleteVolumeSnapshot`: idempotent.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteVolumeSnapshotRequest {
    /// The snapshot.
    pub snapshot_id: SnapshotId,
}

/// `DeleteVolumeSnapshot` accepted.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteVolumeSnapshotResponse {}

/// `ListVolumeSnapshots`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListVolumeSnapshotsRequest {
    /// Which snapshots.
    #[serde(default)]
    pub filter: ObjectFilter,
}

/// The snapshots that passed the filter, by id.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListVolumeSnapshotsResponse {
    /// The snapshots.
    pub volume_snapshots: Vec<VolumeSnapshot>,
}

/// `Status`: the classes offered and the capacity behind each.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct StatusRequest {}

/// One offered class and how many bytes can still be provisioned in it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct VolumeClassStatus {
    /// The class.
    pub volume_class: VolumeClass,
    /// Bytes available for volumes of this class.
    pub quantity: StorageBytes,
}

/// The runtime's classes and capacity.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct StatusResponse {
    /// One entry per offered class.
    pub volume_class_status: Vec<VolumeClassStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_data_debug_hides_values() {
        let s = SecretData::single(ENCRYPTION_KEY, b"hunter2-hunter2".to_vec());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("15 bytes redacted"), "{shown}");
    }

    #[test]
    fn filter_matches_id_and_labels() {
        let labels = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        let mut f = ObjectFilter::default();
        assert!(f.matches("x", &labels));
        f.label_selector.insert("a".into(), "1".into());
        assert!(f.matches("x", &labels));
        f.id = Some("y".into());
        assert!(!f.matches("x", &labels));
        f.id = None;
        f.label_selector.insert("b".into(), "2".into());
        assert!(!f.matches("x", &labels));
    }

    #[test]
    fn volume_round_trips_through_json() {
        let v = Volume {
            id: "v1".into(),
            spec: VolumeSpec {
                class: "fast".into(),
                size: StorageBytes::GIB,
                encryption: None,
                data_source: Some(VolumeDataSource::Snapshot {
                    snapshot_id: "s1".into(),
                }),
            },
            ..Volume::default()
        };
        let json = serde_json::to_string(&v).unwrap();
        assert!(
            json.contains(r#""snapshot":{"snapshot_id":"s1"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Volume>(&json).unwrap(), v);
    }

    #[test]
    fn event_filter_checks_time_window() {
        let e = Event {
            involved_object: InvolvedObject {
                kind: "Volume".into(),
                id: "v".into(),
                labels: BTreeMap::new(),
            },
            event_type: EventType::Normal,
            reason: "Provisioned".into(),
            message: String::new(),
            event_time: UnixNanos(10),
        };
        let mut f = EventFilter::default();
        assert!(f.matches(&e));
        f.events_from_time = Some(UnixNanos(11));
        assert!(!f.matches(&e));
        f.events_from_time = None;
        f.events_to_time = Some(UnixNanos(10));
        assert!(f.matches(&e));
    }
}
