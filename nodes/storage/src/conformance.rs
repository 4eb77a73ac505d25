//! The conformance suite: one set of assertions every volume backend must pass, run against the
//! fake and the local backend in this crate's tests and against real Ceph in `ferrocore-tests`.
//! If the fake drifts from Ceph, this suite is where it shows.
//!
//! Each check is a plain function over a [`Harness`]; it panics (with a message) on failure.

use std::collections::BTreeMap;

use ferrocore_api::iri::volume::{
    CreateVolumeRequest, CreateVolumeSnapshotRequest, DeleteVolumeRequest,
    DeleteVolumeSnapshotRequest, ENCRYPTION_KEY, ExpandVolumeRequest, ListEventsRequest,
    ListVolumeSnapshotsRequest, ListVolumesRequest, ObjectFilter, ObjectMetadata, ResizePolicy,
    RuntimeError, SecretData, SnapshotId, StatusRequest, StorageBytes, VersionRequest, Volume,
    VolumeClass, VolumeClassCapabilities, VolumeDataSource, VolumeEncryption, VolumeId,
    VolumeSnapshotSpec, VolumeSnapshotState, VolumeSpec, VolumeState,
};

use crate::record::ImageName;
use crate::service::VolumeService;

/// Work steps a check allows before it calls the backend stuck (each step is one backend call;
/// a LUKS2 format is one step).
const SETTLE_STEPS: usize = 10_000;

/// What a backend under test provides.
pub trait Harness {
    /// Opens a service over the backend; a second call reopens over the same state, as a
    /// restarted node would.
    fn open(&self) -> VolumeService;
    /// Makes an OS image holding `content` that the backend can import; returns its reference.
    fn os_image(&self, name: &str, content: &[u8]) -> String;
    /// Waits for the service to settle (real backends may need wall-clock time for retries).
    fn settle(&self, svc: &VolumeService) {
        assert!(svc.settle(SETTLE_STEPS), "backend work did not settle");
    }
}

/// The classes every harness must configure: `standard` (Static) and `expandable`
/// (ExpandOnly).
pub fn classes() -> Vec<VolumeClass> {
    vec![
        VolumeClass {
            name: "standard".into(),
            capabilities: VolumeClassCapabilities {
                tps: 100 << 20,
                iops: 1000,
            },
            resize_policy: ResizePolicy::Static,
        },
        VolumeClass {
            name: "expandable".into(),
            capabilities: VolumeClassCapabilities {
                tps: 50 << 20,
                iops: 500,
            },
            resize_policy: ResizePolicy::ExpandOnly,
        },
    ]
}

/// Runs every check (the encryption check only where the backend supports it).
pub fn run_all(h: &dyn Harness) {
    create_list_delete(h);
    refuses_impossible_requests(h);
    expand_only_grows(h);
    snapshot_restore_holds_data(h);
    os_image_imported_once_and_cloned(h);
    restart_loses_nothing(h);
    status_version_events(h);
    encryption_keeps_key_out_of_sight(h);
}

/// A create request of `size` MiB in `class`, labelled `test=<tag>`.
pub fn request(class: &str, size_mib: u64, tag: &str) -> CreateVolumeRequest {
    CreateVolumeRequest {
        metadata: ObjectMetadata {
            labels: BTreeMap::from([("test".to_owned(), tag.to_owned())]),
            ..ObjectMetadata::default()
        },
        spec: VolumeSpec {
            class: class.into(),
            size: StorageBytes::mib(size_mib),
            ..VolumeSpec::default()
        },
    }
}

/// The volume with `id`, if listed.
pub fn find(svc: &VolumeService, id: &VolumeId) -> Option<Volume> {
    let filter = ObjectFilter {
        id: Some(id.0.clone()),
        ..ObjectFilter::default()
    };
    svc.list_volumes(&ListVolumesRequest { filter })
        .volumes
        .into_iter()
        .next()
}

fn available(h: &dyn Harness, svc: &VolumeService, req: CreateVolumeRequest) -> Volume {
    let v = svc.create_volume(req).expect("create accepted").volume;
    assert_eq!(
        v.status.state,
        VolumeState::Pending,
        "a new volume starts Pending"
    );
    h.settle(svc);
    let v = find(svc, &v.id).expect("created volume is listed");
    assert_eq!(
        v.status.state,
        VolumeState::Available,
        "volume became Available: {:?}",
        v.status
    );
    v
}

fn image(v: &Volume) -> ImageName {
    ImageName::volume(v.id.as_str())
}

/// Create, list (by label), access, delete: the image appears and goes.
pub fn create_list_delete(h: &dyn Harness) {
    let svc = h.open();
    let v = available(h, &svc, request("standard", 64, "cld"));
    let access = v
        .status
        .access
        .as_ref()
        .expect("Available volumes have access");
    assert_eq!(access.driver, svc.backend().name());
    assert!(!access.handle.is_empty());
    assert!(
        v.status.size >= StorageBytes::mib(64),
        "size {}",
        v.status.size
    );
    let by_label = ObjectFilter {
        label_selector: BTreeMap::from([("test".into(), "cld".into())]),
        id: None,
    };
    assert_eq!(
        svc.list_volumes(&ListVolumesRequest { filter: by_label })
            .volumes
            .len(),
        1
    );
    assert!(svc.backend().list_images().unwrap().contains(&image(&v)));
    svc.delete_volume(&DeleteVolumeRequest {
        volume_id: v.id.clone(),
    })
    .unwrap();
    svc.delete_volume(&DeleteVolumeRequest {
        volume_id: v.id.clone(),
    })
    .expect("delete is idempotent");
    h.settle(&svc);
    assert!(find(&svc, &v.id).is_none(), "deleted volume is gone");
    assert!(
        !svc.backend().list_images().unwrap().contains(&image(&v)),
        "image removed"
    );
}

fn code(r: Result<impl std::fmt::Debug, RuntimeError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(RuntimeError::InvalidArgument(_)) => "invalid",
        Err(RuntimeError::NotFound(_)) => "notfound",
        Err(RuntimeError::FailedPrecondition(_)) => "precondition",
        Err(RuntimeError::Unavailable(_)) => "unavailable",
        Err(RuntimeError::Internal(_)) => "internal",
    }
}

/// Unknown classes, missing sizes, shrinks, Static expansion, unknown ids and snapshots of
/// Pending volumes are refused with the right code.
pub fn refuses_impossible_requests(h: &dyn Harness) {
    let svc = h.open();
    assert_eq!(
        code(svc.create_volume(request("gold", 64, "bad"))),
        "invalid"
    );
    assert_eq!(
        code(svc.create_volume(request("standard", 0, "bad"))),
        "invalid"
    );
    let mut huge = request("standard", 0, "bad");
    huge.spec.size = StorageBytes(u64::MAX);
    assert_eq!(code(svc.create_volume(huge)), "invalid");
    let missing = VolumeId("nope".into());
    assert_eq!(
        code(svc.delete_volume(&DeleteVolumeRequest {
            volume_id: missing.clone()
        })),
        "notfound"
    );
    let expand = ExpandVolumeRequest {
        volume_id: missing.clone(),
        size: StorageBytes::mib(8),
    };
    assert_eq!(code(svc.expand_volume(&expand)), "notfound");
    let snap = CreateVolumeSnapshotRequest {
        metadata: ObjectMetadata::default(),
        spec: VolumeSnapshotSpec { volume_id: missing },
    };
    assert_eq!(code(svc.create_volume_snapshot(snap)), "notfound");
    let mut from_missing = request("standard", 0, "bad");
    from_missing.spec.data_source = Some(VolumeDataSource::Snapshot {
        snapshot_id: SnapshotId("nope".into()),
    });
    assert_eq!(code(svc.create_volume(from_missing)), "invalid");
    let pending = svc
        .create_volume(request("standard", 16, "bad"))
        .unwrap()
        .volume;
    let snap = CreateVolumeSnapshotRequest {
        metadata: ObjectMetadata::default(),
        spec: VolumeSnapshotSpec {
            volume_id: pending.id.clone(),
        },
    };
    assert_eq!(
        code(svc.create_volume_snapshot(snap)),
        "precondition",
        "snapshot of a Pending volume"
    );
    let grow = ExpandVolumeRequest {
        volume_id: pending.id.clone(),
        size: StorageBytes::mib(32),
    };
    assert_eq!(
        code(svc.expand_volume(&grow)),
        "precondition",
        "Static class cannot grow"
    );
    h.settle(&svc);
    svc.delete_volume(&DeleteVolumeRequest {
        volume_id: pending.id,
    })
    .unwrap();
    h.settle(&svc);
}

/// An ExpandOnly volume grows (the backend sees the new size) and never shrinks.
pub fn expand_only_grows(h: &dyn Harness) {
    let svc = h.open();
    let v = available(h, &svc, request("expandable", 32, "grow"));
    let shrink = ExpandVolumeRequest {
        volume_id: v.id.clone(),
        size: StorageBytes::mib(16),
    };
    assert_eq!(code(svc.expand_volume(&shrink)), "invalid");
    svc.expand_volume(&ExpandVolumeRequest {
        volume_id: v.id.clone(),
        size: StorageBytes::mib(80),
    })
    .unwrap();
    h.settle(&svc);
    let v = find(&svc, &v.id).unwrap();
    assert_eq!(v.spec.size, StorageBytes::mib(80));
    assert_eq!(
        v.status.size,
        StorageBytes::mib(80),
        "status follows the expansion"
    );
    svc.backend()
        .write(&image(&v), (80 << 20) - 4, b"END!")
        .expect("the backend image grew");
    svc.delete_volume(&DeleteVolumeRequest { volume_id: v.id })
        .unwrap();
    h.settle(&svc);
}

fn snapshot_of(h: &dyn Harness, svc: &VolumeService, v: &Volume) -> SnapshotId {
    let req = CreateVolumeSnapshotRequest {
        metadata: ObjectMetadata::default(),
        spec: VolumeSnapshotSpec {
            volume_id: v.id.clone(),
        },
    };
    let s = svc
        .create_volume_snapshot(req)
        .expect("snapshot accepted")
        .volume_snapshot;
    h.settle(svc);
    let filter = ObjectFilter {
        id: Some(s.id.0.clone()),
        ..ObjectFilter::default()
    };
    let listed = svc
        .list_volume_snapshots(&ListVolumeSnapshotsRequest { filter })
        .volume_snapshots;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status.state, VolumeSnapshotState::Ready);
    assert_eq!(listed[0].status.size, v.status.size);
    s.id
}

/// A volume restored from a snapshot holds the data of the moment of the snapshot; deleting
/// the source keeps the snapshot usable; deleting everything leaves no image.
pub fn snapshot_restore_holds_data(h: &dyn Harness) {
    let svc = h.open();
    let src = available(h, &svc, request("standard", 32, "snap"));
    svc.backend()
        .write(&image(&src), 4096, b"SNAPSHOT-DATA")
        .unwrap();
    let snap = snapshot_of(h, &svc, &src);
    svc.backend()
        .write(&image(&src), 4096, b"LATER-CHANGES")
        .unwrap();
    let mut restore = request("standard", 0, "snap");
    restore.spec.data_source = Some(VolumeDataSource::Snapshot {
        snapshot_id: snap.clone(),
    });
    let restored = available(h, &svc, restore);
    assert_eq!(
        restored.spec.size, src.spec.size,
        "size defaults to the snapshot's"
    );
    assert_eq!(
        svc.backend().read(&image(&restored), 4096, 13).unwrap(),
        b"SNAPSHOT-DATA"
    );
    svc.delete_volume(&DeleteVolumeRequest {
        volume_id: src.id.clone(),
    })
    .unwrap();
    h.settle(&svc);
    assert!(
        find(&svc, &src.id).is_none(),
        "a deleted source is no longer listed"
    );
    let mut again = request("standard", 48, "snap");
    again.spec.data_source = Some(VolumeDataSource::Snapshot {
        snapshot_id: snap.clone(),
    });
    let second = available(h, &svc, again);
    assert_eq!(second.status.size, StorageBytes::mib(48));
    assert_eq!(
        svc.backend().read(&image(&second), 4096, 13).unwrap(),
        b"SNAPSHOT-DATA"
    );
    svc.delete_volume_snapshot(&DeleteVolumeSnapshotRequest {
        snapshot_id: snap.clone(),
    })
    .unwrap();
    h.settle(&svc);
    assert!(
        svc.list_volume_snapshots(&ListVolumeSnapshotsRequest::default())
            .volume_snapshots
            .iter()
            .all(|s| s.id != snap)
    );
    assert!(
        !svc.backend().list_images().unwrap().contains(&image(&src)),
        "source image went with its last snapshot"
    );
    assert_eq!(
        svc.backend().read(&image(&restored), 4096, 13).unwrap(),
        b"SNAPSHOT-DATA",
        "restores outlive the snapshot"
    );
    for v in [restored.id, second.id] {
        svc.delete_volume(&DeleteVolumeRequest { volume_id: v })
            .unwrap();
    }
    h.settle(&svc);
}

/// Two volumes from one OS image: one import, two clones holding the image's bytes.
pub fn os_image_imported_once_and_cloned(h: &dyn Harness) {
    let svc = h.open();
    let content = b"OS-IMAGE-BOOT-SECTOR".repeat(64);
    let reference = h.os_image("conformance-os.raw", &content);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut req = request("standard", 16, "os");
        req.spec.data_source = Some(VolumeDataSource::Image {
            image: reference.clone(),
            architecture: None,
        });
        ids.push(svc.create_volume(req).unwrap().volume.id);
    }
    h.settle(&svc);
    let base = ImageName::base(&reference);
    let images = svc.backend().list_images().unwrap();
    assert_eq!(
        images.iter().filter(|i| **i == base).count(),
        1,
        "one base image: {images:?}"
    );
    for id in &ids {
        let v = find(&svc, id).unwrap();
        assert_eq!(v.status.state, VolumeState::Available, "{:?}", v.status);
        assert_eq!(
            svc.backend().read(&image(&v), 0, 20).unwrap(),
            &content[..20]
        );
    }
    let mut bad = request("standard", 16, "os");
    bad.spec.data_source = Some(VolumeDataSource::Image {
        image: "/no/such/image.raw".into(),
        architecture: None,
    });
    let bad = svc.create_volume(bad).unwrap().volume;
    h.settle(&svc);
    assert_eq!(
        find(&svc, &bad.id).unwrap().status.state,
        VolumeState::Error,
        "a missing image fails the volume"
    );
    for id in ids.into_iter().chain([bad.id]) {
        svc.delete_volume(&DeleteVolumeRequest { volume_id: id })
            .unwrap();
    }
    h.settle(&svc);
}

/// A restarted runtime lists every accepted volume and finishes what was pending.
pub fn restart_loses_nothing(h: &dyn Harness) {
    let svc = h.open();
    let done = available(h, &svc, request("standard", 8, "restart"));
    let pending: Vec<VolumeId> = (0..3)
        .map(|_| {
            svc.create_volume(request("standard", 8, "restart"))
                .unwrap()
                .volume
                .id
        })
        .collect();
    drop(svc);
    let svc = h.open();
    for id in &pending {
        assert!(
            find(&svc, id).is_some(),
            "accepted volume {id} survived the restart"
        );
    }
    h.settle(&svc);
    for id in pending.iter().chain([&done.id]) {
        assert_eq!(find(&svc, id).unwrap().status.state, VolumeState::Available);
        svc.delete_volume(&DeleteVolumeRequest {
            volume_id: id.clone(),
        })
        .unwrap();
    }
    h.settle(&svc);
    let images = svc.backend().list_images().unwrap();
    assert!(
        pending
            .iter()
            .all(|id| !images.contains(&ImageName::volume(id.as_str())))
    );
}

/// `Status` lists every class with the probed capacity; `Version` names the backend; events
/// record what happened.
pub fn status_version_events(h: &dyn Harness) {
    let svc = h.open();
    svc.probe();
    let status = svc.status(&StatusRequest {});
    assert_eq!(status.volume_class_status.len(), classes().len());
    assert!(
        status.volume_class_status.iter().all(|c| c.quantity.0 > 0),
        "{status:?}"
    );
    let version = svc.version(&VersionRequest::default());
    assert_eq!(
        version.runtime_name,
        format!("ferrocore-{}", svc.backend().name())
    );
    let v = available(h, &svc, request("standard", 8, "events"));
    let events = svc.list_events(&ListEventsRequest::default()).events;
    assert!(
        events
            .iter()
            .any(|e| e.involved_object.id == v.id.0 && e.reason == "Provisioned"),
        "{events:?}"
    );
    svc.delete_volume(&DeleteVolumeRequest { volume_id: v.id })
        .unwrap();
    h.settle(&svc);
}

/// Encrypted volumes become Available with the key kept out of listings and debug output;
/// backends without encryption refuse them.
pub fn encryption_keeps_key_out_of_sight(h: &dyn Harness) {
    let svc = h.open();
    let key = b"conformance-passphrase-0123456789".to_vec();
    let mut req = request("standard", 32, "enc");
    req.spec.encryption = Some(VolumeEncryption {
        secret_data: SecretData::single(ENCRYPTION_KEY, key.clone()),
    });
    if !svc.backend().supports_encryption() {
        assert_eq!(code(svc.create_volume(req)), "invalid");
        return;
    }
    let v = available(h, &svc, req);
    let shown = format!("{:?}", svc.list_volumes(&ListVolumesRequest::default()));
    assert!(
        !shown.contains("conformance-passphrase"),
        "key leaked into a listing"
    );
    let enc = v.spec.encryption.expect("listed as encrypted");
    assert!(enc.secret_data.0.is_empty(), "no secret in the listing");
    svc.delete_volume(&DeleteVolumeRequest { volume_id: v.id })
        .unwrap();
    h.settle(&svc);
}
