//! Random histories against the fake (creates, deletes, snapshots, restores, expansions,
//! outages, restarts, work steps in any interleaving): the runtime never panics, never answers
//! `Internal`, and once the backend is healthy again everything settles with no orphan image
//! and no volume without its image.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::volume::{
    CreateVolumeSnapshotRequest, DeleteVolumeRequest, DeleteVolumeSnapshotRequest,
    ExpandVolumeRequest, ListVolumeSnapshotsRequest, ListVolumesRequest, ObjectMetadata,
    RuntimeError, SnapshotId, StorageBytes, VolumeDataSource, VolumeId, VolumeSnapshotSpec,
    VolumeSnapshotState, VolumeState,
};
use ferrocore_node_storage::conformance::{classes, request};
use ferrocore_node_storage::fake::Fake;
use ferrocore_node_storage::{ImageName, VolumeConfig, VolumeService};
use ferrocore_runtime::{ManualClock, SeededRng, WallTime};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Create {
        size_mib: u8,
        expandable: bool,
        from_image: bool,
    },
    Delete(usize),
    Snapshot(usize),
    DeleteSnapshot(usize),
    Restore(usize),
    Expand(usize, u8),
    Step(u8),
    Restart,
    Down(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..64, any::<bool>(), any::<bool>()).prop_map(|(size_mib, expandable, from_image)| {
            Op::Create {
                size_mib,
                expandable,
                from_image,
            }
        }),
        any::<usize>().prop_map(Op::Delete),
        any::<usize>().prop_map(Op::Snapshot),
        any::<usize>().prop_map(Op::DeleteSnapshot),
        any::<usize>().prop_map(Op::Restore),
        (any::<usize>(), 1u8..128).prop_map(|(i, s)| Op::Expand(i, s)),
        (1u8..8).prop_map(Op::Step),
        Just(Op::Restart),
        any::<bool>().prop_map(Op::Down),
    ]
}

struct World {
    fake: Fake,
    clock: ManualClock,
    svc: VolumeService,
    volumes: Vec<VolumeId>,
    snapshots: Vec<SnapshotId>,
    down: bool,
}

impl World {
    fn open(fake: &Fake, clock: &ManualClock) -> VolumeService {
        let config = VolumeConfig {
            classes: classes(),
            kek: None,
        };
        VolumeService::open(
            fake.block(),
            fake.store(),
            config,
            Arc::new(clock.clone()),
            Box::new(SeededRng::new(3)),
        )
        .expect("open while the fake is up")
    }

    fn check(&self, r: Result<(), RuntimeError>) {
        match r {
            Ok(())
            | Err(
                RuntimeError::InvalidArgument(_)
                | RuntimeError::NotFound(_)
                | RuntimeError::FailedPrecondition(_),
            ) => {}
            Err(RuntimeError::Unavailable(m)) => assert!(self.down, "Unavailable while up: {m}"),
            Err(RuntimeError::Internal(m)) => panic!("Internal: {m}"),
        }
    }

    fn pick<T: Clone>(v: &[T], i: usize) -> Option<T> {
        (!v.is_empty()).then(|| v[i % v.len()].clone())
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Create {
                size_mib,
                expandable,
                from_image,
            } => {
                let mut req = request(
                    if expandable { "expandable" } else { "standard" },
                    size_mib.into(),
                    "model",
                );
                if from_image {
                    req.spec.data_source = Some(VolumeDataSource::Image {
                        image: "/img/os.raw".into(),
                        architecture: None,
                    });
                }
                let r = self
                    .svc
                    .create_volume(req)
                    .map(|v| self.volumes.push(v.volume.id));
                self.check(r);
            }
            Op::Delete(i) => {
                let Some(id) = Self::pick(&self.volumes, i) else {
                    return;
                };
                self.check(
                    self.svc
                        .delete_volume(&DeleteVolumeRequest { volume_id: id })
                        .map(|_| ()),
                );
            }
            Op::Snapshot(_) | Op::DeleteSnapshot(_) | Op::Restore(_) => self.apply_snapshot_op(op),
            Op::Expand(i, size) => {
                let Some(id) = Self::pick(&self.volumes, i) else {
                    return;
                };
                let req = ExpandVolumeRequest {
                    volume_id: id,
                    size: StorageBytes::mib(size.into()),
                };
                self.check(self.svc.expand_volume(&req).map(|_| ()));
            }
            Op::Step(n) => {
                for _ in 0..n {
                    self.svc.reconcile_once();
                }
                self.clock.advance(Duration::from_secs(1));
            }
            Op::Restart => {
                if !self.down {
                    self.svc = Self::open(&self.fake, &self.clock);
                }
            }
            Op::Down(down) => {
                self.down = down;
                self.fake.set_down(down);
                self.svc.probe();
            }
        }
    }

    fn apply_snapshot_op(&mut self, op: Op) {
        match op {
            Op::Snapshot(i) => {
                let Some(id) = Self::pick(&self.volumes, i) else {
                    return;
                };
                let req = CreateVolumeSnapshotRequest {
                    metadata: ObjectMetadata::default(),
                    spec: VolumeSnapshotSpec { volume_id: id },
                };
                let r = self
                    .svc
                    .create_volume_snapshot(req)
                    .map(|s| self.snapshots.push(s.volume_snapshot.id));
                self.check(r);
            }
            Op::DeleteSnapshot(i) => {
                let Some(id) = Self::pick(&self.snapshots, i) else {
                    return;
                };
                self.check(
                    self.svc
                        .delete_volume_snapshot(&DeleteVolumeSnapshotRequest { snapshot_id: id })
                        .map(|_| ()),
                );
            }
            Op::Restore(i) => {
                let Some(snapshot_id) = Self::pick(&self.snapshots, i) else {
                    return;
                };
                let mut req = request("standard", 0, "model");
                req.spec.data_source = Some(VolumeDataSource::Snapshot { snapshot_id });
                let r = self
                    .svc
                    .create_volume(req)
                    .map(|v| self.volumes.push(v.volume.id));
                self.check(r);
            }
            _ => unreachable!("only snapshot operations come here"),
        }
    }

    fn heal_and_settle(&mut self) {
        self.down = false;
        self.fake.set_down(false);
        self.svc.probe();
        for _ in 0..200 {
            if self.svc.settle(10_000) {
                return;
            }
            self.clock.advance(Duration::from_secs(6));
        }
        panic!("did not settle after the outage healed");
    }

    fn check_end_state(&self) {
        let listed = self
            .svc
            .list_volumes(&ListVolumesRequest::default())
            .volumes;
        let snaps = self
            .svc
            .list_volume_snapshots(&ListVolumeSnapshotsRequest::default())
            .volume_snapshots;
        let images: BTreeSet<ImageName> = self.fake.image_names().into_iter().collect();
        for v in &listed {
            assert!(
                v.metadata.deleted_at.is_none(),
                "a settled deletion is gone: {}",
                v.id
            );
            assert_ne!(
                v.status.state,
                VolumeState::Pending,
                "settled volumes are not Pending"
            );
            if v.status.state == VolumeState::Available {
                assert!(
                    images.contains(&ImageName::volume(v.id.as_str())),
                    "Available volume {} has its image",
                    v.id
                );
            }
        }
        let mut owners: BTreeSet<ImageName> = listed
            .iter()
            .map(|v| ImageName::volume(v.id.as_str()))
            .collect();
        for s in &snaps {
            assert!(
                s.metadata.deleted_at.is_none(),
                "a settled snapshot deletion is gone"
            );
            assert_ne!(s.status.state, VolumeSnapshotState::Pending);
            owners.insert(ImageName::volume(s.spec.volume_id.as_str()));
        }
        for image in images.iter().filter(|i| i.as_str().starts_with("img_")) {
            assert!(owners.contains(image), "orphan image {image}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_settle_without_orphans(ops in proptest::collection::vec(op(), 1..60)) {
        let fake = Fake::new(StorageBytes(4 << 30));
        fake.add_image_file("/img/os.raw", b"OS".repeat(100));
        let clock = ManualClock::new(WallTime::from_unix_nanos(1));
        let svc = World::open(&fake, &clock);
        let mut w = World { fake, clock, svc, volumes: Vec::new(), snapshots: Vec::new(), down: false };
        for op in ops {
            w.apply(op);
        }
        w.heal_and_settle();
        w.check_end_state();
    }
}
