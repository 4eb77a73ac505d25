//! Volume, VolumeClass, VolumePool, VolumeSnapshot, Bucket, BucketClass.

use ferrocore_api::Object;
use ferrocore_api::storage::validate_volume_resize;

use crate::support::{assert_error, assert_valid, errors, object, update_errors};

fn volume(spec: &str) -> String {
    format!(
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume\nmetadata: {{name: v}}\nspec:\n{spec}"
    )
}

const CLASSED: &str = "  volumeClassRef: {name: fast}\n  resources: {storage: 10Gi}\n";

#[test]
fn classed_volume_needs_positive_storage() {
    assert_valid(&errors(&volume(CLASSED)));
    let errs = errors(&volume("  volumeClassRef: {name: fast}\n"));
    assert_error(
        &errs,
        "spec.resources[storage]: Required value: must specify storage",
    );
    let errs = errors(&volume(
        "  volumeClassRef: {name: fast}\n  resources: {storage: 0}\n",
    ));
    assert_error(
        &errs,
        "spec.resources[storage]: Invalid value: 0: must be greater than zero",
    );
}

#[test]
fn classless_volume_forbids_scheduling_fields() {
    let errs = errors(&volume(
        "  volumePoolSelector: {a: b}\n  volumePoolRef: {name: p}\n  resources: {storage: 1Gi}\n  tolerations: []\n  dataSource: {osImage: {image: x}}\n",
    ));
    for field in [
        "volumePoolSelector",
        "volumePoolRef",
        "resources",
        "tolerations",
        "dataSource.osImage",
    ] {
        assert_error(
            &errs,
            &format!("spec.{field}: Forbidden: must not specify if volume class is empty"),
        );
    }
}

#[test]
fn unclaimable_excludes_claim_ref() {
    let errs = errors(&volume(&format!(
        "{CLASSED}  unclaimable: true\n  claimRef: {{name: m, uid: u}}\n"
    )));
    assert_error(
        &errs,
        "spec.claimRef: Forbidden: cannot specify unclaimable and claimRef",
    );
}

#[test]
fn data_source_is_one_of() {
    let errs = errors(&volume(&format!(
        "{CLASSED}  dataSource:\n    volumeSnapshotRef: {{name: s}}\n    osImage: {{image: x}}\n"
    )));
    assert_error(
        &errs,
        "spec.dataSource.osImage: Forbidden: must only specify one volume data source",
    );
}

#[test]
fn volume_class_ref_and_encryption_are_immutable() {
    let old = volume(CLASSED);
    let new = volume("  volumeClassRef: {name: slow}\n  resources: {storage: 10Gi}\n");
    assert_error(
        &update_errors(&old, &new),
        "spec.volumeClassRef: Forbidden: field is immutable",
    );
    let enc = volume(&format!(
        "{CLASSED}  encryption: {{secretRef: {{name: key}}}}\n"
    ));
    assert_error(
        &update_errors(&old, &enc),
        "spec.encryption: Forbidden: field is immutable",
    );
}

#[test]
fn volume_pool_ref_is_set_once() {
    let old = volume(&format!("{CLASSED}  volumePoolRef: {{name: pool-a}}\n"));
    let new = volume(&format!("{CLASSED}  volumePoolRef: {{name: pool-b}}\n"));
    assert_error(
        &update_errors(&old, &new),
        "spec.volumePoolRef: Invalid value: \"pool-b\": field is immutable once set",
    );
}

fn class(policy: &str) -> ferrocore_api::storage::VolumeClass {
    let yaml = format!(
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeClass\nmetadata: {{name: fast}}\ncapabilities: {{tps: 100Mi, iops: 100}}\n{policy}"
    );
    match object(&yaml) {
        Object::VolumeClass(c) => c,
        other => panic!("{other:?}"),
    }
}

fn vol(size: &str) -> ferrocore_api::storage::Volume {
    match object(&volume(&format!(
        "  volumeClassRef: {{name: fast}}\n  resources: {{storage: {size}}}\n"
    ))) {
        Object::Volume(v) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn resize_policy_static_and_expand_only() {
    let static_class = class("");
    let errs = validate_volume_resize(&vol("20Gi"), &vol("10Gi"), &static_class);
    assert_eq!(
        errs.to_string(),
        "spec.resources[storage]: Invalid value: 20Gi: volume class resize policy Static does not allow resizing"
    );
    let expand = class("resizePolicy: ExpandOnly\n");
    assert!(validate_volume_resize(&vol("20Gi"), &vol("10Gi"), &expand).is_empty());
    let errs = validate_volume_resize(&vol("5Gi"), &vol("10Gi"), &expand);
    assert_eq!(
        errs.to_string(),
        "spec.resources[storage]: Invalid value: 5Gi: volume class resize policy ExpandOnly does not allow shrinking"
    );
}

#[test]
fn volume_class_needs_positive_tps_iops_and_a_known_policy() {
    let errs = errors(
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeClass\nmetadata: {name: c}\ncapabilities: {tps: 0}\nresizePolicy: Grow\n",
    );
    assert_error(
        &errs,
        "capabilities[tps]: Invalid value: 0: must be greater than zero",
    );
    assert_error(
        &errs,
        "capabilities[iops]: Invalid value: 0: must be greater than zero",
    );
    assert_error(
        &errs,
        "resizePolicy: Unsupported value: \"Grow\": supported values: \"ExpandOnly\", \"Static\"",
    );
}

#[test]
fn bucket_class_capabilities_positive_and_immutable() {
    let yaml = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: BucketClass\nmetadata: {name: c}\ncapabilities: {tps: 1, iops: 1}\n";
    assert_valid(&errors(yaml));
    assert_error(
        &errors(&yaml.replace("iops: 1", "iops: -1")),
        "capabilities[iops]: Invalid value: -1: must be greater than zero",
    );
    assert_error(
        &update_errors(yaml, &yaml.replace("tps: 1", "tps: 2")),
        "capabilities: Forbidden: field is immutable",
    );
}

#[test]
fn volume_pool_provider_id_is_immutable_once_set() {
    let pool = |id: &str| {
        format!(
            "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumePool\nmetadata: {{name: p}}\nspec: {{providerID: \"{id}\"}}\n"
        )
    };
    assert_error(
        &update_errors(&pool("ceph://a"), &pool("ceph://b")),
        "spec.providerID: Forbidden: field is immutable",
    );
}

#[test]
fn snapshot_volume_ref_is_required_and_immutable() {
    let snap = |v: &str| {
        format!(
            "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeSnapshot\nmetadata: {{name: s}}\nspec: {{volumeRef: {{name: {v}}}}}\n"
        )
    };
    assert_valid(&errors(&snap("data")));
    assert_error(
        &update_errors(&snap("data"), &snap("other")),
        "spec.volumeRef: Forbidden: field is immutable",
    );
    let none = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeSnapshot\nmetadata: {name: s}\nspec: {}\n";
    assert_error(
        &errors(none),
        "spec.volumeRef: Required value: must specify the volume to snapshot",
    );
}

fn bucket(spec: &str) -> String {
    format!(
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Bucket\nmetadata: {{name: b}}\nspec:\n{spec}"
    )
}

#[test]
fn classless_bucket_forbids_scheduling_fields() {
    let errs = errors(&bucket(
        "  bucketPoolSelector: {a: b}\n  bucketPoolRef: {name: p}\n  tolerations: []\n",
    ));
    for field in ["bucketPoolSelector", "bucketPoolRef", "tolerations"] {
        assert_error(
            &errs,
            &format!("spec.{field}: Forbidden: must not specify if bucket class is empty"),
        );
    }
}

#[test]
fn bucket_class_ref_immutable_and_pool_ref_set_once() {
    let old = bucket("  bucketClassRef: {name: std}\n  bucketPoolRef: {name: a}\n");
    let class = bucket("  bucketClassRef: {name: gold}\n  bucketPoolRef: {name: a}\n");
    let pool = bucket("  bucketClassRef: {name: std}\n  bucketPoolRef: {name: b}\n");
    assert_error(
        &update_errors(&old, &class),
        "spec.bucketClassRef: Forbidden: field is immutable",
    );
    assert_error(
        &update_errors(&old, &pool),
        "spec.bucketPoolRef: Invalid value: \"b\": field is immutable once set",
    );
}
