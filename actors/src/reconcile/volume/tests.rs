//! Volume lifecycle: create, access Secret, expansion, snapshot restore, deletion.

use ferrocore_api::iri::protocol::{PoolKind, PoolRef, ReportedState, VolumeRequest};
use ferrocore_api::meta::{Generation, Uid};
use ferrocore_api::{Kind, Object};

use super::*;
use crate::reconcile::testkit::{ctx, get, snapshot, summary};
use crate::reconcile::util::key;
use crate::reconcile::{NodeReport, Reports, Snapshot};

const CLASS: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeClass
metadata: {name: fast}\ncapabilities: {tps: 100Mi, iops: 1000}";
const POOL: &str =
    "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumePool\nmetadata: {name: ceph}";
const KEY: &str = "apiVersion: v1\nkind: Secret
metadata: {name: key, namespace: shop}\nstringData: {encryptionKey: k}";
const VOLUME: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: data, namespace: shop, finalizers: [volumepoollet.ironcore.dev/volume]}
spec: {volumeClassRef: {name: fast}, volumePoolRef: {name: ceph}, resources: {storage: 2Gi},
  encryption: {secretRef: {name: key}}, dataSource: {osImage: {image: debian}}}";

fn reports(key_name: &str, kind: Kind, state: ReportedState) -> Reports {
    let mut r = Reports::new();
    r.record(
        key(kind, "shop", key_name),
        NodeReport {
            uid: Uid(format!("uid-{key_name}")),
            generation: Generation(1),
            pool: PoolRef {
                kind: PoolKind::Volume,
                name: "ceph".into(),
            },
            state,
        },
    );
    r
}

fn node_ops(out: &[Command]) -> Vec<VolumeRequest> {
    out.iter()
        .filter_map(|c| match c {
            Command::Node(n) => match &n.request {
                IriRequest::Volume(v) => Some(v.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn available(size: u64, secret: bool) -> iri::Volume {
    let mut v = iri::Volume {
        id: "v-1".into(),
        ..iri::Volume::default()
    };
    v.spec.size = iri::StorageBytes(size);
    v.status = iri::VolumeStatus {
        state: iri::VolumeState::Available,
        access: Some(iri::VolumeAccess {
            driver: "ceph".into(),
            handle: "rbd/v-1".into(),
            attributes: Default::default(),
            secret_data: if secret {
                iri::SecretData::single("userKey", b"s3cr3t".to_vec())
            } else {
                iri::SecretData::default()
            },
        }),
        size: iri::StorageBytes(size),
        conditions: Vec::new(),
    };
    v
}

fn world() -> Snapshot {
    snapshot(&[CLASS, POOL, KEY, VOLUME])
}

#[test]
fn absent_volume_is_created_with_size_image_and_key() {
    let s = world();
    let r = reports("data", Kind::Volume, ReportedState::Absent);
    let ops = node_ops(&reconcile_volume(&ctx(&s, &r), get(&s, "data")));
    let [VolumeRequest::CreateVolume(c)] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(c.spec.size, iri::StorageBytes(2 << 30));
    assert_eq!(
        c.spec
            .encryption
            .as_ref()
            .unwrap()
            .secret_data
            .get("encryptionKey"),
        Some(&b"k"[..])
    );
    assert!(matches!(
        c.spec.data_source,
        Some(iri::VolumeDataSource::Image { .. })
    ));
    assert_eq!(
        c.metadata.labels["storage.ferrocore.dev/volume-uid"],
        "uid-data"
    );
}

#[test]
fn available_report_writes_access_and_its_secret() {
    let s = world();
    let r = reports(
        "data",
        Kind::Volume,
        ReportedState::Volume(available(2 << 30, true)),
    );
    let out = reconcile_volume(&ctx(&s, &r), get(&s, "data"));
    assert_eq!(
        summary(&out),
        ["create Secret data-access", "status Volume data"]
    );
    let Command::UpdateStatus { status, .. } = &out[1] else {
        panic!()
    };
    assert_eq!(status["state"], "Available");
    assert_eq!(status["volumeID"], "ferrocore://v-1");
    assert!(status["access"].get("secretRef").is_none());
    // Once the secret exists, the status names it.
    let mut s2 = s.clone();
    let Command::Create(secret) = &out[0] else {
        panic!()
    };
    s2.put(secret.as_ref().clone());
    let out = reconcile_volume(&ctx(&s2, &r), get(&s2, "data"));
    let Command::UpdateStatus { status, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(status["access"]["secretRef"]["name"], "data-access");
}

#[test]
fn larger_request_expands() {
    let s = world();
    let r = reports(
        "data",
        Kind::Volume,
        ReportedState::Volume(available(1 << 30, false)),
    );
    let ops = node_ops(&reconcile_volume(&ctx(&s, &r), get(&s, "data")));
    assert!(
        matches!(ops.as_slice(), [VolumeRequest::ExpandVolume(e)] if e.size == iri::StorageBytes(2 << 30))
    );
}

#[test]
fn restore_waits_for_the_snapshot_and_inherits_the_key() {
    let restored = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: copy, namespace: shop, finalizers: [volumepoollet.ironcore.dev/volume]}
spec: {volumeClassRef: {name: fast}, volumePoolRef: {name: ceph}, resources: {storage: 2Gi},
  dataSource: {volumeSnapshotRef: {name: snap}}}";
    let snap = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeSnapshot
metadata: {name: snap, namespace: shop}\nspec: {volumeRef: {name: data}}";
    let r = reports("copy", Kind::Volume, ReportedState::Absent);
    let s = snapshot(&[CLASS, POOL, KEY, VOLUME, restored, snap]);
    let out = reconcile_volume(&ctx(&s, &r), get(&s, "copy"));
    assert!(node_ops(&out).is_empty());
    let Some(Command::UpdateStatus { status, .. }) = out.last() else {
        panic!()
    };
    assert_eq!(status["conditions"][0]["reason"], "SnapshotNotReady");
    let mut s = s.clone();
    let mut sn: VolumeSnapshot = get::<VolumeSnapshot>(&s, "snap").clone();
    sn.status.state = Some(VolumeSnapshotState::Ready);
    sn.status.snapshot_id = "ferrocore://s-1".into();
    s.put(Object::VolumeSnapshot(sn));
    let ops = node_ops(&reconcile_volume(&ctx(&s, &r), get(&s, "copy")));
    let [VolumeRequest::CreateVolume(c)] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert!(
        matches!(&c.spec.data_source, Some(iri::VolumeDataSource::Snapshot { snapshot_id }) if snapshot_id.0 == "s-1")
    );
    assert!(c.spec.encryption.is_some());
}

#[test]
fn deletion_deletes_then_releases() {
    let deleting = VOLUME.replace(
        "finalizers:",
        "deletionTimestamp: '2026-01-01T00:00:00Z', finalizers:",
    );
    let s = snapshot(&[CLASS, POOL, KEY, &deleting]);
    let r = reports(
        "data",
        Kind::Volume,
        ReportedState::Volume(available(2 << 30, false)),
    );
    let ops = node_ops(&reconcile_volume(&ctx(&s, &r), get(&s, "data")));
    assert!(matches!(ops.as_slice(), [VolumeRequest::DeleteVolume(_)]));
    let r = reports("data", Kind::Volume, ReportedState::Absent);
    assert_eq!(
        summary(&reconcile_volume(&ctx(&s, &r), get(&s, "data"))),
        ["-finalizer Volume data volumepoollet.ironcore.dev/volume"]
    );
}

#[test]
fn an_attached_volume_is_not_deleted_under_its_machine() {
    let deleting = VOLUME
        .replace(
            "finalizers:",
            "deletionTimestamp: '2026-01-01T00:00:00Z', finalizers:",
        )
        .replace(
            "volumePoolRef: {name: ceph},",
            "volumePoolRef: {name: ceph}, claimRef: {name: m, uid: uid-m},",
        );
    let machine = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: m, namespace: shop}
spec: {machineClassRef: {name: small}, volumes: [{name: d, volumeRef: {name: data}}]}
status: {volumes: [{name: d, state: Attached, volumeRef: {name: data}}]}";
    let r = reports(
        "data",
        Kind::Volume,
        ReportedState::Volume(available(2 << 30, false)),
    );
    let s = snapshot(&[CLASS, POOL, KEY, &deleting, machine]);
    assert!(reconcile_volume(&ctx(&s, &r), get(&s, "data")).is_empty());
    let detached = machine.replace("state: Attached", "state: Pending");
    let s = snapshot(&[CLASS, POOL, KEY, &deleting, &detached]);
    let ops = node_ops(&reconcile_volume(&ctx(&s, &r), get(&s, "data")));
    assert!(matches!(ops.as_slice(), [VolumeRequest::DeleteVolume(_)]));
}
