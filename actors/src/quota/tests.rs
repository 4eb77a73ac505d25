//! Evaluators, scopes, admission errors, ephemeral volumes (#1255), status.used.

use super::*;
use crate::reconcile::Reports;
use crate::reconcile::testkit::{ctx, get, parse, snapshot};

const SMALL: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass
metadata: {name: small}\ncapabilities: {cpu: 2, memory: 4Gi}";
const QUOTA: &str = "apiVersion: core.ironcore.dev/v1alpha1\nkind: ResourceQuota
metadata: {name: team, namespace: shop}
spec: {hard: {count/machines.compute.ironcore.dev: '2', requests.cpu: '3', requests.storage: 15Gi}}";
const FAST_ONLY: &str = "apiVersion: core.ironcore.dev/v1alpha1\nkind: ResourceQuota
metadata: {name: fast, namespace: shop}
spec: {hard: {requests.storage: 10Gi}, scopeSelector: {matchExpressions: [{scopeName: VolumeClass, operator: In, values: [fast]}]}}";

fn machine(name: &str, disk: Option<&str>) -> String {
    let volumes = disk.map_or(String::new(), |size| {
        format!(", volumes: [{{name: root, ephemeral: {{volumeTemplate: {{spec: {{volumeClassRef: {{name: fast}}, resources: {{storage: {size}}}}}}}}}}}]")
    });
    format!(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {{name: {name}, namespace: shop}}\nspec: {{machineClassRef: {{name: small}}{volumes}}}"
    )
}

fn volume(name: &str, class: &str, size: &str) -> String {
    format!(
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {{name: {name}, namespace: shop}}
spec: {{volumeClassRef: {{name: {class}}}, resources: {{storage: {size}}}}}"
    )
}

#[test]
fn machine_over_cpu_is_refused_naming_quota_and_resource() {
    let s = snapshot(&[SMALL, QUOTA, &machine("a", None)]);
    let err = admit(&parse(&machine("b", None)), None, &s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exceeded quota: team, requested: requests.cpu=2, used: requests.cpu=2, limited: requests.cpu=3"
    );
    let s = snapshot(&[SMALL, QUOTA]);
    assert_eq!(admit(&parse(&machine("b", None)), None, &s), Ok(()));
}

#[test]
fn scopes_limit_what_a_quota_sees() {
    let s = snapshot(&[FAST_ONLY, &volume("a", "fast", "8Gi")]);
    // Standard volumes are outside the fast quota.
    assert_eq!(
        admit(&parse(&volume("b", "standard", "50Gi")), None, &s),
        Ok(())
    );
    let err = admit(&parse(&volume("b", "fast", "4Gi")), None, &s).unwrap_err();
    assert_eq!(
        (err.quota.as_str(), err.resource.as_str()),
        ("fast", "requests.storage")
    );
}

#[test]
fn machines_charge_their_ephemeral_volumes_once() {
    // #1255: the machine's ephemeral disk counts at machine admission.
    let s = snapshot(&[SMALL, FAST_ONLY]);
    let err = admit(&parse(&machine("a", Some("11Gi"))), None, &s).unwrap_err();
    assert_eq!(err.quota, "fast");
    assert_eq!(admit(&parse(&machine("a", Some("6Gi"))), None, &s), Ok(()));
    // Admitted and its volume created by the ephemeral controller: not charged twice.
    let m = machine("a", Some("6Gi"));
    let s = snapshot(&[SMALL, FAST_ONLY, &m]);
    let quota: &ResourceQuota = get(&s, "fast");
    assert_eq!(
        used(quota, &s)[&ResourceName::new("requests.storage")].to_string(),
        "6Gi"
    );
    let eph = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: a-root, namespace: shop, ownerReferences: [{apiVersion: compute.ironcore.dev/v1alpha1, kind: Machine, name: a, uid: uid-a, controller: true}]}
spec: {volumeClassRef: {name: fast}, resources: {storage: 6Gi}}";
    assert_eq!(admit(&parse(eph), None, &s), Ok(()));
    let s = snapshot(&[SMALL, FAST_ONLY, &m, eph]);
    let quota: &ResourceQuota = get(&s, "fast");
    assert_eq!(
        used(quota, &s)[&ResourceName::new("requests.storage")].to_string(),
        "6Gi"
    );
}

#[test]
fn expansion_is_charged_by_its_delta() {
    let s = snapshot(&[QUOTA, &volume("a", "fast", "10Gi")]);
    let old = parse(&volume("a", "fast", "10Gi"));
    assert_eq!(
        admit(&parse(&volume("a", "fast", "15Gi")), Some(&old), &s),
        Ok(())
    );
    assert!(admit(&parse(&volume("a", "fast", "16Gi")), Some(&old), &s).is_err());
}

#[test]
fn status_used_lists_every_hard_resource() {
    let s = snapshot(&[SMALL, QUOTA, &machine("a", None)]);
    let r = Reports::new();
    let out = reconcile_quota(&ctx(&s, &r), get(&s, "team"));
    let [Command::UpdateStatus { status, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(status["used"]["requests.cpu"], "2");
    assert_eq!(status["used"]["requests.storage"], "0");
    assert_eq!(status["hard"]["requests.cpu"], "3");
}
