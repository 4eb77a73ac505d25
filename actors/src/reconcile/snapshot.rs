//! The VolumeSnapshot lifecycle: a snapshot of a Volume that its node holds becomes
//! `CreateVolumeSnapshot` on the volume's pool; reports become `snapshotID`, state and size;
//! deletion waits for the node.

use ferrocore_api::Quantity;
use ferrocore_api::iri::protocol::{IriRequest, PoolKind, PoolRef, ReportedState, VolumeRequest};
use ferrocore_api::iri::volume as iri;
use ferrocore_api::storage::{
    Volume, VolumePool, VolumeSnapshot, VolumeSnapshotState, VolumeSnapshotStatus,
};

use super::lifecycle::{
    ID_SCHEME, deletion, deletion_commands, ensure_finalizer, iri_metadata, node_id, node_request,
    should_create,
};
use super::util::{api_time, key_of, status_update};
use super::{Command, Ctx, Observed, ViewExt};

/// The finalizer that keeps a VolumeSnapshot until its node has deleted it.
pub const SNAPSHOT_FINALIZER: &str = "volumepoollet.ironcore.dev/volume-snapshot";

/// Label prefix on IRI snapshots.
pub const SNAPSHOT_LABEL_PREFIX: &str = "storage.ferrocore.dev/volume-snapshot";

fn snapshot_state(s: iri::VolumeSnapshotState) -> VolumeSnapshotState {
    match s {
        iri::VolumeSnapshotState::Pending => VolumeSnapshotState::Pending,
        iri::VolumeSnapshotState::Ready => VolumeSnapshotState::Ready,
        iri::VolumeSnapshotState::Failed => VolumeSnapshotState::Failed,
    }
}

/// Reconciles a VolumeSnapshot.
pub fn reconcile_snapshot(ctx: &Ctx<'_>, snap: &VolumeSnapshot) -> Vec<Command> {
    let ns = snap.metadata.namespace.as_str();
    let source = snap
        .spec
        .volume_ref
        .as_ref()
        .and_then(|r| ctx.view.typed::<Volume>(ns, &r.name));
    let observed = ctx.reports.observed(&key_of(snap), &snap.metadata.uid);
    // The pool: where the node reported the snapshot, else the source volume's pool.
    let pool = match observed {
        Observed::Present(r) => Some(r.pool.name.clone()),
        _ => source
            .and_then(|v| v.spec.volume_pool_ref.as_ref())
            .map(|p| p.name.clone()),
    };
    let reported = match observed {
        Observed::Present(r) => match &r.state {
            ReportedState::VolumeSnapshot(s) => Some(s),
            _ => None,
        },
        _ => None,
    };
    let id_recorded = !snap.status.snapshot_id.is_empty();
    if snap.metadata.is_deleting() {
        let pool_gone = pool
            .as_ref()
            .is_none_or(|p| ctx.view.typed::<VolumePool>("", p).is_none());
        let decision = deletion(observed, id_recorded, pool_gone);
        return deletion_commands(snap, SNAPSHOT_FINALIZER, decision, || {
            let snapshot_id = reported?.id.clone();
            let r = VolumeRequest::DeleteVolumeSnapshot(iri::DeleteVolumeSnapshotRequest {
                snapshot_id,
            });
            Some(request(snap, pool.as_deref()?, r))
        });
    }
    let Some(pool) = pool else {
        return Vec::new();
    };
    if let Some(add) = ensure_finalizer(snap, SNAPSHOT_FINALIZER) {
        return vec![add];
    }
    let mut out = Vec::new();
    let volume_id = source.and_then(|v| node_id(&v.status.volume_id));
    if let (Some(volume_id), None) = (volume_id, reported)
        && should_create(observed, id_recorded)
    {
        out.push(request(
            snap,
            &pool,
            VolumeRequest::CreateVolumeSnapshot(iri::CreateVolumeSnapshotRequest {
                metadata: iri_metadata(snap, SNAPSHOT_LABEL_PREFIX),
                spec: iri::VolumeSnapshotSpec {
                    volume_id: iri::VolumeId(volume_id.to_owned()),
                },
            }),
        ));
    }
    let mut status = snap.status.clone();
    let state = reported.map_or(VolumeSnapshotState::Pending, |s| {
        snapshot_state(s.status.state)
    });
    if status.state.as_ref() != Some(&state) || status.last_state_transition_time.is_none() {
        status.last_state_transition_time = Some(api_time(ctx.wall));
    }
    status.state = Some(state);
    if let Some(s) = reported {
        status.snapshot_id = format!("{ID_SCHEME}{}", s.id);
        status.size = (s.status.size.0 > 0)
            .then(|| Quantity::from_bytes(i64::try_from(s.status.size.0).unwrap_or(i64::MAX)));
    }
    out.extend(status_update(
        snap,
        &snap.status,
        &VolumeSnapshotStatus { ..status },
    ));
    out
}

fn request(snap: &VolumeSnapshot, pool: &str, r: VolumeRequest) -> Command {
    let pool = PoolRef {
        kind: PoolKind::Volume,
        name: pool.to_owned(),
    };
    node_request(snap, pool, IriRequest::Volume(r))
}

#[cfg(test)]
mod tests {
    use ferrocore_api::meta::{Generation, Uid};
    use ferrocore_api::{Kind, Object};

    use super::*;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};
    use crate::reconcile::util::key;
    use crate::reconcile::{NodeReport, Reports};

    const POOL: &str =
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumePool\nmetadata: {name: ceph}";
    const VOLUME: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: data, namespace: shop}
spec: {volumeClassRef: {name: fast}, volumePoolRef: {name: ceph}, resources: {storage: 1Gi}}
status: {volumeID: 'ferrocore://v-1', state: Available}";
    const SNAP: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeSnapshot
metadata: {name: snap, namespace: shop, finalizers: [volumepoollet.ironcore.dev/volume-snapshot]}
spec: {volumeRef: {name: data}}";

    #[test]
    fn snapshot_is_taken_on_the_volume_pool_and_reported_ready() {
        let s = snapshot(&[POOL, VOLUME, SNAP]);
        let mut r = Reports::new();
        let out = reconcile_snapshot(&ctx(&s, &r), get(&s, "snap"));
        assert_eq!(
            summary(&out),
            [
                "node CreateVolumeSnapshot VolumeSnapshot snap",
                "status VolumeSnapshot snap"
            ]
        );
        let mut reported = iri::VolumeSnapshot {
            id: "s-1".into(),
            ..Default::default()
        };
        reported.status.state = iri::VolumeSnapshotState::Ready;
        reported.status.size = iri::StorageBytes(1 << 30);
        r.record(
            key(Kind::VolumeSnapshot, "shop", "snap"),
            NodeReport {
                uid: Uid("uid-snap".into()),
                generation: Generation(1),
                pool: PoolRef {
                    kind: PoolKind::Volume,
                    name: "ceph".into(),
                },
                state: ReportedState::VolumeSnapshot(reported),
            },
        );
        let out = reconcile_snapshot(&ctx(&s, &r), get(&s, "snap"));
        let [Command::UpdateStatus { status, .. }] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(status["state"], "Ready");
        assert_eq!(status["snapshotID"], "ferrocore://s-1");
        assert_eq!(status["size"], "1Gi");
        let _ = Object::from(get::<VolumeSnapshot>(&s, "snap").clone());
    }
}
