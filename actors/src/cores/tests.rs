//! The mini cluster: the repository's examples converge, deletion cleans up, eviction, pool
//! health, quota and hostile registrations.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrocore_api::compute::{Machine, MachinePool, MachineState};
use ferrocore_api::decode::decode_documents;
use ferrocore_api::iri::machine::{
    MachineClass as IriMachineClass, MachineClassName, MachineClassStatus,
};
use ferrocore_api::iri::protocol::{PoolCapacity, PoolRegistration};
use ferrocore_api::iri::{bucket as ib, volume as iv};
use ferrocore_api::networking::{LoadBalancerRouting, NetworkInterface, NetworkInterfaceState};
use ferrocore_api::storage::{
    Bucket, BucketState, Volume, VolumeSnapshot, VolumeSnapshotState, VolumeState,
};
use ferrocore_api::{ConditionStatus, Kind, Object, ObjectKey};

use super::*;
use crate::reconcile::ViewExt;
use crate::reconcile::util::condition;

fn examples() -> Vec<Object> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut out = Vec::new();
    for dir in ["platform", "tenant"] {
        let mut files: Vec<_> = std::fs::read_dir(format!("{root}/{dir}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for d in decode_documents(&text).unwrap() {
                out.push(d.result.unwrap_or_else(|e| panic!("{}: {e}", f.display())));
            }
        }
    }
    out
}

fn machine_pool(name: &str, zone: &str, small: i64, medium: i64) -> PoolRegistration {
    let class = |n: &str, cpu: i64, gib: i64, quantity| MachineClassStatus {
        machine_class: IriMachineClass {
            name: MachineClassName(n.into()),
            capabilities: BTreeMap::from([("cpu".into(), cpu), ("memory".into(), gib << 30)]),
        },
        quantity,
    };
    PoolRegistration {
        name: name.into(),
        provider_id: format!("libvirt://{name}"),
        labels: BTreeMap::from([
            ("topology.ironcore.dev/region".into(), "eu-central".into()),
            ("topology.ironcore.dev/zone".into(), zone.into()),
        ]),
        capacity: PoolCapacity::Machine(vec![
            class("x86-small", 1, 1, small),
            class("x86-medium", 2, 4, medium),
        ]),
    }
}

fn storage_pools() -> Vec<PoolRegistration> {
    let zone = BTreeMap::from([("topology.ironcore.dev/zone".into(), "eu-central-a".into())]);
    let vclass = |n: &str, tps: u64, iops| iv::VolumeClassStatus {
        volume_class: iv::VolumeClass {
            name: iv::VolumeClassName(n.into()),
            capabilities: iv::VolumeClassCapabilities { tps, iops },
            resize_policy: iv::ResizePolicy::Static,
        },
        quantity: iv::StorageBytes(10 << 40),
    };
    vec![
        PoolRegistration {
            name: "ceph-zone-a".into(),
            provider_id: "ceph://ceph-zone-a".into(),
            labels: zone.clone(),
            capacity: PoolCapacity::Volume(vec![
                vclass("fast", 500 << 20, 10_000),
                vclass("standard", 100 << 20, 1000),
            ]),
        },
        PoolRegistration {
            name: "rgw-zone-a".into(),
            provider_id: "rgw://rgw-zone-a".into(),
            labels: zone,
            capacity: PoolCapacity::Bucket(vec![ib::BucketClass {
                name: ib::BucketClassName("standard".into()),
                capabilities: ib::BucketClassCapabilities {
                    tps: 100 << 20,
                    iops: 500,
                },
            }]),
        },
    ]
}

fn shop() -> MiniCluster {
    let mut c = MiniCluster::new(HealthConfig::default());
    let refused = c.apply(examples());
    assert!(refused.is_empty(), "{refused:?}");
    c.add_node(FakeNode::new(
        "hv-a",
        vec![machine_pool("hv-zone-a", "eu-central-a", 8, 4)],
    ));
    c.add_node(FakeNode::new(
        "hv-b",
        vec![machine_pool("hv-zone-b", "eu-central-b", 8, 4)],
    ));
    c.add_node(FakeNode::new("storage-a", storage_pools()));
    c
}

fn shop_key(kind: Kind, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: "shop".into(),
        name: name.into(),
    }
}

#[test]
fn the_examples_converge() {
    let mut c = shop();
    let rounds = c
        .run()
        .unwrap_or_else(|r| panic!("no fixpoint after {r} rounds: {:?}", c.refused));
    assert!(rounds < 60, "{rounds} rounds");
    let s = c.objects();
    for m in s.all::<Machine>(None) {
        assert_eq!(
            m.status.state,
            Some(MachineState::Running),
            "{}: {:?}",
            m.metadata.name,
            m.status.conditions
        );
        let ready = condition(&m.status.conditions, "Ready").unwrap();
        assert_eq!(ready.status, ConditionStatus::True);
    }
    assert_eq!(s.all::<Machine>(None).count(), 4);
    for v in s.all::<Volume>(None) {
        assert_eq!(
            v.status.state,
            Some(VolumeState::Available),
            "{}: {:?}",
            v.metadata.name,
            v.status.conditions
        );
    }
    assert_eq!(
        s.all::<Volume>(None).count(),
        4,
        "db-data, staging and two ephemeral roots"
    );
    for n in s.all::<NetworkInterface>(None) {
        assert_eq!(
            n.status.state,
            Some(NetworkInterfaceState::Available),
            "{}",
            n.metadata.name
        );
        assert_eq!(n.status.ips.len(), n.spec.ips.len(), "{}", n.metadata.name);
    }
    assert_eq!(s.all::<NetworkInterface>(None).count(), 5);
    let snap: &VolumeSnapshot = s.typed("shop", "db-data-nightly").unwrap();
    assert_eq!(snap.status.state, Some(VolumeSnapshotState::Ready));
    let bucket: &Bucket = s.typed("shop", "product-images").unwrap();
    assert_eq!(bucket.status.state, Some(BucketState::Available));
    let routing: &LoadBalancerRouting = s.typed("shop", "shop-web").unwrap();
    assert_eq!(routing.destinations.len(), 2);
    // Ephemeral volumes follow their machine's zone; the bastion avoided the tainted pool.
    let bastion: &Machine = s.typed("shop", "bastion").unwrap();
    assert_eq!(
        bastion.spec.machine_pool_ref.as_ref().unwrap().name,
        "hv-zone-a"
    );
    // Quiet at the fixpoint: nothing refused but what is expected.
    assert!(
        c.refused.iter().all(|r| r.contains("conflict")),
        "{:?}",
        c.refused
    );
}

#[test]
fn deleting_machines_removes_ephemerals_and_frees_capacity() {
    let mut c = shop();
    c.run().unwrap();
    for m in ["web-1", "web-2", "bastion", "db-1"] {
        c.delete(&shop_key(Kind::Machine, m)).unwrap();
    }
    c.run().unwrap();
    let s = c.objects();
    assert_eq!(s.all::<Machine>(None).count(), 0);
    assert!(s.typed::<Volume>("shop", "web-1-root").is_none());
    assert!(
        s.typed::<NetworkInterface>("shop", "web-1-primary")
            .is_none()
    );
    // db-data survives, released.
    let db: &Volume = s.typed("shop", "db-data").unwrap();
    assert!(db.spec.claim_ref.is_none());
    assert!(
        c.nodes().iter().take(2).all(|n| n.held() == 0),
        "the hypervisors hold nothing"
    );
    let pool: &MachinePool = c.objects().typed("", "hv-zone-a").unwrap();
    assert_eq!(pool.status.allocatable, pool.status.capacity);
}

#[test]
fn the_same_inputs_give_the_same_history() {
    let dump = || {
        let mut c = shop();
        c.run().unwrap();
        serde_json::to_string(&c.objects().iter().map(Object::to_value).collect::<Vec<_>>())
            .unwrap()
    };
    assert_eq!(dump(), dump());
}

#[test]
fn no_execute_taint_evicts_untolerating_machines() {
    let mut c = shop();
    c.run().unwrap();
    let on_a: Vec<String> = c
        .objects()
        .all::<Machine>(None)
        .filter(|m| {
            m.spec
                .machine_pool_ref
                .as_ref()
                .is_some_and(|p| p.name == "hv-zone-a")
        })
        .map(|m| m.metadata.name.clone())
        .collect();
    assert!(!on_a.is_empty());
    let pool = ObjectKey {
        kind: Kind::MachinePool,
        namespace: String::new(),
        name: "hv-zone-a".into(),
    };
    c.patch(
        &pool,
        &serde_json::json!({"spec": {"taints": [{"key": "drain", "effect": "NoExecute"}]}}),
    )
    .unwrap();
    c.run().unwrap();
    for name in on_a {
        assert!(
            c.objects().typed::<Machine>("shop", &name).is_none(),
            "{name} not evicted"
        );
    }
    assert!(c.events.iter().any(|e| e.reason == "Evicted"));
}

#[test]
fn a_stopped_node_goes_unknown_after_the_grace_period() {
    let mut c = MiniCluster::new(HealthConfig {
        heartbeat_interval: Duration::from_secs(1),
        lease_duration: Duration::from_secs(4),
        grace_period: Duration::from_secs(5),
    });
    assert!(c.apply(examples()).is_empty());
    c.add_node(FakeNode::new(
        "hv-a",
        vec![machine_pool("hv-zone-a", "eu-central-a", 8, 4)],
    ));
    c.run().unwrap();
    let ready = |c: &MiniCluster| {
        let p: &MachinePool = c.objects().typed("", "hv-zone-a").unwrap();
        condition(&p.status.conditions, "Ready").map(|c| c.status.clone())
    };
    assert_eq!(ready(&c), Some(ConditionStatus::True));
    c.nodes_mut()[0].up = false;
    c.advance(Duration::from_secs(5));
    assert_eq!(
        ready(&c),
        Some(ConditionStatus::True),
        "within the grace period"
    );
    c.advance(Duration::from_secs(1));
    assert_eq!(ready(&c), Some(ConditionStatus::StatusUnknown));
}

#[test]
fn quota_refuses_with_the_quota_and_resource_named() {
    let mut c = shop();
    c.run().unwrap();
    let big = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: huge, namespace: shop}
spec:
  machineClassRef: {name: x86-small}
  volumes:
  - name: root
    ephemeral: {volumeTemplate: {spec: {volumeClassRef: {name: fast}, resources: {storage: 200Gi}}}}";
    let refused = c.apply([ferrocore_api::decode::decode_object(big).unwrap()]);
    let text = refused[0].to_string();
    assert!(text.contains("exceeded quota: shop-fast-storage"), "{text}");
    assert!(text.contains("requests.storage"), "{text}");
}

#[test]
fn a_node_cannot_register_another_nodes_pool() {
    let mut c = shop();
    c.add_node(FakeNode::new(
        "intruder",
        vec![machine_pool("hv-zone-a", "x", 1000, 1000)],
    ));
    c.run().unwrap();
    assert!(
        c.refused
            .iter()
            .any(|r| r.contains("hv-zone-a") && r.contains("intruder")),
        "{:?}",
        c.refused
    );
    let pool: &MachinePool = c.objects().typed("", "hv-zone-a").unwrap();
    assert_eq!(
        pool.metadata.labels["topology.ironcore.dev/zone"],
        "eu-central-a"
    );
}

#[test]
fn power_off_reaches_the_node_and_reads_shutdown() {
    let mut c = shop();
    c.run().unwrap();
    let key = shop_key(Kind::Machine, "web-1");
    c.patch(&key, &serde_json::json!({"spec": {"power": "Off"}}))
        .unwrap();
    c.run().unwrap();
    let m: &Machine = c.objects().typed("shop", "web-1").unwrap();
    assert_eq!(m.status.state, Some(MachineState::Shutdown));
    assert_eq!(m.status.observed_generation, m.metadata.generation.0);
}

fn small_machine(i: usize) -> Object {
    ferrocore_api::decode::decode_object(&format!(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {{name: m{i}, namespace: load}}\nspec: {{machineClassRef: {{name: x86-small}}}}"
    ))
    .unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// However many machines meet however much capacity, no pool holds more than it has; every
    /// machine is Running or says why it is not scheduled.
    #[test]
    fn machines_fill_pools_without_overcommit(machines in 0usize..24, a in 0i64..10, b in 0i64..10) {
        let mut c = MiniCluster::new(HealthConfig::default());
        let classes: Vec<Object> = examples().into_iter().filter(|o| o.kind() == Kind::MachineClass).collect();
        proptest::prop_assert!(c.apply(classes).is_empty());
        c.apply((0..machines).map(small_machine));
        c.add_node(FakeNode::new("hv-a", vec![machine_pool("pa", "z1", a, 0)]));
        c.add_node(FakeNode::new("hv-b", vec![machine_pool("pb", "z2", b, 0)]));
        proptest::prop_assert!(c.run().is_ok());
        let s = c.objects();
        let on = |p: &str| s.all::<Machine>(None).filter(|m| m.spec.machine_pool_ref.as_ref().is_some_and(|r| r.name == p)).count();
        proptest::prop_assert!(i64::try_from(on("pa")).unwrap() <= a);
        proptest::prop_assert!(i64::try_from(on("pb")).unwrap() <= b);
        let placed = usize::try_from(a + b).unwrap().min(machines);
        proptest::prop_assert_eq!(on("pa") + on("pb"), placed);
        for m in s.all::<Machine>(None) {
            if m.spec.machine_pool_ref.is_some() {
                proptest::prop_assert_eq!(m.status.state.clone(), Some(MachineState::Running));
            } else {
                let why = condition(&m.status.conditions, "Scheduled").unwrap();
                proptest::prop_assert_eq!(why.reason.as_str(), "InsufficientCapacity");
            }
        }
    }
}

#[test]
fn a_failover_mid_creation_duplicates_nothing() {
    let mut c = MiniCluster::new(HealthConfig::default());
    let classes: Vec<Object> = examples()
        .into_iter()
        .filter(|o| o.kind() == Kind::MachineClass)
        .collect();
    assert!(c.apply(classes).is_empty());
    c.apply((0..40).map(small_machine));
    c.add_node(FakeNode::new("hv-a", vec![machine_pool("pa", "z1", 25, 0)]));
    c.add_node(FakeNode::new("hv-b", vec![machine_pool("pb", "z2", 25, 0)]));
    while c.nodes().iter().map(FakeNode::held).sum::<usize>() == 0 {
        c.round();
    }
    // The old leader's status writes for half the machines were lost with it: they look
    // never created. The new leader knows no reports yet; the nodes' reports arrive late.
    for i in (0..40).step_by(2) {
        let key = ObjectKey {
            kind: Kind::Machine,
            namespace: "load".into(),
            name: format!("m{i}"),
        };
        c.overwrite_status(&key, &serde_json::json!({})).unwrap();
    }
    c.fail_over(false);
    c.round();
    c.round();
    c.resend();
    c.run().unwrap();
    let held: Vec<usize> = c.nodes().iter().map(FakeNode::held).collect();
    assert_eq!(
        held.iter().sum::<usize>(),
        40,
        "every machine exactly once: {held:?}"
    );
    for m in c.objects().all::<Machine>(None) {
        assert_eq!(
            m.status.state,
            Some(MachineState::Running),
            "{}",
            m.metadata.name
        );
    }
}
