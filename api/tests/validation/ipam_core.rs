//! Prefix, PrefixAllocation, ResourceQuota, Secret, metadata rules and strict decoding.

use ferrocore_api::decode::{DecodeError, decode_object};

use crate::support::{assert_error, assert_valid, errors, update_errors};

fn prefix(spec: &str) -> String {
    format!(
        "apiVersion: ipam.ironcore.dev/v1alpha1\nkind: Prefix\nmetadata: {{name: p}}\nspec:\n{spec}"
    )
}

#[test]
fn root_prefix_needs_a_prefix_and_no_length() {
    assert_valid(&errors(&prefix("  prefix: 10.0.0.0/8\n")));
    let errs = errors(&prefix("  ipFamily: IPv4\n  prefixLength: 8\n"));
    assert_error(
        &errs,
        "spec.prefixLength: Invalid value: 8: cannot specify prefixLength for a root prefix",
    );
    assert_error(
        &errs,
        "spec.prefix: Required value: must specify for root prefix",
    );
}

#[test]
fn child_prefix_needs_prefix_or_length_that_agree() {
    let errs = errors(&prefix("  ipFamily: IPv4\n  parentRef: {name: root}\n"));
    assert_error(
        &errs,
        "spec: Invalid value: {}: must specify either prefix or prefixLength",
    );
    let errs = errors(&prefix(
        "  ipFamily: IPv4\n  prefix: 10.1.0.0/16\n  prefixLength: 24\n  parentRef: {name: root}\n",
    ));
    assert_error(
        &errs,
        "spec.prefixLength: Invalid value: 24: does not match prefix 10.1.0.0/16",
    );
    let errs = errors(&prefix(
        "  ipFamily: IPv4\n  prefixLength: 40\n  parentRef: {name: root}\n",
    ));
    assert_error(
        &errs,
        "spec.prefixLength: Invalid value: 40: too large prefix length for IPv4 (max 32)",
    );
}

#[test]
fn prefix_family_must_match() {
    let errs = errors(&prefix("  ipFamily: IPv6\n  prefix: 10.0.0.0/8\n"));
    assert_error(
        &errs,
        "spec.prefix: Invalid value: \"10.0.0.0/8\": expected ip family IPv6 but got IPv4",
    );
}

#[test]
fn prefix_used_must_not_overlap_or_leave_the_prefix() {
    let yaml = prefix(
        "  prefix: 10.0.0.0/16\nstatus:\n  phase: Allocated\n  used: [10.0.1.0/24, 10.0.1.0/25, 10.9.0.0/24]\n",
    );
    let errs = errors(&yaml);
    assert_error(
        &errs,
        "status.used[1]: Invalid value: \"10.0.1.0/25\": overlapping used addresses",
    );
    assert_error(
        &errs,
        "status.used[2]: Forbidden: not contained in prefix 10.0.0.0/16",
    );
}

#[test]
fn prefix_spec_immutable_and_phase_cannot_go_back() {
    let old = prefix("  prefix: 10.0.0.0/16\n");
    let new = prefix("  prefix: 10.1.0.0/16\n");
    assert_error(
        &update_errors(&old, &new),
        "spec: Forbidden: field is immutable",
    );
    let allocated = prefix("  prefix: 10.0.0.0/16\nstatus: {phase: Allocated}\n");
    let pending = prefix("  prefix: 10.0.0.0/16\nstatus: {phase: Pending}\n");
    assert_error(
        &update_errors(&allocated, &pending),
        "status.phase: Forbidden: may not update from allocated to non-allocated phase",
    );
}

#[test]
fn prefix_allocation_needs_one_request_and_a_source() {
    let alloc = |spec: &str| {
        format!(
            "apiVersion: ipam.ironcore.dev/v1alpha1\nkind: PrefixAllocation\nmetadata: {{name: a}}\nspec:\n  ipFamily: IPv4\n{spec}"
        )
    };
    assert_valid(&errors(&alloc(
        "  prefixLength: 24\n  prefixRef: {name: root}\n",
    )));
    let errs = errors(&alloc("  prefix: 10.0.0.0/24\n  prefixLength: 24\n"));
    assert_error(
        &errs,
        "spec.prefixLength: Forbidden: must not specify more than 1 request",
    );
    assert_error(&errs, "spec: Invalid value: {}: must specify a source");
}

fn quota(hard: &str) -> String {
    format!(
        "apiVersion: core.ironcore.dev/v1alpha1\nkind: ResourceQuota\nmetadata: {{name: q}}\nspec:\n  hard: {{{hard}}}\n"
    )
}

#[test]
fn quota_names_and_values() {
    assert_valid(&errors(&quota(
        "requests.cpu: 10, count/machines.compute.ironcore.dev: 5",
    )));
    let errs = errors(&quota("requests.gpu: 1, requests.memory: -1Gi"));
    assert_error(
        &errs,
        "spec.hard[requests.gpu]: Invalid value: \"requests.gpu\": must be a valid resource name",
    );
    assert_error(
        &errs,
        "spec.hard[requests.memory]: Invalid value: \"-1Gi\": must be greater than or equal to 0",
    );
}

#[test]
fn secret_keys_and_base64() {
    let ok = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {key: aGVsbG8=}\nstringData: {other: plain}\n";
    assert_valid(&errors(ok));
    let bad_key = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {\"a b\": x}\n";
    assert!(
        errors(bad_key)[0].starts_with("data[a b]: Invalid value: \"a b\": a valid config key")
    );
    let bad_b64 = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {key: \"!!!\"}\n";
    let err = decode_object(bad_b64).unwrap_err().to_string();
    assert!(
        err.starts_with("data.key: Invalid type: illegal base64 data"),
        "{err}"
    );
}

#[test]
fn metadata_rules() {
    let errs = errors(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network\nmetadata:\n  labels: {\"bad key!\": x, ok: \"bad value!\"}\n  finalizers: [\"-x\"]\n  ownerReferences: [{apiVersion: v1, kind: X, name: o}]\n",
    );
    assert_error(
        &errs,
        "metadata.name: Required value: name or generateName is required",
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("metadata.labels: Invalid value: \"bad key!\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("metadata.labels: Invalid value: \"bad value!\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("metadata.finalizers[0]: Invalid value: \"-x\"")),
        "{errs:?}"
    );
    assert_error(
        &errs,
        "metadata.ownerReferences[0].uid: Invalid value: \"\": uid must not be empty",
    );
}

#[test]
fn metadata_name_and_namespace_are_immutable() {
    let a = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network\nmetadata: {name: a, namespace: x}\n";
    let b = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network\nmetadata: {name: a, namespace: y}\n";
    assert_error(
        &update_errors(a, b),
        "metadata.namespace: Invalid value: \"y\": field is immutable",
    );
}

#[test]
fn unknown_fields_are_reported_with_their_paths() {
    let yaml = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\nmetadata: {name: m, lables: {a: b}}\nspec:\n  machineClassRef: {name: c}\n  volumes: [{name: v, emptyDisk: {sizeLimt: 1Gi}}]\n  powr: On\n";
    match decode_object(yaml) {
        Err(DecodeError::Fields { errors, partial }) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            assert_eq!(
                lines,
                [
                    "metadata.lables: Unknown field",
                    "spec.powr: Unknown field",
                    "spec.volumes[0].emptyDisk.sizeLimt: Unknown field",
                ]
            );
            assert!(partial.is_some(), "the rest of the object is still checked");
        }
        other => panic!("expected unknown-field errors, got {other:?}"),
    }
}

#[test]
fn wrong_types_name_the_field() {
    let yaml = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\nmetadata: {name: m}\nspec:\n  machineClassRef: {name: [1, 2]}\n";
    let err = decode_object(yaml).unwrap_err().to_string();
    assert!(
        err.starts_with("spec.machineClassRef.name: Invalid type: invalid type: sequence"),
        "{err}"
    );
}
