//! The volume runtime's decisions, without I/O: which requests are accepted, what each accepted
//! request changes, which backend work is due next, and what a finished piece of work changes.
//!
//! The service (`service.rs`) feeds it requests, clock readings and work outcomes, persists the
//! [`Mutation`]s it returns *before* applying them, and runs the [`Work`] it hands out against a
//! [`crate::BlockBackend`]. The same core runs over Ceph, local files and the fake.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use ferrocore_api::iri::volume::{
    Condition, Event, EventType, InvolvedObject, ResizePolicy, RuntimeError, SnapshotId,
    StorageBytes, UnixNanos, Volume, VolumeClass, VolumeClassName, VolumeId, VolumeSnapshot,
    VolumeSnapshotState, VolumeState,
};
use ferrocore_runtime::MonoTime;

use crate::backend::BackendError;
use crate::record::{BaseRecord, ImageName, SnapshotRecord, Source, VolumeRecord, WrappedKey};

pub(crate) mod plan;
mod work;

pub(crate) use work::{Outcome, Work, WorkKey};

/// Largest volume accepted (64 TiB): far above what one node serves, and keeps size arithmetic
/// far from overflow.
pub(crate) const MAX_VOLUME_SIZE: StorageBytes = StorageBytes(64 << 40);
/// Events kept for `ListEvents`; older ones are dropped (upstream keeps a bounded in-memory
/// store too).
const MAX_EVENTS: usize = 1024;
/// Attempts for work that failed for a reason other than the backend being unreachable, before
/// the object goes to Error. Unreachable backends are retried without limit (with backoff).
const MAX_ATTEMPTS: u32 = 5;
/// First retry delay; doubles per attempt up to [`RETRY_DELAY_MAX`].
const RETRY_DELAY_MIN: Duration = Duration::from_millis(200);
/// Longest retry delay: how late a volume notices that Ceph is back, at worst.
const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);

/// A state change the service must persist (in order) before applying it.
#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    /// Write a volume record.
    PutVolume(Box<VolumeRecord>),
    /// Remove a volume record.
    DropVolume(VolumeId),
    /// Write a snapshot record.
    PutSnapshot(Box<SnapshotRecord>),
    /// Remove a snapshot record.
    DropSnapshot(SnapshotId),
    /// Write a base-image record.
    PutBase(BaseRecord),
    /// Record an event (memory only).
    Event(Event),
}

#[derive(Clone, Debug)]
struct Retry {
    attempts: u32,
    not_before: MonoTime,
    last_error: String,
}

/// The records and the bookkeeping of work in progress.
#[derive(Debug)]
pub(crate) struct VolumeCore {
    classes: BTreeMap<VolumeClassName, VolumeClass>,
    encryption_supported: bool,
    volumes: BTreeMap<VolumeId, VolumeRecord>,
    snapshots: BTreeMap<SnapshotId, SnapshotRecord>,
    bases: BTreeMap<ImageName, BaseRecord>,
    in_flight: BTreeSet<WorkKey>,
    retry: BTreeMap<WorkKey, Retry>,
    unavailable: Option<String>,
    capacity: StorageBytes,
    events: VecDeque<Event>,
    orphans_collected: bool,
}

impl VolumeCore {
    /// A core offering `classes`, holding the records recovered from the store.
    pub(crate) fn new(
        classes: Vec<VolumeClass>,
        encryption_supported: bool,
        volumes: Vec<VolumeRecord>,
        snapshots: Vec<SnapshotRecord>,
        bases: Vec<BaseRecord>,
    ) -> Self {
        Self {
            classes: classes.into_iter().map(|c| (c.name.clone(), c)).collect(),
            encryption_supported,
            volumes: volumes
                .into_iter()
                .map(|r| (r.volume.id.clone(), r))
                .collect(),
            snapshots: snapshots
                .into_iter()
                .map(|r| (r.snapshot.id.clone(), r))
                .collect(),
            bases: bases.into_iter().map(|b| (b.name.clone(), b)).collect(),
            in_flight: BTreeSet::new(),
            retry: BTreeMap::new(),
            unavailable: None,
            capacity: StorageBytes(0),
            events: VecDeque::new(),
            orphans_collected: false,
        }
    }

    /// Applies a persisted mutation.
    pub(crate) fn apply(&mut self, m: Mutation) {
        match m {
            Mutation::PutVolume(r) => {
                self.volumes.insert(r.volume.id.clone(), *r);
            }
            Mutation::DropVolume(id) => {
                self.volumes.remove(&id);
            }
            Mutation::PutSnapshot(r) => {
                self.snapshots.insert(r.snapshot.id.clone(), *r);
            }
            Mutation::DropSnapshot(id) => {
                self.snapshots.remove(&id);
            }
            Mutation::PutBase(b) => {
                self.bases.insert(b.name.clone(), b);
            }
            Mutation::Event(e) => {
                if self.events.len() == MAX_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(e);
            }
        }
    }

    /// Records the result of a health probe; returns an event when reachability changed.
    pub(crate) fn observe_health(
        &mut self,
        wall: UnixNanos,
        result: Result<StorageBytes, String>,
    ) -> Option<Mutation> {
        match result {
            Ok(capacity) => {
                self.capacity = capacity;
                self.unavailable.take().map(|_| {
                    // Work waiting out a backoff because of the outage may go now.
                    self.retry.clear();
                    node_event(
                        wall,
                        EventType::Normal,
                        "BackendReachable",
                        "Backend is back",
                    )
                })
            }
            Err(reason) => {
                let was_up = self.unavailable.is_none();
                self.unavailable = Some(reason.clone());
                was_up.then(|| node_event(wall, EventType::Warning, "BackendUnavailable", &reason))
            }
        }
    }

    /// Why the backend is unreachable, if it is.
    pub(crate) fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// The classes offered and the bytes available behind them.
    pub(crate) fn classes(&self) -> impl Iterator<Item = &VolumeClass> {
        self.classes.values()
    }

    /// Bytes available, as last probed.
    pub(crate) fn capacity(&self) -> StorageBytes {
        self.capacity
    }

    /// Whether an id is taken (ids come from a random source; collisions are re-drawn).
    pub(crate) fn id_taken(&self, id: &str) -> bool {
        self.volumes.contains_key(&VolumeId(id.to_owned()))
            || self.snapshots.contains_key(&SnapshotId(id.to_owned()))
    }

    /// The volumes a list call shows: all but deleted ones kept only for their snapshots, with
    /// conditions derived from the backend's health and pending retries.
    pub(crate) fn volumes(&self) -> impl Iterator<Item = (&VolumeRecord, Vec<Condition>)> {
        self.volumes
            .values()
            .filter(|r| !(r.deleted() && self.has_snapshots(&r.volume.id)))
            .map(|r| (r, self.conditions(&WorkKey::Volume(r.volume.id.clone()))))
    }

    /// The snapshots a list call shows.
    pub(crate) fn snapshots(&self) -> impl Iterator<Item = &VolumeSnapshot> {
        self.snapshots.values().map(|r| &r.snapshot)
    }

    /// Events, oldest first.
    pub(crate) fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// One volume record.
    pub(crate) fn volume(&self, id: &VolumeId) -> Option<&VolumeRecord> {
        self.volumes.get(id)
    }

    /// Images among `listed` that no record owns: left by a crash between creating an image
    /// and persisting its record's removal. Only volume images (`img_` prefix) are candidates.
    pub(crate) fn orphans(&self, listed: &[ImageName]) -> Vec<ImageName> {
        let owned: BTreeSet<ImageName> = self.volumes.values().map(VolumeRecord::image).collect();
        listed
            .iter()
            .filter(|i| i.as_str().starts_with(ImageName::VOLUME_PREFIX) && !owned.contains(*i))
            .cloned()
            .collect()
    }

    /// Whether no work is due, running or waiting for a retry (tests and benchmarks wait for it).
    pub(crate) fn settled(&self, now: MonoTime) -> bool {
        self.in_flight.is_empty() && self.retry.is_empty() && self.due(now).is_none()
    }

    fn has_snapshots(&self, volume: &VolumeId) -> bool {
        self.snapshots
            .values()
            .any(|s| &s.snapshot.spec.volume_id == volume)
    }

    fn conditions(&self, key: &WorkKey) -> Vec<Condition> {
        let mut out = Vec::new();
        if let Some(reason) = &self.unavailable {
            out.push(Condition {
                condition_type: "BackendReachable".into(),
                status: false,
                reason: "BackendUnavailable".into(),
                message: reason.clone(),
            });
        }
        if let Some(r) = self.retry.get(key) {
            out.push(Condition {
                condition_type: "Provisioned".into(),
                status: false,
                reason: "Retrying".into(),
                message: format!("Attempt {} failed: {}", r.attempts, r.last_error),
            });
        }
        out
    }

    /// Checks the invariants that must hold between the records; a violation is a bug.
    pub(crate) fn check_invariants(&self) {
        for (id, r) in &self.volumes {
            assert_eq!(id, &r.volume.id, "volume keyed by its own id");
            assert!(
                r.volume.spec.size <= MAX_VOLUME_SIZE,
                "volume {id} oversized"
            );
            if r.volume.status.state == VolumeState::Available {
                assert!(
                    r.provisioned.is_some(),
                    "Available volume {id} not provisioned"
                );
            }
        }
        for (id, s) in &self.snapshots {
            assert_eq!(id, &s.snapshot.id, "snapshot keyed by its own id");
            assert!(
                self.volumes.contains_key(&s.snapshot.spec.volume_id),
                "snapshot {id} outlived its volume record"
            );
        }
    }
}

/// An event about the node as a whole (the runtime's own id as the object).
fn node_event(wall: UnixNanos, event_type: EventType, reason: &str, message: &str) -> Mutation {
    Mutation::Event(Event {
        involved_object: InvolvedObject {
            kind: "VolumeRuntime".into(),
            id: String::new(),
            labels: BTreeMap::new(),
        },
        event_type,
        reason: reason.into(),
        message: message.into(),
        event_time: wall,
    })
}

/// An event about a volume.
fn volume_event(wall: UnixNanos, v: &Volume, t: EventType, reason: &str, msg: &str) -> Mutation {
    Mutation::Event(Event {
        involved_object: InvolvedObject {
            kind: "Volume".into(),
            id: v.id.0.clone(),
            labels: v.metadata.labels.clone(),
        },
        event_type: t,
        reason: reason.into(),
        message: msg.into(),
        event_time: wall,
    })
}

/// Whether a class lets its volumes grow.
fn expandable(class: &VolumeClass) -> bool {
    class.resize_policy == ResizePolicy::ExpandOnly
}

/// Inherited key of a restore source, if the snapshot is of an encrypted volume.
fn inherited_key(s: &SnapshotRecord) -> Option<WrappedKey> {
    s.wrapped_key.clone()
}

/// A snapshot that is Ready.
fn snapshot_ready(s: &SnapshotRecord) -> bool {
    s.snapshot.status.state == VolumeSnapshotState::Ready
}

/// Maps a refusal to the API error the caller sees.
fn refuse(msg: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidArgument(msg.into())
}

/// The source record resolved to backend names, for a volume created from a snapshot.
fn snapshot_source(s: &SnapshotRecord) -> Source {
    Source::Snapshot {
        image: s.image(),
        snap: s.snap_name(),
    }
}

/// What a failed piece of work means for the retry bookkeeping.
fn backoff(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.min(8);
    RETRY_DELAY_MIN.saturating_mul(factor).min(RETRY_DELAY_MAX)
}

/// Whether a backend error ends the retries for good.
fn permanent(err: &BackendError, attempts: u32) -> bool {
    match err {
        BackendError::Unavailable(_) => false,
        BackendError::Refused(_) => true,
        BackendError::Failed(_) => attempts >= MAX_ATTEMPTS,
    }
}

#[cfg(test)]
mod tests;
