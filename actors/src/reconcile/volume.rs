//! The Volume lifecycle (what upstream's volumepoollet does): a Volume bound to a VolumePool
//! becomes an IRI volume on the node serving the pool; the node's reports become its status,
//! including `status.access` (with an access Secret `<volume>-access` when the node hands out
//! credentials), and a larger `resources.storage` becomes `ExpandVolume`.
//!
//! A volume restored from a snapshot waits for the snapshot to be `Ready`, and inherits the
//! source volume's encryption key when it sets none itself (as upstream). A deleting volume
//! that its machine still has attached waits until the machine lets go of it.

use ferrocore_api::compute::{AttachmentState, Machine};
use ferrocore_api::core::Secret;
use ferrocore_api::iri::protocol::{IriRequest, PoolKind, PoolRef, ReportedState, VolumeRequest};
use ferrocore_api::iri::volume as iri;
use ferrocore_api::storage::{
    SECRET_TYPE_VOLUME_AUTH, Volume, VolumeAccess, VolumeClass, VolumePool, VolumeSnapshot,
    VolumeSnapshotState, VolumeState, VolumeStatus,
};
use ferrocore_api::{
    ConditionStatus, LocalObjectReference, Quantity, ResourceList, ResourceName, quantity_of,
};

use super::lifecycle::{
    Deletion, ID_SCHEME, access_secret, deletion, deletion_commands, ensure_finalizer,
    iri_metadata, node_id, node_request, should_create,
};
use super::machine::{NotReady, secret_data};
use super::util::{ConditionUpdate, api_time, key_of, set_condition, status_update};
use super::{Command, Ctx, Observed, ViewExt};

/// The finalizer that keeps a Volume in the store until its node has deleted it.
pub const VOLUME_FINALIZER: &str = "volumepoollet.ironcore.dev/volume";

/// Label prefix on IRI volumes (`…-uid`, `…-namespace`, `…-name`).
pub const VOLUME_LABEL_PREFIX: &str = "storage.ferrocore.dev/volume";

/// The name of a Volume's access Secret.
pub fn access_secret_name(volume: &str) -> String {
    format!("{volume}-access")
}

fn bytes(q: Quantity) -> iri::StorageBytes {
    iri::StorageBytes(u64::try_from(q.value()).unwrap_or(0))
}

fn requested_size(volume: &Volume) -> iri::StorageBytes {
    bytes(
        volume
            .spec
            .resources
            .as_ref()
            .map_or(Quantity::ZERO, |r| quantity_of(r, ResourceName::STORAGE)),
    )
}

/// The IRI volume spec a Volume wants, or why it cannot be created yet.
pub fn desired_spec(ctx: &Ctx<'_>, volume: &Volume) -> Result<iri::VolumeSpec, NotReady> {
    let ns = volume.metadata.namespace.as_str();
    let class = volume
        .spec
        .volume_class_ref
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    if ctx.view.typed::<VolumeClass>("", &class).is_none() {
        return Err(not_ready(
            "VolumeClassNotFound",
            format!("volume class {class} not found"),
        ));
    }
    let mut encryption_ref = volume
        .spec
        .encryption
        .as_ref()
        .map(|e| e.secret_ref.name.clone());
    let data_source = match (
        &volume.spec.data_source.os_image,
        &volume.spec.data_source.volume_snapshot_ref,
    ) {
        (Some(img), _) => Some(iri::VolumeDataSource::Image {
            image: img.image.clone(),
            architecture: img.architecture.clone(),
        }),
        (None, Some(r)) => {
            let snap = ctx
                .view
                .typed::<VolumeSnapshot>(ns, &r.name)
                .filter(|s| s.status.state == Some(VolumeSnapshotState::Ready));
            let id = snap
                .and_then(|s| node_id(&s.status.snapshot_id))
                .ok_or_else(|| {
                    not_ready(
                        "SnapshotNotReady",
                        format!("volume snapshot {} is not ready", r.name),
                    )
                })?;
            if encryption_ref.is_none() {
                encryption_ref = snap
                    .and_then(|s| s.spec.volume_ref.as_ref())
                    .and_then(|v| ctx.view.typed::<Volume>(ns, &v.name))
                    .and_then(|v| v.spec.encryption.as_ref())
                    .map(|e| e.secret_ref.name.clone());
            }
            Some(iri::VolumeDataSource::Snapshot {
                snapshot_id: iri::SnapshotId(id.to_owned()),
            })
        }
        (None, None) => None,
    };
    let encryption = match encryption_ref {
        Some(name) => {
            let secret = ctx.view.typed::<Secret>(ns, &name).ok_or_else(|| {
                not_ready(
                    "EncryptionSecretNotFound",
                    format!("secret {name} not found"),
                )
            })?;
            Some(iri::VolumeEncryption {
                secret_data: secret_data(secret),
            })
        }
        None => None,
    };
    Ok(iri::VolumeSpec {
        class: iri::VolumeClassName(class),
        size: requested_size(volume),
        encryption,
        data_source,
    })
}

/// Whether the Volume's claiming Machine still has it attached.
pub fn attached(ctx: &Ctx<'_>, volume: &Volume) -> bool {
    let Some(claim) = &volume.spec.claim_ref else {
        return false;
    };
    let name = &volume.metadata.name;
    ctx.view
        .typed::<Machine>(&volume.metadata.namespace, &claim.name)
        .filter(|m| m.metadata.uid == claim.uid)
        .is_some_and(|m| {
            m.status
                .volumes
                .iter()
                .any(|s| s.volume_ref.name == *name && s.state == Some(AttachmentState::Attached))
        })
}

fn not_ready(reason: &'static str, message: String) -> NotReady {
    NotReady { reason, message }
}

fn request(volume: &Volume, pool: &str, r: VolumeRequest) -> Command {
    let pool = PoolRef {
        kind: PoolKind::Volume,
        name: pool.to_owned(),
    };
    node_request(volume, pool, IriRequest::Volume(r))
}

/// Reconciles a Volume bound to a pool. Unbound Volumes are the scheduler's.
pub fn reconcile_volume(ctx: &Ctx<'_>, volume: &Volume) -> Vec<Command> {
    let Some(pool) = volume
        .spec
        .volume_pool_ref
        .as_ref()
        .map(|p| p.name.as_str())
    else {
        return Vec::new();
    };
    let observed = ctx.reports.observed(&key_of(volume), &volume.metadata.uid);
    let reported = match observed {
        Observed::Present(r) => match &r.state {
            ReportedState::Volume(v) => Some(v),
            _ => None,
        },
        _ => None,
    };
    let id_recorded = !volume.status.volume_id.is_empty();
    if volume.metadata.is_deleting() {
        let pool_gone = ctx.view.typed::<VolumePool>("", pool).is_none();
        let decision = if attached(ctx, volume) {
            // Still attached to its machine: deleting it now would pull a disk from under a
            // running guest. The machine must drop it first.
            Deletion::Wait
        } else {
            deletion(observed, id_recorded, pool_gone)
        };
        return deletion_commands(volume, VOLUME_FINALIZER, decision, || {
            let volume_id = reported?.id.clone();
            let r = VolumeRequest::DeleteVolume(iri::DeleteVolumeRequest { volume_id });
            Some(request(volume, pool, r))
        });
    }
    if let Some(add) = ensure_finalizer(volume, VOLUME_FINALIZER) {
        return vec![add];
    }
    let want = desired_spec(ctx, volume);
    let mut out = Vec::new();
    match (&want, reported) {
        (Ok(spec), None) if should_create(observed, id_recorded) => {
            out.push(request(
                volume,
                pool,
                VolumeRequest::CreateVolume(iri::CreateVolumeRequest {
                    metadata: iri_metadata(volume, VOLUME_LABEL_PREFIX),
                    spec: spec.clone(),
                }),
            ));
        }
        (Ok(spec), Some(v)) if spec.size > v.spec.size => out.push(request(
            volume,
            pool,
            VolumeRequest::ExpandVolume(iri::ExpandVolumeRequest {
                volume_id: v.id.clone(),
                size: spec.size,
            }),
        )),
        _ => {}
    }
    let mut secret_ok = false;
    if let Some(access) = reported
        .and_then(|v| v.status.access.as_ref())
        .filter(|a| !a.secret_data.0.is_empty())
    {
        let name = access_secret_name(&volume.metadata.name);
        let (cmds, ok) = access_secret(
            ctx,
            volume,
            &name,
            SECRET_TYPE_VOLUME_AUTH,
            &access.secret_data,
        );
        out.extend(cmds);
        secret_ok = ok;
    }
    let status = volume_status(ctx, volume, reported, want.err(), secret_ok);
    out.extend(status_update(volume, &volume.status, &status));
    out
}

fn volume_state(s: iri::VolumeState) -> VolumeState {
    match s {
        iri::VolumeState::Pending => VolumeState::Pending,
        iri::VolumeState::Available => VolumeState::Available,
        iri::VolumeState::Error => VolumeState::Error,
    }
}

fn volume_status(
    ctx: &Ctx<'_>,
    volume: &Volume,
    reported: Option<&iri::Volume>,
    blocker: Option<NotReady>,
    secret_ok: bool,
) -> VolumeStatus {
    let old = &volume.status;
    let mut status = old.clone();
    let state = reported.map_or(VolumeState::Pending, |v| volume_state(v.status.state));
    if old.state.as_ref() != Some(&state) || old.last_state_transition_time.is_none() {
        status.last_state_transition_time = Some(api_time(ctx.wall));
    }
    status.state = Some(state);
    if let Some(v) = reported {
        status.volume_id = format!("{ID_SCHEME}{}", v.id);
        status.access = v.status.access.as_ref().map(|a| VolumeAccess {
            secret_ref: (secret_ok && !a.secret_data.0.is_empty())
                .then(|| LocalObjectReference::new(access_secret_name(&volume.metadata.name))),
            driver: a.driver.clone(),
            handle: a.handle.clone(),
            volume_attributes: a.attributes.clone(),
        });
        if v.status.size.0 > 0 {
            let size = Quantity::from_bytes(i64::try_from(v.status.size.0).unwrap_or(i64::MAX));
            status.resources =
                ResourceList::from([(ResourceName::new(ResourceName::STORAGE), size)]);
        }
    }
    let (st, reason, message) = match (&blocker, status.state.as_ref()) {
        (Some(b), _) => (ConditionStatus::False, b.reason, b.message.clone()),
        (None, Some(VolumeState::Available)) => (ConditionStatus::True, "Available", String::new()),
        (None, Some(VolumeState::Error)) => (ConditionStatus::False, "Error", String::new()),
        (None, _) => (ConditionStatus::False, "Pending", String::new()),
    };
    let pool = volume
        .spec
        .volume_pool_ref
        .as_ref()
        .map(|p| p.name.as_str())
        .unwrap_or_default();
    let now = api_time(ctx.wall);
    let generation = volume.metadata.generation.0;
    let scheduled = format!("bound to volume pool {pool}");
    for (type_, st, reason, message) in [
        ("Ready", st, reason, message.as_str()),
        (
            "Scheduled",
            ConditionStatus::True,
            "Scheduled",
            scheduled.as_str(),
        ),
    ] {
        let update = ConditionUpdate {
            type_,
            status: st,
            reason,
            message,
            observed_generation: generation,
        };
        set_condition(&mut status.conditions, &update, now);
    }
    status
}

#[cfg(test)]
mod tests;
