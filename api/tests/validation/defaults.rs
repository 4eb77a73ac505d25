//! The defaults list: what the API server fills in before validation.

use ferrocore_api::Object;

use crate::support::object;

fn json(yaml: &str) -> serde_json::Value {
    object(yaml).to_value()
}

#[test]
fn machine_power_status_and_devices() {
    let v = json(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\nmetadata: {name: m}\nspec:\n  machineClassRef: {name: c}\n  volumes:\n  - {name: a, emptyDisk: {}}\n  - {name: b, device: oda, emptyDisk: {}}\n  - {name: c, emptyDisk: {}}\n",
    );
    assert_eq!(v["spec"]["power"], "On");
    assert_eq!(v["status"]["state"], "Pending");
    let devices: Vec<&str> = v["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["device"].as_str().unwrap())
        .collect();
    assert_eq!(devices, ["odb", "oda", "odc"]);
    assert_eq!(v["metadata"]["namespace"], "default");
}

#[test]
fn object_states_default_to_pending() {
    for (kind, api, field) in [
        ("Volume", "storage.ironcore.dev/v1alpha1", "state"),
        ("VolumeSnapshot", "storage.ironcore.dev/v1alpha1", "state"),
        ("Bucket", "storage.ironcore.dev/v1alpha1", "state"),
        (
            "NetworkInterface",
            "networking.ironcore.dev/v1alpha1",
            "state",
        ),
        ("Prefix", "ipam.ironcore.dev/v1alpha1", "phase"),
        ("PrefixAllocation", "ipam.ironcore.dev/v1alpha1", "phase"),
    ] {
        let v = json(&format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x}}\n"
        ));
        assert_eq!(v["status"][field], "Pending", "{kind}");
    }
}

#[test]
fn volume_class_resize_policy_static() {
    let v =
        json("apiVersion: storage.ironcore.dev/v1alpha1\nkind: VolumeClass\nmetadata: {name: c}\n");
    assert_eq!(v["resizePolicy"], "Static");
}

#[test]
fn nat_ports_2048_and_legacy_families() {
    let v = json(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NATGateway\nmetadata: {name: n}\nspec: {type: Public, ipFamilies: [IPv6], networkRef: {name: x}}\n",
    );
    assert_eq!(v["spec"]["portsPerNetworkInterface"], 2048);
    assert_eq!(v["spec"]["ipFamily"], "IPv6");
}

#[test]
fn nic_families_inferred_both_ways() {
    let v = json(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface\nmetadata: {name: n}\nspec:\n  networkRef: {name: x}\n  ips: [{value: \"2001:db8::1\"}]\n",
    );
    assert_eq!(v["spec"]["ipFamilies"], serde_json::json!(["IPv6"]));
    let v = json(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface\nmetadata: {name: n}\nspec:\n  networkRef: {name: x}\n  ipFamilies: [IPv4]\n  ips: [{ephemeral: {prefixTemplate: {spec: {parentRef: {name: p}}}}}]\n",
    );
    let tpl = &v["spec"]["ips"][0]["ephemeral"]["prefixTemplate"]["spec"];
    assert_eq!(tpl["ipFamily"], "IPv4");
    assert_eq!(tpl["prefixLength"], 32);
}

#[test]
fn load_balancer_families_inferred() {
    let v = json(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: LoadBalancer\nmetadata: {name: l}\nspec: {type: Internal, networkRef: {name: x}, ips: [{value: 10.0.0.9}]}\n",
    );
    assert_eq!(v["spec"]["ipFamilies"], serde_json::json!(["IPv4"]));
}

#[test]
fn network_policy_types_inferred_and_sorted() {
    let v = json(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  networkRef: {name: x}\n  egress: [{}]\n  ingress: [{}]\n",
    );
    assert_eq!(
        v["spec"]["policyTypes"],
        serde_json::json!(["Egress", "Ingress"])
    );
}

#[test]
fn prefix_family_inferred() {
    let v = json(
        "apiVersion: ipam.ironcore.dev/v1alpha1\nkind: Prefix\nmetadata: {name: p}\nspec: {prefix: \"2001:db8::/48\"}\n",
    );
    assert_eq!(v["spec"]["ipFamily"], "IPv6");
}

#[test]
fn secret_string_data_merges_into_data() {
    let obj = object(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {encryptionKey: abc}\n",
    );
    let Object::Secret(s) = obj else { panic!() };
    assert_eq!(s.data["encryptionKey"].0, b"abc");
    assert!(s.string_data.is_empty());
    assert_eq!(s.type_, "Opaque");
}
