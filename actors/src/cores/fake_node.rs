//! A small in-memory node for the mini cluster: it serves registered pools, keeps real state
//! (machines, volumes, snapshots, buckets), refuses machines beyond its registered capacity,
//! ignores stale generations, treats a create for a uid it holds as done, and reports every
//! object after each command. It stands in for the node crates' fakes, which `actors` may not
//! depend on.

use std::collections::BTreeMap;

use ferrocore_api::ObjectKey;
use ferrocore_api::iri::machine::{self as im, MachineRequest};
use ferrocore_api::iri::protocol::{
    BucketRequest, Freshness, GenerationFence, IriRequest, NodeName, ObjectRef, PoolCapacity,
    PoolRef, PoolRegistration, ReportedState, VolumeRequest,
};
use ferrocore_api::iri::{bucket as ib, volume as iv};
use ferrocore_api::meta::Uid;

use crate::reconcile::{NodeReport, NodeRequest};

/// What the node holds for one object.
#[derive(Clone, Debug)]
struct Held {
    key: ObjectKey,
    pool: PoolRef,
    generation: ferrocore_api::meta::Generation,
    state: ReportedState,
}

/// A fake node.
#[derive(Clone, Debug)]
pub struct FakeNode {
    /// Its name.
    pub name: NodeName,
    /// The pools it registers.
    pub pools: Vec<PoolRegistration>,
    /// When false, it neither heartbeats nor answers (a stopped node).
    pub up: bool,
    held: BTreeMap<Uid, Held>,
    fence: GenerationFence,
    next_id: u64,
}

impl FakeNode {
    /// A node serving `pools`.
    pub fn new(name: &str, pools: Vec<PoolRegistration>) -> Self {
        Self {
            name: NodeName(name.to_owned()),
            pools,
            up: true,
            held: BTreeMap::new(),
            fence: GenerationFence::default(),
            next_id: 0,
        }
    }

    /// Whether it serves `pool`.
    pub fn serves(&self, pool: &PoolRef) -> bool {
        self.pools.iter().any(|p| p.pool_ref() == *pool)
    }

    /// How many objects it holds.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Every report, as after a re-registration.
    pub fn reports(&self) -> Vec<(ObjectKey, NodeReport)> {
        self.held
            .iter()
            .map(|(uid, h)| (h.key.clone(), report(uid, h)))
            .collect()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}-{}", self.name, self.next_id)
    }

    /// Runs one request; returns the object's report if its state changed.
    pub fn handle(&mut self, req: &NodeRequest) -> Option<(ObjectKey, NodeReport)> {
        if !self.up || !self.serves(&req.pool) {
            return None;
        }
        let object = ObjectRef {
            key: req.object.clone(),
            uid: req.uid.clone(),
        };
        if let Freshness::Stale { .. } = self.fence.admit(&object, req.generation) {
            return None;
        }
        let before = self.held.get(&req.uid).map(|h| h.state.clone());
        let after = match &req.request {
            IriRequest::Machine(m) => self.machine(req, m, before.clone()),
            IriRequest::Volume(v) => self.volume(v, before.clone()),
            IriRequest::Bucket(b) => self.bucket(b, before.clone()),
        };
        if after == before {
            return None;
        }
        let held = Held {
            key: req.object.clone(),
            pool: req.pool.clone(),
            generation: req.generation,
            state: after.clone().unwrap_or(ReportedState::Absent),
        };
        let out = report(&req.uid, &held);
        if after.is_some() {
            self.held.insert(req.uid.clone(), held);
        } else {
            self.held.remove(&req.uid);
            self.fence.forget(&object);
        }
        Some((req.object.clone(), out))
    }

    fn machines_of_class(&self, pool: &PoolRef, class: &im::MachineClassName) -> i64 {
        let n = self
            .held
            .values()
            .filter(|h| h.pool == *pool)
            .filter(|h| matches!(&h.state, ReportedState::Machine(m) if m.spec.class == *class))
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    fn capacity(&self, pool: &PoolRef, class: &im::MachineClassName) -> i64 {
        self.pools
            .iter()
            .filter(|p| p.pool_ref() == *pool)
            .find_map(|p| match &p.capacity {
                PoolCapacity::Machine(c) => c
                    .iter()
                    .find(|s| s.machine_class.name == *class)
                    .map(|s| s.quantity),
                _ => None,
            })
            .unwrap_or(0)
    }

    fn machine(
        &mut self,
        req: &NodeRequest,
        m: &MachineRequest,
        held: Option<ReportedState>,
    ) -> Option<ReportedState> {
        let current = match held {
            Some(ReportedState::Machine(m)) => Some(m),
            _ => None,
        };
        let mut vm = match (m, current) {
            (MachineRequest::CreateMachine(c), None) => {
                if self.machines_of_class(&req.pool, &c.machine.spec.class)
                    >= self.capacity(&req.pool, &c.machine.spec.class)
                {
                    return None;
                }
                let mut vm = c.machine.clone();
                vm.metadata.id = im::MachineId(self.id("vm"));
                vm
            }
            (MachineRequest::DeleteMachine(_), Some(_)) => return None,
            (_, None) => return None,
            (_, Some(vm)) => vm,
        };
        match m {
            MachineRequest::UpdateMachinePower(p) => vm.spec.power = p.power,
            MachineRequest::AttachVolume(a) => vm.spec.volumes.push(a.volume.clone()),
            MachineRequest::UpdateVolume(u) => {
                if let Some(v) = vm.spec.volumes.iter_mut().find(|v| v.name == u.volume.name) {
                    *v = u.volume.clone();
                }
            }
            MachineRequest::DetachVolume(d) => vm.spec.volumes.retain(|v| v.name != d.name),
            MachineRequest::AttachNetworkInterface(a) => {
                vm.spec.network_interfaces.push(a.network_interface.clone())
            }
            MachineRequest::DetachNetworkInterface(d) => {
                vm.spec.network_interfaces.retain(|n| n.name != d.name)
            }
            _ => {}
        }
        vm.status = machine_status(&vm);
        Some(ReportedState::Machine(vm))
    }

    fn volume(&mut self, r: &VolumeRequest, held: Option<ReportedState>) -> Option<ReportedState> {
        match (r, held) {
            (VolumeRequest::CreateVolume(c), None) => {
                let id = self.id("vol");
                Some(ReportedState::Volume(iv::Volume {
                    id: iv::VolumeId(id.clone()),
                    metadata: c.metadata.clone(),
                    spec: c.spec.clone(),
                    status: iv::VolumeStatus {
                        state: iv::VolumeState::Available,
                        access: Some(iv::VolumeAccess {
                            driver: "fake".into(),
                            handle: id,
                            attributes: BTreeMap::new(),
                            secret_data: iv::SecretData::default(),
                        }),
                        size: c.spec.size,
                        conditions: Vec::new(),
                    },
                }))
            }
            (VolumeRequest::ExpandVolume(e), Some(ReportedState::Volume(mut v))) => {
                v.spec.size = v.spec.size.max(e.size);
                v.status.size = v.spec.size;
                Some(ReportedState::Volume(v))
            }
            (VolumeRequest::CreateVolumeSnapshot(c), None) => {
                let size = self.held.values().find_map(|h| match &h.state {
                    ReportedState::Volume(v) if v.id == c.spec.volume_id => Some(v.status.size),
                    _ => None,
                })?;
                Some(ReportedState::VolumeSnapshot(iv::VolumeSnapshot {
                    id: iv::SnapshotId(self.id("snap")),
                    metadata: c.metadata.clone(),
                    spec: c.spec.clone(),
                    status: iv::VolumeSnapshotStatus {
                        state: iv::VolumeSnapshotState::Ready,
                        size,
                    },
                }))
            }
            (VolumeRequest::DeleteVolume(_) | VolumeRequest::DeleteVolumeSnapshot(_), _) => None,
            (_, held) => held,
        }
    }

    fn bucket(&mut self, r: &BucketRequest, held: Option<ReportedState>) -> Option<ReportedState> {
        match (r, held) {
            (BucketRequest::CreateBucket(c), None) => {
                let id = self.id("bucket");
                Some(ReportedState::Bucket(ib::Bucket {
                    id: ib::BucketId(id.clone()),
                    metadata: c.metadata.clone(),
                    spec: c.spec.clone(),
                    status: ib::BucketStatus {
                        state: ib::BucketState::Available,
                        access: Some(ib::BucketAccess {
                            endpoint: format!("http://{}.s3.local", self.name),
                            bucket_name: id,
                            secret_data: iv::SecretData::single(
                                ib::ACCESS_KEY_ID,
                                b"fake".to_vec(),
                            ),
                        }),
                        conditions: Vec::new(),
                    },
                }))
            }
            (BucketRequest::DeleteBucket(_), _) => None,
            (_, held) => held,
        }
    }
}

fn machine_status(vm: &im::Machine) -> im::MachineStatus {
    im::MachineStatus {
        observed_generation: vm.metadata.generation,
        state: match vm.spec.power {
            im::Power::On => im::MachineState::Running,
            im::Power::Off => im::MachineState::Stopped,
        },
        image_ref: String::new(),
        volumes: vm
            .spec
            .volumes
            .iter()
            .map(|v| im::VolumeStatus {
                name: v.name.clone(),
                handle: format!("{}/{}", vm.metadata.id, v.device),
                state: im::VolumeState::Attached,
                size_bytes: v
                    .connection
                    .as_ref()
                    .map_or(0, |c| c.effective_storage_bytes),
            })
            .collect(),
        network_interfaces: vm
            .spec
            .network_interfaces
            .iter()
            .map(|n| im::NetworkInterfaceStatus {
                name: n.name.clone(),
                handle: format!("tap-{}-{}", vm.metadata.id, n.name),
                state: im::NetworkInterfaceState::Attached,
            })
            .collect(),
        conditions: Vec::new(),
    }
}

fn report(uid: &Uid, h: &Held) -> NodeReport {
    NodeReport {
        uid: uid.clone(),
        generation: h.generation,
        pool: h.pool.clone(),
        state: h.state.clone(),
    }
}
