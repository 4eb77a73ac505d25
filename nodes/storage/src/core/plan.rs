//! Request planning: validates each VolumeRuntime request against the records and returns the
//! mutations that carry it out (nothing is changed until the service applies them).

use ferrocore_api::iri::volume::{
    CreateVolumeRequest, CreateVolumeSnapshotRequest, ENCRYPTION_KEY, EventType, RuntimeError,
    SnapshotId, StorageBytes, UnixNanos, Volume, VolumeDataSource, VolumeEncryption, VolumeId,
    VolumeSnapshot, VolumeSnapshotState, VolumeSnapshotStatus, VolumeState, VolumeStatus,
};

use super::{
    MAX_VOLUME_SIZE, Mutation, VolumeCore, expandable, inherited_key, refuse, snapshot_ready,
    snapshot_source, volume_event,
};
use crate::record::{
    BaseRecord, ImageName, QosLimits, Source, VolumeRecord, WrappedKey, round_size,
};

/// What the service prepared for a create: the id, the WWN and the wrapped key (both need
/// randomness, which the core does not draw).
#[derive(Debug)]
pub(crate) struct CreateVolumeInput {
    /// The fresh id.
    pub(crate) id: VolumeId,
    /// The fresh WWN.
    pub(crate) wwn: String,
    /// The request's passphrase, wrapped with the node's key, if it had one.
    pub(crate) wrapped_key: Option<WrappedKey>,
    /// The request.
    pub(crate) request: CreateVolumeRequest,
}

/// Whether a create request asks for encryption, and the passphrase when it does.
pub(crate) fn requested_passphrase(
    req: &CreateVolumeRequest,
) -> Result<Option<&[u8]>, RuntimeError> {
    let Some(enc) = &req.spec.encryption else {
        return Ok(None);
    };
    match enc.secret_data.get(ENCRYPTION_KEY) {
        Some(key) if !key.is_empty() => Ok(Some(key)),
        _ => Err(refuse(format!(
            "Encryption needs a non-empty `{ENCRYPTION_KEY}`"
        ))),
    }
}

impl VolumeCore {
    /// Plans `CreateVolume`: the volume (Pending) and what to persist.
    pub(crate) fn plan_create_volume(
        &self,
        wall: UnixNanos,
        input: CreateVolumeInput,
    ) -> Result<(Volume, Vec<Mutation>), RuntimeError> {
        let CreateVolumeInput {
            id,
            wwn,
            wrapped_key,
            request,
        } = input;
        let class = self
            .classes
            .get(&request.spec.class)
            .ok_or_else(|| refuse(format!("Unknown volume class `{}`", request.spec.class)))?;
        if request.spec.encryption.is_some() && !self.encryption_supported {
            return Err(refuse("This backend does not support encrypted volumes"));
        }
        let mut out = Vec::new();
        let (source, size, wrapped_key, needs_format) = match &request.spec.data_source {
            None => (
                Source::Empty,
                required_size(request.spec.size)?,
                wrapped_key.clone(),
                wrapped_key.is_some(),
            ),
            Some(VolumeDataSource::Image { image, .. }) => {
                let base = ImageName::base(image);
                if !self.bases.contains_key(&base) {
                    out.push(Mutation::PutBase(BaseRecord {
                        name: base.clone(),
                        reference: image.clone(),
                        size: None,
                        error: None,
                    }));
                }
                let size = required_size(request.spec.size)?;
                (
                    Source::Base(base),
                    size,
                    wrapped_key.clone(),
                    wrapped_key.is_some(),
                )
            }
            Some(VolumeDataSource::Snapshot { snapshot_id }) => {
                self.restore_source(snapshot_id, request.spec.size, wrapped_key)?
            }
        };
        let mut spec = request.spec;
        spec.size = size;
        if wrapped_key.is_some() {
            // Keep "this volume is encrypted" visible without keeping the key in clear.
            spec.encryption = Some(VolumeEncryption::default());
        }
        let mut metadata = request.metadata;
        metadata.generation = 1;
        metadata.created_at = wall;
        metadata.deleted_at = None;
        let volume = Volume {
            id,
            metadata,
            spec,
            status: VolumeStatus::default(),
        };
        let record = VolumeRecord {
            volume: volume.clone(),
            source,
            qos: QosLimits::from(class.capabilities),
            wwn,
            wrapped_key,
            needs_format,
            provisioned: None,
            error: None,
        };
        out.push(Mutation::PutVolume(Box::new(record)));
        out.push(volume_event(
            wall,
            &volume,
            EventType::Normal,
            "Accepted",
            "Volume accepted",
        ));
        Ok((volume, out))
    }

    fn restore_source(
        &self,
        snapshot_id: &SnapshotId,
        requested: StorageBytes,
        wrapped_key: Option<WrappedKey>,
    ) -> Result<(Source, StorageBytes, Option<WrappedKey>, bool), RuntimeError> {
        let snap = self
            .snapshots
            .get(snapshot_id)
            .filter(|s| !s.deleted())
            .ok_or_else(|| refuse(format!("Unknown volume snapshot `{snapshot_id}`")))?;
        if !snapshot_ready(snap) {
            return Err(RuntimeError::FailedPrecondition(format!(
                "Volume snapshot `{snapshot_id}` is not Ready"
            )));
        }
        let snap_size = snap.snapshot.status.size;
        let size = if requested.0 == 0 {
            snap_size
        } else {
            round_size(requested)
        };
        if size < snap_size || size > MAX_VOLUME_SIZE {
            return Err(refuse(format!(
                "Size {size} must be between the snapshot's {snap_size} and {MAX_VOLUME_SIZE}"
            )));
        }
        // A restore inherits the source's key: the clone already carries its LUKS2 header.
        match inherited_key(snap) {
            Some(key) => Ok((snapshot_source(snap), size, Some(key), false)),
            None => Ok((
                snapshot_source(snap),
                size,
                wrapped_key.clone(),
                wrapped_key.is_some(),
            )),
        }
    }

    /// Plans `ExpandVolume`.
    pub(crate) fn plan_expand(
        &self,
        wall: UnixNanos,
        id: &VolumeId,
        size: StorageBytes,
    ) -> Result<Vec<Mutation>, RuntimeError> {
        let record = self.live_volume(id)?;
        let class = self.classes.get(&record.volume.spec.class);
        if !class.is_some_and(expandable) {
            return Err(RuntimeError::FailedPrecondition(format!(
                "Volume class `{}` does not allow expansion",
                record.volume.spec.class
            )));
        }
        if record.volume.status.state == VolumeState::Error {
            return Err(RuntimeError::FailedPrecondition(format!(
                "Volume `{id}` is in Error"
            )));
        }
        if size > MAX_VOLUME_SIZE {
            return Err(refuse(format!("Size {size} exceeds {MAX_VOLUME_SIZE}")));
        }
        let size = round_size(size);
        if size < record.volume.spec.size {
            return Err(refuse(format!(
                "Volumes only grow: {size} is below the current {}",
                record.volume.spec.size
            )));
        }
        if size == record.volume.spec.size {
            return Ok(Vec::new());
        }
        let mut next = record.clone();
        next.volume.spec.size = size;
        next.volume.metadata.generation += 1;
        let event = volume_event(
            wall,
            &next.volume,
            EventType::Normal,
            "Expanding",
            "Expanding",
        );
        Ok(vec![Mutation::PutVolume(Box::new(next)), event])
    }

    /// Plans `DeleteVolume` (idempotent while the volume is going).
    pub(crate) fn plan_delete_volume(
        &self,
        wall: UnixNanos,
        id: &VolumeId,
    ) -> Result<Vec<Mutation>, RuntimeError> {
        let record = self
            .volumes
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("Volume `{id}`")))?;
        if record.deleted() {
            return Ok(Vec::new());
        }
        if self.restores_pending_from(id) {
            return Err(RuntimeError::FailedPrecondition(format!(
                "Volumes are still being restored from snapshots of `{id}`"
            )));
        }
        let mut next = record.clone();
        next.volume.metadata.deleted_at = Some(wall);
        next.volume.metadata.generation += 1;
        let event = volume_event(
            wall,
            &next.volume,
            EventType::Normal,
            "Deleting",
            "Deleting",
        );
        Ok(vec![Mutation::PutVolume(Box::new(next)), event])
    }

    /// Plans `CreateVolumeSnapshot`: the source must be Available.
    pub(crate) fn plan_create_snapshot(
        &self,
        wall: UnixNanos,
        id: SnapshotId,
        req: CreateVolumeSnapshotRequest,
    ) -> Result<(VolumeSnapshot, Vec<Mutation>), RuntimeError> {
        let source = self.live_volume(&req.spec.volume_id)?;
        if source.volume.status.state != VolumeState::Available {
            return Err(RuntimeError::FailedPrecondition(format!(
                "Volume `{}` is not Available",
                req.spec.volume_id
            )));
        }
        let mut metadata = req.metadata;
        metadata.generation = 1;
        metadata.created_at = wall;
        metadata.deleted_at = None;
        let snapshot = VolumeSnapshot {
            id,
            metadata,
            spec: req.spec,
            status: VolumeSnapshotStatus {
                state: VolumeSnapshotState::Pending,
                size: StorageBytes(0),
            },
        };
        let record = crate::record::SnapshotRecord {
            snapshot: snapshot.clone(),
            wrapped_key: source.wrapped_key.clone(),
        };
        Ok((snapshot, vec![Mutation::PutSnapshot(Box::new(record))]))
    }

    /// Plans `DeleteVolumeSnapshot` (idempotent while the snapshot is going).
    pub(crate) fn plan_delete_snapshot(
        &self,
        wall: UnixNanos,
        id: &SnapshotId,
    ) -> Result<Vec<Mutation>, RuntimeError> {
        let record = self
            .snapshots
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("Volume snapshot `{id}`")))?;
        if record.deleted() {
            return Ok(Vec::new());
        }
        let mut next = record.clone();
        next.snapshot.metadata.deleted_at = Some(wall);
        next.snapshot.metadata.generation += 1;
        Ok(vec![Mutation::PutSnapshot(Box::new(next))])
    }

    fn live_volume(&self, id: &VolumeId) -> Result<&VolumeRecord, RuntimeError> {
        self.volumes
            .get(id)
            .filter(|r| !r.deleted())
            .ok_or_else(|| RuntimeError::NotFound(format!("Volume `{id}`")))
    }

    /// Whether a volume not yet provisioned is being restored from a snapshot of `id`.
    pub(super) fn restores_pending_from(&self, id: &VolumeId) -> bool {
        let image = ImageName::volume(id.as_str());
        self.volumes.values().any(|v| {
            v.provisioned.is_none()
                && matches!(&v.source, Source::Snapshot { image: i, .. } if *i == image)
        })
    }
}

/// A size that must be given (no source to take it from), rounded and bounded.
fn required_size(size: StorageBytes) -> Result<StorageBytes, RuntimeError> {
    if size.0 == 0 {
        return Err(refuse("A size is required"));
    }
    if size > MAX_VOLUME_SIZE {
        return Err(refuse(format!("Size {size} exceeds {MAX_VOLUME_SIZE}")));
    }
    Ok(round_size(size))
}
