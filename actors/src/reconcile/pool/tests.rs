//! Pool registration: creation, ownership, class mapping, capacity and allocatable.

use std::collections::BTreeMap;

use ferrocore_api::iri::machine::{MachineClass as IriClass, MachineClassName};

use super::*;
use crate::reconcile::Reports;
use crate::reconcile::testkit::{ctx, get, snapshot, summary};

const SMALL: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass
metadata: {name: small}\ncapabilities: {cpu: 1, memory: 1Gi}";
const POOL: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool
metadata: {name: hv, labels: {topology.ironcore.dev/zone: a}, annotations: {ferrocore.dev/node: node-1}}
spec: {providerID: 'libvirt://hv'}";
const DECLARED: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool
metadata: {name: hv}\nspec: {providerID: 'libvirt://hv'}";
const BOUND: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: m, namespace: shop}\nspec: {machineClassRef: {name: small}, machinePoolRef: {name: hv}}";

fn registration(class: &str, cpu: i64) -> PoolRegistration {
    PoolRegistration {
        name: "hv".into(),
        provider_id: String::new(),
        labels: BTreeMap::from([("topology.ironcore.dev/zone".into(), "a".into())]),
        capacity: PoolCapacity::Machine(vec![machine::MachineClassStatus {
            machine_class: IriClass {
                name: MachineClassName(class.into()),
                capabilities: BTreeMap::from([("cpu".into(), cpu), ("memory".into(), 1 << 30)]),
            },
            quantity: 4,
        }]),
    }
}

#[test]
fn first_registration_creates_the_pool() {
    let s = snapshot(&[SMALL]);
    let r = Reports::new();
    let out = reconcile_registration(
        &ctx(&s, &r),
        &NodeName("node-1".into()),
        &registration("small", 1),
    )
    .unwrap();
    assert_eq!(summary(&out), ["create MachinePool hv"]);
    let Command::Create(o) = &out[0] else {
        panic!()
    };
    let Object::MachinePool(p) = o.as_ref() else {
        panic!()
    };
    assert_eq!(p.spec.provider_id, "ferrocore://node-1/hv");
    assert_eq!(p.metadata.annotations[POOL_NODE_ANNOTATION], "node-1");
}

#[test]
fn capacity_and_allocatable_follow_mapped_classes() {
    let s = snapshot(&[SMALL, POOL, BOUND]);
    let r = Reports::new();
    // The runtime's class has another name but the same capabilities: it maps to `small`.
    let out = reconcile_registration(
        &ctx(&s, &r),
        &NodeName("node-1".into()),
        &registration("x1", 1),
    )
    .unwrap();
    let [Command::UpdateStatus { status, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(status["availableMachineClasses"][0]["name"], "small");
    assert_eq!(status["capacity"]["class/machine.small"], "4");
    assert_eq!(status["allocatable"]["class/machine.small"], "3");
    // Different capabilities: not offered.
    let out = reconcile_registration(
        &ctx(&s, &r),
        &NodeName("node-1".into()),
        &registration("small", 2),
    )
    .unwrap();
    assert!(out.is_empty(), "nothing offered, nothing to write: {out:?}");
    let _ = get::<MachinePool>(&s, "hv");
}

#[test]
fn another_node_cannot_take_a_pool_over() {
    let s = snapshot(&[SMALL, POOL]);
    let r = Reports::new();
    let err = reconcile_registration(
        &ctx(&s, &r),
        &NodeName("intruder".into()),
        &registration("small", 1),
    );
    assert!(matches!(err, Err(RegistrationError::NotOwner { .. })));
}

#[test]
fn a_declared_pool_is_taken_by_the_node_with_its_provider_id() {
    let s = snapshot(&[SMALL, DECLARED]);
    let r = Reports::new();
    let node = NodeName("node-1".into());
    assert!(reconcile_registration(&ctx(&s, &r), &node, &registration("small", 1)).is_err());
    let mut reg = registration("small", 1);
    reg.provider_id = "libvirt://hv".into();
    let out = reconcile_registration(&ctx(&s, &r), &node, &reg).unwrap();
    assert!(
        summary(&out)[0].starts_with("patch MachinePool hv"),
        "{out:?}"
    );
}
