//! Backend work: which piece is due next, and what its outcome changes.

use ferrocore_api::iri::volume::{
    EventType, SnapshotId, StorageBytes, UnixNanos, VolumeId, VolumeSnapshotState, VolumeState,
};
use ferrocore_runtime::MonoTime;

use super::{Mutation, Retry, VolumeCore, backoff, permanent, volume_event};
use crate::backend::BackendError;
use crate::record::{BaseRecord, ImageName, Source, VolumeRecord, WrappedKey};

/// What one piece of work is about; at most one piece per key runs at a time.
#[derive(Clone, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub(crate) enum WorkKey {
    /// The orphan sweep after a (re)start.
    Orphans,
    /// An OS image import.
    Base(ImageName),
    /// A snapshot.
    Snapshot(SnapshotId),
    /// A volume.
    Volume(VolumeId),
}

/// One backend step the service runs outside the core's lock.
#[derive(Clone, Debug)]
pub(crate) enum Work {
    /// List images and remove those no record owns.
    CollectOrphans,
    /// Import an OS image into a base image.
    ImportBase {
        /// The base image.
        base: ImageName,
        /// The reference to import.
        reference: String,
    },
    /// Create a volume image.
    Provision {
        /// The volume.
        id: VolumeId,
        /// Its image.
        image: ImageName,
        /// Its size.
        size: StorageBytes,
        /// Its content.
        source: Source,
        /// Its limits.
        qos: crate::record::QosLimits,
        /// Its WWN.
        wwn: String,
        /// The wrapped passphrase when the image must be formatted.
        format_with: Option<WrappedKey>,
    },
    /// Grow a volume image.
    Expand {
        /// The volume.
        id: VolumeId,
        /// Its image.
        image: ImageName,
        /// The new size.
        size: StorageBytes,
    },
    /// Remove a deleted volume's image.
    RemoveVolume {
        /// The volume.
        id: VolumeId,
        /// Its image.
        image: ImageName,
    },
    /// Take a snapshot.
    TakeSnapshot {
        /// The snapshot.
        id: SnapshotId,
        /// The source image.
        image: ImageName,
    },
    /// Remove a deleted snapshot.
    RemoveSnapshot {
        /// The snapshot.
        id: SnapshotId,
        /// The source image.
        image: ImageName,
    },
}

impl Work {
    /// The key the work holds while it runs.
    pub(crate) fn key(&self) -> WorkKey {
        match self {
            Self::CollectOrphans => WorkKey::Orphans,
            Self::ImportBase { base, .. } => WorkKey::Base(base.clone()),
            Self::Provision { id, .. }
            | Self::Expand { id, .. }
            | Self::RemoveVolume { id, .. } => WorkKey::Volume(id.clone()),
            Self::TakeSnapshot { id, .. } | Self::RemoveSnapshot { id, .. } => {
                WorkKey::Snapshot(id.clone())
            }
        }
    }
}

/// What a piece of work achieved.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Outcome {
    /// Done, nothing to report.
    Done,
    /// Done; the image (or snapshot) has this size.
    Sized(StorageBytes),
}

impl VolumeCore {
    /// The next piece of work that is due and not running, marked as running.
    pub(crate) fn next_work(&mut self, now: MonoTime) -> Option<Work> {
        let work = self.due(now)?;
        self.in_flight.insert(work.key());
        Some(work)
    }

    /// Releases a piece of work's key (after its mutations were applied, or dropped).
    pub(crate) fn finish(&mut self, key: &WorkKey) {
        self.in_flight.remove(key);
    }

    fn ready_key(&self, key: &WorkKey, now: MonoTime) -> bool {
        !self.in_flight.contains(key) && self.retry.get(key).is_none_or(|r| r.not_before <= now)
    }

    /// The next due piece of work, without marking it.
    pub(super) fn due(&self, now: MonoTime) -> Option<Work> {
        if !self.orphans_collected {
            // The sweep runs alone, before anything else may create images.
            return self
                .in_flight
                .is_empty()
                .then_some(Work::CollectOrphans)
                .filter(|_| self.ready_key(&WorkKey::Orphans, now));
        }
        self.due_base(now)
            .or_else(|| self.due_snapshot(now))
            .or_else(|| self.due_volume(now))
    }

    fn due_base(&self, now: MonoTime) -> Option<Work> {
        self.bases
            .values()
            .filter(|b| b.size.is_none() && b.error.is_none())
            .find(|b| self.ready_key(&WorkKey::Base(b.name.clone()), now))
            .map(|b| Work::ImportBase {
                base: b.name.clone(),
                reference: b.reference.clone(),
            })
    }

    fn due_snapshot(&self, now: MonoTime) -> Option<Work> {
        self.snapshots.values().find_map(|s| {
            let key = WorkKey::Snapshot(s.snapshot.id.clone());
            if !self.ready_key(&key, now) {
                return None;
            }
            let (id, image) = (s.snapshot.id.clone(), s.image());
            let pending = s.snapshot.status.state == VolumeSnapshotState::Pending;
            if s.deleted() {
                let image_name = s.image();
                let restoring = self.volumes.values().any(|v| {
                    v.provisioned.is_none()
                        && matches!(&v.source, Source::Snapshot { image: i, snap } if *i == image_name && *snap == s.snap_name())
                });
                (!restoring).then_some(Work::RemoveSnapshot { id, image })
            } else {
                pending.then_some(Work::TakeSnapshot { id, image })
            }
        })
    }

    fn due_volume(&self, now: MonoTime) -> Option<Work> {
        self.volumes.values().find_map(|r| {
            if !self.ready_key(&WorkKey::Volume(r.volume.id.clone()), now) {
                return None;
            }
            self.volume_work(r)
        })
    }

    fn volume_work(&self, r: &VolumeRecord) -> Option<Work> {
        let (id, image) = (r.volume.id.clone(), r.image());
        if r.deleted() {
            let kept = self
                .snapshots
                .values()
                .any(|s| s.snapshot.spec.volume_id == id);
            return (!kept).then_some(Work::RemoveVolume { id, image });
        }
        match (r.volume.status.state, r.provisioned) {
            (VolumeState::Pending, _) => {
                if let Source::Base(base) = &r.source {
                    // Wait for the import; a failed import fails the volume (in `complete`).
                    self.bases.get(base).and_then(|b| b.size)?;
                }
                Some(Work::Provision {
                    id,
                    image,
                    size: r.volume.spec.size,
                    source: r.source.clone(),
                    qos: r.qos,
                    wwn: r.wwn.clone(),
                    format_with: r.wrapped_key.clone().filter(|_| r.needs_format),
                })
            }
            (VolumeState::Available, Some(have)) if have < r.volume.spec.size => {
                Some(Work::Expand {
                    id,
                    image,
                    size: r.volume.spec.size,
                })
            }
            _ => None,
        }
    }

    /// What a finished piece of work changes; `Err` outcomes schedule a retry or fail the
    /// object for good.
    pub(crate) fn complete(
        &mut self,
        now: MonoTime,
        wall: UnixNanos,
        work: &Work,
        result: Result<Outcome, BackendError>,
    ) -> Vec<Mutation> {
        let key = work.key();
        match result {
            Ok(outcome) => {
                self.retry.remove(&key);
                self.succeeded(wall, work, outcome)
            }
            Err(err) => {
                if let BackendError::Unavailable(reason) = &err {
                    self.unavailable = Some(reason.clone());
                }
                let attempts = self.retry.get(&key).map_or(0, |r| r.attempts) + 1;
                // Deletion never gives up: it keeps retrying at the slowest pace.
                let deleting = matches!(
                    work,
                    Work::RemoveVolume { .. } | Work::RemoveSnapshot { .. }
                );
                if permanent(&err, attempts) && !deleting {
                    self.retry.remove(&key);
                    return self.failed(wall, work, &err.to_string());
                }
                self.retry.insert(
                    key,
                    Retry {
                        attempts,
                        not_before: now + backoff(attempts),
                        last_error: err.to_string(),
                    },
                );
                Vec::new()
            }
        }
    }

    fn succeeded(&mut self, wall: UnixNanos, work: &Work, outcome: Outcome) -> Vec<Mutation> {
        let size = match outcome {
            Outcome::Sized(s) => Some(s),
            Outcome::Done => None,
        };
        match work {
            Work::CollectOrphans => {
                self.orphans_collected = true;
                Vec::new()
            }
            Work::ImportBase { base, .. } => {
                self.put_base(base, |b| b.size = Some(size.unwrap_or_default()))
            }
            Work::Provision { id, .. } | Work::Expand { id, .. } => {
                let Some(r) = self.volumes.get(id) else {
                    return Vec::new();
                };
                let mut next = r.clone();
                let first = next.provisioned.is_none();
                next.provisioned = size.or(Some(next.volume.spec.size));
                next.volume.status.state = VolumeState::Available;
                next.volume.status.size = next.provisioned.unwrap_or_default();
                next.volume.metadata.generation += 1;
                let (reason, msg) = if first {
                    ("Provisioned", "Volume is Available")
                } else {
                    ("Expanded", "Volume grew")
                };
                let event = volume_event(wall, &next.volume, EventType::Normal, reason, msg);
                vec![Mutation::PutVolume(Box::new(next)), event]
            }
            Work::RemoveVolume { id, .. } => {
                let event = self.volumes.get(id).map(|r| {
                    volume_event(
                        wall,
                        &r.volume,
                        EventType::Normal,
                        "Deleted",
                        "Volume removed",
                    )
                });
                let mut out = vec![Mutation::DropVolume(id.clone())];
                out.extend(event);
                out
            }
            Work::TakeSnapshot { id, .. } => self.put_snapshot(id, |s| {
                s.snapshot.status.state = VolumeSnapshotState::Ready;
                s.snapshot.status.size = size.unwrap_or_default();
            }),
            Work::RemoveSnapshot { id, .. } => vec![Mutation::DropSnapshot(id.clone())],
        }
    }

    fn failed(&mut self, wall: UnixNanos, work: &Work, reason: &str) -> Vec<Mutation> {
        match work {
            Work::CollectOrphans => {
                // Orphans are only wasted space: give up on the sweep rather than block work.
                self.orphans_collected = true;
                Vec::new()
            }
            Work::ImportBase { base, .. } => {
                let mut out = self.put_base(base, |b| b.error = Some(reason.to_owned()));
                let waiting: Vec<VolumeId> = self
                    .volumes
                    .values()
                    .filter(|v| {
                        matches!(&v.source, Source::Base(b) if b == base) && v.provisioned.is_none()
                    })
                    .map(|v| v.volume.id.clone())
                    .collect();
                for id in waiting {
                    out.extend(self.fail_volume(wall, &id, reason));
                }
                out
            }
            Work::Provision { id, .. } | Work::Expand { id, .. } => {
                self.fail_volume(wall, id, reason)
            }
            Work::RemoveVolume { .. } | Work::RemoveSnapshot { .. } => Vec::new(),
            Work::TakeSnapshot { id, .. } => self.put_snapshot(id, |s| {
                s.snapshot.status.state = VolumeSnapshotState::Failed
            }),
        }
    }

    fn fail_volume(&self, wall: UnixNanos, id: &VolumeId, reason: &str) -> Vec<Mutation> {
        let Some(r) = self.volumes.get(id) else {
            return Vec::new();
        };
        let mut next = r.clone();
        next.volume.status.state = VolumeState::Error;
        next.volume.metadata.generation += 1;
        next.error = Some(reason.to_owned());
        let event = volume_event(
            wall,
            &next.volume,
            EventType::Warning,
            "ProvisioningFailed",
            reason,
        );
        vec![Mutation::PutVolume(Box::new(next)), event]
    }

    fn put_base(&self, base: &ImageName, f: impl FnOnce(&mut BaseRecord)) -> Vec<Mutation> {
        let Some(b) = self.bases.get(base) else {
            return Vec::new();
        };
        let mut next = b.clone();
        f(&mut next);
        vec![Mutation::PutBase(next)]
    }

    fn put_snapshot(
        &self,
        id: &SnapshotId,
        f: impl FnOnce(&mut crate::record::SnapshotRecord),
    ) -> Vec<Mutation> {
        let Some(s) = self.snapshots.get(id) else {
            return Vec::new();
        };
        let mut next = s.clone();
        f(&mut next);
        next.snapshot.metadata.generation += 1;
        vec![Mutation::PutSnapshot(Box::new(next))]
    }
}
