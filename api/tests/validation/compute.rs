//! Machine, MachineClass, MachinePool.

use crate::support::{assert_error, assert_valid, errors, update_errors};

const MACHINE: &str = r#"
apiVersion: compute.ironcore.dev/v1alpha1
kind: Machine
metadata: {name: web-1}
spec:
  machineClassRef: {name: small}
  volumes:
  - name: root
    localDisk: {image: "gardenlinux:rootfs-image", sizeLimit: 10Gi}
  networkInterfaces:
  - name: primary
    networkInterfaceRef: {name: web-1-nic}
"#;

fn machine_with(spec_tail: &str) -> String {
    format!(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\nmetadata: {{name: m}}\nspec:\n  machineClassRef: {{name: small}}\n{spec_tail}"
    )
}

#[test]
fn base_machine_is_valid() {
    assert_valid(&errors(MACHINE));
}

#[test]
fn machine_class_ref_is_required() {
    let yaml =
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\nmetadata: {name: m}\nspec: {}";
    assert_error(&errors(yaml), "spec.machineClassRef.name: Required value");
}

#[test]
fn machine_name_must_be_dns_label() {
    let yaml = MACHINE.replace("name: web-1}", "name: web.1}");
    let errs = errors(&yaml);
    assert!(
        errs.iter().any(|e| e
            .starts_with("metadata.name: Invalid value: \"web.1\": a lowercase RFC 1123 label")),
        "{errs:?}"
    );
}

#[test]
fn machine_power_must_be_on_or_off() {
    let errs = errors(&machine_with("  power: Standby\n"));
    assert_error(
        &errs,
        "spec.power: Unsupported value: \"Standby\": supported values: \"Off\", \"On\"",
    );
}

#[test]
fn machine_volume_needs_exactly_one_source() {
    let errs = errors(&machine_with("  volumes:\n  - name: a\n"));
    assert_error(
        &errs,
        "spec.volumes[0]: Invalid value: {}: must specify at least one volume source",
    );
    let errs = errors(&machine_with(
        "  volumes:\n  - name: a\n    volumeRef: {name: v}\n    emptyDisk: {}\n",
    ));
    assert_error(
        &errs,
        "spec.volumes[0].emptyDisk: Forbidden: must only specify one volume source",
    );
}

#[test]
fn machine_volume_names_and_devices_are_unique() {
    let errs = errors(&machine_with(
        "  volumes:\n  - name: a\n    device: oda\n    emptyDisk: {}\n  - name: a\n    device: oda\n    emptyDisk: {}\n",
    ));
    assert_error(&errs, "spec.volumes[1].name: Duplicate value: \"a\"");
    assert_error(&errs, "spec.volumes[1].device: Duplicate value: \"oda\"");
}

#[test]
fn machine_volume_device_names_follow_the_pattern() {
    let errs = errors(&machine_with(
        "  volumes:\n  - name: a\n    device: sda1\n    emptyDisk: {}\n",
    ));
    assert_error(
        &errs,
        "spec.volumes[0].device: Invalid value: \"sda1\": invalid device name: sda1 does not match device name regex ^([a-z]{2})([a-z][a-z]?)$",
    );
}

#[test]
fn machine_nic_names_are_unique_and_need_one_source() {
    let errs = errors(&machine_with(
        "  networkInterfaces:\n  - name: n\n    networkInterfaceRef: {name: x}\n  - name: n\n",
    ));
    assert_error(
        &errs,
        "spec.networkInterfaces[1].name: Duplicate value: \"n\"",
    );
    assert_error(
        &errs,
        "spec.networkInterfaces[1]: Invalid value: {}: must specify at least one networkInterface source",
    );
}

#[test]
fn machine_ephemeral_volume_may_not_claim() {
    let errs = errors(&machine_with(
        "  volumes:\n  - name: a\n    ephemeral:\n      volumeTemplate:\n        spec:\n          volumeClassRef: {name: fast}\n          resources: {storage: 1Gi}\n          claimRef: {name: x, uid: u}\n          unclaimable: true\n",
    ));
    assert_error(
        &errs,
        "spec.volumes[0].ephemeral.volumeTemplate.spec.claimRef: Forbidden: may not specify claimRef",
    );
    assert_error(
        &errs,
        "spec.volumes[0].ephemeral.volumeTemplate.spec.unclaimable: Forbidden: may not specify unclaimable",
    );
}

#[test]
fn machine_hostname_is_a_dns_label() {
    let errs = errors(&machine_with("  guestConfig: {hostname: Web_1}\n"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.guestConfig.hostname: Invalid value: \"Web_1\"")),
        "{errs:?}"
    );
}

#[test]
fn machine_class_ref_is_immutable() {
    let new = MACHINE.replace("name: small", "name: large");
    assert_error(
        &update_errors(MACHINE, &new),
        "spec.machineClassRef: Forbidden: field is immutable",
    );
}

#[test]
fn machine_pool_ref_is_set_once() {
    let old = machine_with("  machinePoolRef: {name: pool-a}\n");
    let new = machine_with("  machinePoolRef: {name: pool-b}\n");
    assert_error(
        &update_errors(&old, &new),
        "spec.machinePoolRef: Invalid value: \"pool-b\": field is immutable once set",
    );
    // Setting it the first time is fine.
    assert_valid(&update_errors(&machine_with(""), &new));
}

#[test]
fn machine_local_disk_image_is_immutable() {
    let old = machine_with("  volumes:\n  - name: root\n    localDisk: {image: a}\n");
    let changed = machine_with("  volumes:\n  - name: root\n    localDisk: {image: b}\n");
    let cleared = machine_with("  volumes:\n  - name: root\n    localDisk: {}\n");
    let p = "spec.volumes[root].localDisk.image";
    assert_error(
        &update_errors(&old, &changed),
        &format!("{p}: Forbidden: field is immutable"),
    );
    assert_error(
        &update_errors(&old, &cleared),
        &format!("{p}: Invalid value: null: volume with an image set must not be cleared"),
    );
    assert_error(
        &update_errors(&old, &machine_with("")),
        &format!("{p}: Invalid value: null: volume with an image set must not be removed"),
    );
}

#[test]
fn machine_hostname_only_at_create() {
    let none = machine_with("");
    let set = machine_with("  guestConfig: {hostname: web}\n");
    let other = machine_with("  guestConfig: {hostname: api}\n");
    let p = "spec.guestConfig.hostname";
    assert_error(
        &update_errors(&none, &set),
        &format!("{p}: Invalid value: \"web\": hostname must not be set if it was not set before"),
    );
    assert_error(
        &update_errors(&set, &none),
        &format!("{p}: Invalid value: null: hostname must not be cleared"),
    );
    assert_error(
        &update_errors(&set, &other),
        &format!("{p}: Forbidden: field is immutable"),
    );
}

#[test]
fn machine_volume_name_reused_during_detach_is_rejected() {
    let old = machine_with(
        "  volumes:\n  - name: data\n    emptyDisk: {}\nstatus:\n  volumes:\n  - name: data\n    state: Attached\n",
    );
    let detached = machine_with("status:\n  volumes:\n  - name: data\n    state: Attached\n");
    let readded = machine_with(
        "  volumes:\n  - name: data\n    emptyDisk: {}\nstatus:\n  volumes:\n  - name: data\n    state: Attached\n",
    );
    assert_valid(&update_errors(&old, &detached));
    assert_error(
        &update_errors(&detached, &readded),
        "spec.volumes[0].name: Duplicate value: \"data\"",
    );
}

const CLASS: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass\nmetadata: {name: small}\ncapabilities: {cpu: 2, memory: 4Gi}\n";

#[test]
fn machine_class_needs_positive_cpu_and_memory() {
    assert_valid(&errors(CLASS));
    let errs = errors(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass\nmetadata: {name: c}\ncapabilities: {cpu: 0}\n",
    );
    assert_error(
        &errs,
        "capabilities[cpu]: Invalid value: 0: must be greater than zero",
    );
    assert_error(
        &errs,
        "capabilities[memory]: Invalid value: 0: must be greater than zero",
    );
}

#[test]
fn machine_class_capabilities_are_immutable() {
    let new = CLASS.replace("cpu: 2", "cpu: 4");
    assert_error(
        &update_errors(CLASS, &new),
        "capabilities: Forbidden: field is immutable",
    );
}

#[test]
fn cluster_scoped_kinds_have_no_namespace() {
    let errs = errors(&CLASS.replace("name: small}", "name: small, namespace: team}"));
    assert_error(
        &errs,
        "metadata.namespace: Forbidden: not allowed on this type",
    );
}

#[test]
fn machine_pool_provider_id_is_immutable_once_set() {
    let pool = |id: &str| {
        format!(
            "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool\nmetadata: {{name: p}}\nspec: {{providerID: \"{id}\"}}\n"
        )
    };
    assert_valid(&update_errors(&pool(""), &pool("libvirt://a")));
    assert_error(
        &update_errors(&pool("libvirt://a"), &pool("libvirt://b")),
        "spec.providerID: Forbidden: field is immutable",
    );
}

#[test]
fn pool_taints_need_a_known_effect() {
    let yaml = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool\nmetadata: {name: p}\nspec:\n  taints: [{key: gpu, effect: Sometimes}]\n";
    assert_error(
        &errors(yaml),
        "spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoExecute\", \"NoSchedule\"",
    );
}
