//! Machine lifecycle: create when ready, diff, status mapping, deletion.

use ferrocore_api::compute::MachineState;
use ferrocore_api::iri::protocol::{PoolKind, PoolRef, ReportedState};
use ferrocore_api::meta::Generation;
use ferrocore_api::{ConditionStatus, Object};

use super::*;
use crate::reconcile::testkit::{ctx, get, snapshot, summary};
use crate::reconcile::util::{condition, key};
use crate::reconcile::{NodeReport, Reports, Snapshot};

const CLASS: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass
metadata: {name: small}\ncapabilities: {cpu: 1, memory: 1Gi}";
const POOL: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool
metadata: {name: hv}";
const SECRET: &str = "apiVersion: v1\nkind: Secret
metadata: {name: ign, namespace: shop}\nstringData: {ignition.yaml: hello}";
const NET: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network
metadata: {name: net, namespace: shop}";
const MACHINE: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: web, namespace: shop, generation: 2, finalizers: [machinepoollet.ironcore.dev/machine]}
spec:
  machineClassRef: {name: small}
  machinePoolRef: {name: hv}
  ignitionRef: {name: ign}
  volumes:
  - {name: root, volumeRef: {name: disk}}
  - {name: scratch, emptyDisk: {sizeLimit: 1Gi}}
  networkInterfaces:
  - {name: eth0, networkInterfaceRef: {name: nic}}";
const VOLUME: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: disk, namespace: shop}
spec: {volumeClassRef: {name: fast}, resources: {storage: 10Gi}, claimRef: {name: web, uid: uid-web}}
status: {state: Available, access: {driver: ceph, handle: pool/disk}}";
const NIC: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface
metadata: {name: nic, namespace: shop}
spec: {networkRef: {name: net}, machineRef: {name: web, uid: uid-web}, ips: [{value: 10.0.0.4}]}
status: {state: Available, ips: [10.0.0.4]}";

fn world() -> Snapshot {
    snapshot(&[CLASS, POOL, SECRET, NET, MACHINE, VOLUME, NIC])
}

fn report(state: ReportedState) -> Reports {
    let mut r = Reports::new();
    r.record(
        key(ferrocore_api::Kind::Machine, "shop", "web"),
        NodeReport {
            uid: ferrocore_api::meta::Uid("uid-web".into()),
            generation: Generation(2),
            pool: PoolRef {
                kind: PoolKind::Machine,
                name: "hv".into(),
            },
            state,
        },
    );
    r
}

fn created_spec(out: &[Command]) -> iri::MachineSpec {
    out.iter()
        .find_map(|c| match c {
            Command::Node(n) => match &n.request {
                IriRequest::Machine(iri::MachineRequest::CreateMachine(c)) => {
                    Some(c.machine.spec.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .expect("a CreateMachine")
}

fn new_status(out: &[Command]) -> ferrocore_api::compute::MachineStatus {
    out.iter()
        .find_map(|c| match c {
            Command::UpdateStatus { status, .. } => serde_json::from_value(status.clone()).ok(),
            _ => None,
        })
        .expect("a status update")
}

fn running(spec: iri::MachineSpec, state: iri::MachineState) -> iri::Machine {
    let mut m = iri_machine(get::<Machine>(&world(), "web"), spec);
    m.metadata.id = iri::MachineId("vm-1".into());
    m.status.state = state;
    m.status.volumes = m
        .spec
        .volumes
        .iter()
        .map(|v| iri::VolumeStatus {
            name: v.name.clone(),
            handle: format!("h-{}", v.name),
            state: iri::VolumeState::Attached,
            size_bytes: 0,
        })
        .collect();
    m.status.network_interfaces = m
        .spec
        .network_interfaces
        .iter()
        .map(|n| iri::NetworkInterfaceStatus {
            name: n.name.clone(),
            handle: "tap-1".into(),
            state: iri::NetworkInterfaceState::Attached,
        })
        .collect();
    m
}

#[test]
fn bound_machine_first_gets_its_finalizer() {
    let s =
        snapshot(&[&MACHINE.replace(", finalizers: [machinepoollet.ironcore.dev/machine]", "")]);
    let r = Reports::new();
    assert_eq!(
        summary(&reconcile_machine(&ctx(&s, &r), get(&s, "web"))),
        ["+finalizer Machine web machinepoollet.ironcore.dev/machine"]
    );
}

#[test]
fn waits_for_volumes_and_says_why() {
    let s = snapshot(&[CLASS, POOL, SECRET, NET, MACHINE, NIC]);
    let r = report(ReportedState::Absent);
    let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
    assert_eq!(summary(&out), ["status Machine web"]);
    let st = new_status(&out);
    let c = condition(&st.conditions, "VolumesReady").unwrap();
    assert_eq!(c.status, ConditionStatus::False);
    assert_eq!(c.reason, "VolumeNotFound");
    assert_eq!(st.state, Some(MachineState::Pending));
}

#[test]
fn ready_machine_is_created_with_everything() {
    let s = world();
    let r = report(ReportedState::Absent);
    let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
    let spec = created_spec(&out);
    assert_eq!(spec.ignition_data.as_deref(), Some(&b"hello"[..]));
    assert_eq!(spec.volumes.len(), 2);
    let conn = spec.volumes[0].connection.as_ref().unwrap();
    assert_eq!(
        (conn.driver.as_str(), conn.effective_storage_bytes),
        ("ceph", 10 << 30)
    );
    assert_eq!(
        spec.volumes[1].local_disk.as_ref().unwrap().size_bytes,
        1 << 30
    );
    assert_eq!(spec.network_interfaces[0].ips, ["10.0.0.4"]);
    assert_eq!(spec.network_interfaces[0].network_id, "shop/net");
    let Command::Node(n) = &out[0] else { panic!() };
    assert_eq!(n.generation, Generation(2));
    // Unknown (no report yet) and never created: create as well.
    let out = reconcile_machine(&ctx(&s, &Reports::new()), get(&s, "web"));
    created_spec(&out);
}

#[test]
fn running_report_becomes_status_and_stays_quiet() {
    let s = world();
    let want = desired(&ctx(&s, &Reports::new()), get(&s, "web"));
    let r = report(ReportedState::Machine(running(
        want.spec,
        iri::MachineState::Running,
    )));
    let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
    assert_eq!(
        summary(&out),
        [
            r#"patch NetworkInterface nic {"spec":{"providerID":"tap-1"}}"#,
            "status Machine web"
        ]
    );
    let st = new_status(&out);
    assert_eq!(st.state, Some(MachineState::Running));
    assert_eq!(st.machine_id, "ferrocore://vm-1");
    for t in [
        "Ready",
        "VolumesReady",
        "NetworkInterfacesReady",
        "Scheduled",
    ] {
        assert_eq!(
            condition(&st.conditions, t).unwrap().status,
            ConditionStatus::True,
            "{t}"
        );
    }
    // With the status written, the core is quiet (but for the NIC patch not applied here).
    let mut s2 = s.clone();
    let mut m = get::<Machine>(&s, "web").clone();
    m.status = st;
    s2.put(Object::Machine(m));
    let again = reconcile_machine(&ctx(&s2, &r), get(&s2, "web"));
    assert_eq!(summary(&again).len(), 1, "{:?}", summary(&again));
}

#[test]
fn stopped_is_shutdown() {
    let s = world();
    let want = desired(&ctx(&s, &Reports::new()), get(&s, "web"));
    let r = report(ReportedState::Machine(running(
        want.spec,
        iri::MachineState::Stopped,
    )));
    let st = new_status(&reconcile_machine(&ctx(&s, &r), get(&s, "web")));
    assert_eq!(st.state, Some(MachineState::Shutdown));
}

#[test]
fn spec_changes_become_single_requests() {
    let s = world();
    let want = desired(&ctx(&s, &Reports::new()), get(&s, "web"));
    let r = report(ReportedState::Machine(running(
        want.spec,
        iri::MachineState::Running,
    )));
    let mut m = get::<Machine>(&s, "web").clone();
    m.spec.power = Some(ferrocore_api::compute::Power::Off);
    m.spec.volumes.remove(1);
    let ops: Vec<String> = summary(&reconcile_machine(&ctx(&s, &r), &m))
        .into_iter()
        .filter(|c| c.starts_with("node"))
        .collect();
    assert_eq!(
        ops,
        [
            "node UpdateMachinePower Machine web",
            "node DetachVolume Machine web"
        ]
    );
}

#[test]
fn deletion_waits_for_the_node() {
    let deleting = MACHINE.replace(
        "generation: 2,",
        "generation: 2, deletionTimestamp: '2026-01-01T00:00:00Z',",
    );
    let s = snapshot(&[POOL, &deleting]);
    let want = desired(&ctx(&world(), &Reports::new()), get(&world(), "web"));
    let r = report(ReportedState::Machine(running(
        want.spec,
        iri::MachineState::Running,
    )));
    let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
    assert_eq!(summary(&out)[0], "node DeleteMachine Machine web");
    assert_eq!(new_status(&out).state, Some(MachineState::Terminating));
    let r = report(ReportedState::Absent);
    assert_eq!(
        summary(&reconcile_machine(&ctx(&s, &r), get(&s, "web"))),
        ["-finalizer Machine web machinepoollet.ironcore.dev/machine"]
    );
}
