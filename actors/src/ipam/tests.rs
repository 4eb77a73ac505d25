//! IPAM scenarios driven to a fixpoint in the mini cluster: hierarchy, selectors, explicit
//! requests, exhaustion and retry once space is freed.

use ferrocore_api::decode::decode_object;
use ferrocore_api::ipam::{Prefix, PrefixAllocation, PrefixAllocationPhase, PrefixPhase};
use ferrocore_api::{Kind, ObjectKey};

use crate::cores::MiniCluster;
use crate::health::HealthConfig;
use crate::reconcile::ViewExt;

fn prefix(name: &str, body: &str) -> ferrocore_api::Object {
    decode_object(&format!(
        "apiVersion: ipam.ironcore.dev/v1alpha1\nkind: Prefix
metadata: {{name: {name}, namespace: ns, labels: {{role: {name}}}}}\nspec: {body}"
    ))
    .unwrap()
}

fn got(c: &MiniCluster, name: &str) -> Option<String> {
    let p: &Prefix = c.objects().typed("ns", name)?;
    (p.status.phase == Some(PrefixPhase::Allocated))
        .then(|| p.spec.prefix.map(|p| p.to_string()))?
}

#[test]
fn a_hierarchy_allocates_first_fit_and_reports_used() {
    let mut c = MiniCluster::new(HealthConfig::default());
    let refused = c.apply([
        prefix("root", "{prefix: 10.0.0.0/16}"),
        prefix(
            "a",
            "{ipFamily: IPv4, prefixLength: 24, parentRef: {name: root}}",
        ),
        prefix(
            "b",
            "{ipFamily: IPv4, prefixLength: 23, parentSelector: {matchLabels: {role: root}}}",
        ),
        prefix(
            "fixed",
            "{ipFamily: IPv4, prefix: 10.0.8.0/24, parentRef: {name: root}}",
        ),
        prefix(
            "ip",
            "{ipFamily: IPv4, prefixLength: 32, parentRef: {name: a}}",
        ),
    ]);
    assert!(refused.is_empty(), "{refused:?}");
    c.run().unwrap();
    assert_eq!(got(&c, "root").as_deref(), Some("10.0.0.0/16"));
    assert_eq!(got(&c, "a").as_deref(), Some("10.0.0.0/24"));
    // /23 must be aligned: the first free one after 10.0.0.0/24 is 10.0.2.0/23.
    assert_eq!(got(&c, "b").as_deref(), Some("10.0.2.0/23"));
    assert_eq!(got(&c, "fixed").as_deref(), Some("10.0.8.0/24"));
    assert_eq!(got(&c, "ip").as_deref(), Some("10.0.0.0/32"));
    let root: &Prefix = c.objects().typed("ns", "root").unwrap();
    let used: Vec<String> = root.status.used.iter().map(ToString::to_string).collect();
    assert_eq!(used, ["10.0.0.0/24", "10.0.2.0/23", "10.0.8.0/24"]);
    // The selector was resolved to a parent and written back.
    let b: &Prefix = c.objects().typed("ns", "b").unwrap();
    assert_eq!(b.spec.parent_ref.as_ref().unwrap().name, "root");
}

#[test]
fn exhaustion_fails_then_retries_once_space_is_freed() {
    let mut c = MiniCluster::new(HealthConfig::default());
    c.apply([
        prefix("root", "{prefix: 10.0.0.0/30}"),
        prefix(
            "x",
            "{ipFamily: IPv4, prefixLength: 31, parentRef: {name: root}}",
        ),
        prefix(
            "y",
            "{ipFamily: IPv4, prefixLength: 31, parentRef: {name: root}}",
        ),
        prefix(
            "z",
            "{ipFamily: IPv4, prefixLength: 31, parentRef: {name: root}}",
        ),
    ]);
    c.run().unwrap_or_default();
    assert_eq!(got(&c, "x").as_deref(), Some("10.0.0.0/31"));
    assert_eq!(got(&c, "y").as_deref(), Some("10.0.0.2/31"));
    assert_eq!(got(&c, "z"), None);
    let seen_failed = c
        .objects()
        .all::<PrefixAllocation>(Some("ns"))
        .any(|a| a.metadata.name == "z" && a.status.phase == Some(PrefixAllocationPhase::Failed));
    let waiting = c.objects().typed::<PrefixAllocation>("ns", "z").is_some();
    assert!(seen_failed || waiting);
    // Deleting x frees its block; z's retry takes it.
    c.delete(&ObjectKey {
        kind: Kind::Prefix,
        namespace: "ns".into(),
        name: "x".into(),
    })
    .unwrap();
    c.advance(std::time::Duration::from_secs(5));
    c.run().unwrap();
    assert_eq!(got(&c, "z").as_deref(), Some("10.0.0.0/31"));
}
