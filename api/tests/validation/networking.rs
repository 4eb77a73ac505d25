//! Network, NetworkInterface, VirtualIP, LoadBalancer, NATGateway, NetworkPolicy.

use crate::support::{assert_error, assert_valid, errors, update_errors};

fn nic(spec: &str) -> String {
    format!(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface\nmetadata: {{name: nic}}\nspec:\n  networkRef: {{name: net}}\n{spec}"
    )
}

#[test]
fn nic_ip_families_must_match_ips() {
    assert_valid(&errors(&nic(
        "  ipFamilies: [IPv4]\n  ips: [{value: 10.0.0.1}]\n",
    )));
    let errs = errors(&nic(
        "  ipFamilies: [IPv4, IPv6]\n  ips: [{value: 10.0.0.1}]\n",
    ));
    assert_error(
        &errs,
        "spec.ips: Invalid value: [\"IPv4\", \"IPv6\"]: ip families must match ips",
    );
    let errs = errors(&nic("  ipFamilies: [IPv6]\n  ips: [{value: 10.0.0.1}]\n"));
    assert_error(
        &errs,
        "spec.ips[0].value: Invalid value: \"10.0.0.1\": expected ip family IPv6 but got IPv4",
    );
}

#[test]
fn nic_ip_families_are_required_and_unique() {
    let errs = errors(&nic(""));
    assert_error(
        &errs,
        "spec.ipFamilies: Required value: must specify ip families",
    );
    let errs = errors(&nic(
        "  ipFamilies: [IPv4, IPv4]\n  ips: [{value: 10.0.0.1}, {value: 10.0.0.2}]\n",
    ));
    assert_error(&errs, "spec.ipFamilies[1]: Duplicate value: \"IPv4\"");
}

#[test]
fn nic_ephemeral_ip_must_be_a_single_ip() {
    let errs = errors(&nic(
        "  ipFamilies: [IPv4]\n  ips:\n  - ephemeral:\n      prefixTemplate:\n        spec: {ipFamily: IPv4, prefixLength: 24, parentRef: {name: pool}}\n",
    ));
    assert_error(
        &errs,
        "spec.ips[0].ephemeral.prefixTemplate.spec.prefixLength: Forbidden: must be a single IP",
    );
}

#[test]
fn nic_generated_prefix_names_must_be_valid() {
    let long = "n".repeat(252);
    let yaml = nic("  ipFamilies: [IPv4]\n  ips:\n  - ephemeral:\n      prefixTemplate:\n        spec: {parentRef: {name: pool}}\n")
        .replace("name: nic}", &format!("name: {long}}}"));
    let errs = errors(&yaml);
    assert!(
        errs.iter().any(|e| e.starts_with(&format!(
            "spec.ips[0]: Invalid value: \"{long}-0\": resulting prefix name"
        ))),
        "{errs:?}"
    );
}

#[test]
fn nic_only_some_fields_may_change() {
    let old = nic("  ipFamilies: [IPv4]\n  ips: [{value: 10.0.0.1}]\n");
    let new_ip = nic("  ipFamilies: [IPv4]\n  ips: [{value: 10.0.0.2}]\n");
    assert_valid(&update_errors(&old, &new_ip));
    let new_net = old.replace("name: net}", "name: other}");
    assert_error(
        &update_errors(&old, &new_net),
        "spec: Forbidden: field is immutable: only providerID, ips, prefixes, machineRef and virtualIP may change",
    );
}

#[test]
fn nic_virtual_ip_source_is_one_of() {
    let errs = errors(&nic(
        "  ipFamilies: [IPv4]\n  ips: [{value: 10.0.0.1}]\n  virtualIP:\n    virtualIPRef: {name: vip}\n    ephemeral: {virtualIPTemplate: {spec: {type: Public, ipFamily: IPv4}}}\n",
    ));
    assert_error(
        &errs,
        "spec.virtualIP.ephemeral: Forbidden: cannot specify multiple sources",
    );
}

fn vip(spec: &str) -> String {
    format!(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: VirtualIP\nmetadata: {{name: vip}}\nspec:\n{spec}"
    )
}

#[test]
fn virtual_ip_type_must_be_public() {
    let errs = errors(&vip("  type: Private\n  ipFamily: IPv4\n"));
    assert_error(
        &errs,
        "spec.type: Unsupported value: \"Private\": supported values: \"Public\"",
    );
    assert_error(
        &errors(&vip("  ipFamily: IPv4\n")),
        "spec.type: Required value: must specify type",
    );
}

#[test]
fn virtual_ip_only_target_may_change() {
    let old = vip("  type: Public\n  ipFamily: IPv4\n");
    let target = vip("  type: Public\n  ipFamily: IPv4\n  targetRef: {name: nic, uid: u1}\n");
    assert_valid(&update_errors(&old, &target));
    let family = vip("  type: Public\n  ipFamily: IPv6\n");
    assert_error(
        &update_errors(&old, &family),
        "spec: Forbidden: field is immutable: only targetRef may change",
    );
}

fn lb(ports: &str) -> String {
    format!(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: LoadBalancer\nmetadata: {{name: lb}}\nspec:\n  type: Public\n  ipFamilies: [IPv4]\n  networkRef: {{name: net}}\n  ports:\n{ports}"
    )
}

#[test]
fn load_balancer_port_ranges_do_not_overlap_per_protocol() {
    assert_valid(&errors(&lb(
        "  - port: 80\n  - {protocol: UDP, port: 80}\n",
    )));
    let errs = errors(&lb("  - {port: 80, endPort: 90}\n  - {port: 85}\n"));
    assert_error(
        &errs,
        "spec.ports[1]: Forbidden: port range [85 85] overlaps with port range [80 90]",
    );
}

#[test]
fn load_balancer_ports_are_valid() {
    let errs = errors(&lb(
        "  - {port: 0}\n  - {port: 100, endPort: 90}\n  - {protocol: ICMP, port: 7}\n",
    ));
    assert_error(
        &errs,
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    );
    assert_error(
        &errs,
        "spec.ports[1].endPort: Forbidden: endPort 90 must be >= port 100",
    );
    assert_error(
        &errs,
        "spec.ports[2].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
    );
}

#[test]
fn load_balancer_name_is_a_dns_label_and_network_immutable() {
    let errs = errors(&lb("  - port: 80\n").replace("name: lb}", "name: lb.x}"));
    assert!(
        errs.iter()
            .any(|e| e
                .starts_with("metadata.name: Invalid value: \"lb.x\": a lowercase RFC 1123 label")),
        "{errs:?}"
    );
    let old = lb("  - port: 80\n");
    let new = old.replace("name: net}", "name: other}");
    assert_error(
        &update_errors(&old, &new),
        "spec.networkRef: Forbidden: field is immutable",
    );
}

fn nat(extra: &str) -> String {
    format!(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NATGateway\nmetadata: {{name: nat}}\nspec:\n  type: Public\n  ipFamily: IPv4\n  networkRef: {{name: net}}\n{extra}"
    )
}

#[test]
fn nat_ports_per_interface_is_a_power_of_two() {
    assert_valid(&errors(&nat("  portsPerNetworkInterface: 1024\n")));
    assert_error(
        &errors(&nat("  portsPerNetworkInterface: 1000\n")),
        "spec.portsPerNetworkInterface: Invalid value: 1000: 1000 is not a power of 2",
    );
}

#[test]
fn nat_network_is_immutable_and_name_a_label() {
    let old = nat("");
    assert_error(
        &update_errors(&old, &old.replace("name: net}", "name: x}")),
        "spec.networkRef: Forbidden: field is immutable",
    );
    let errs = errors(&old.replace("name: nat}", "name: Nat}"));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("metadata.name: Invalid value: \"Nat\"")),
        "{errs:?}"
    );
}

fn policy(spec: &str) -> String {
    format!(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkPolicy\nmetadata: {{name: p}}\nspec:\n  networkRef: {{name: net}}\n  networkInterfaceSelector: {{matchLabels: {{app: db}}}}\n{spec}"
    )
}

#[test]
fn policy_types_are_required() {
    assert_error(
        &errors(&policy("")),
        "spec.policyTypes: Required value: must specify policyTypes",
    );
    assert_valid(&errors(&policy("  policyTypes: [Ingress]\n")));
    assert_error(
        &errors(&policy("  policyTypes: [Sideways]\n")),
        "spec.policyTypes[0]: Unsupported value: \"Sideways\": supported values: \"Egress\", \"Ingress\"",
    );
}

#[test]
fn policy_peer_is_one_of() {
    let errs = errors(&policy(
        "  ingress:\n  - from:\n    - objectSelector: {kind: NetworkInterface}\n      ipBlock: {cidr: 10.0.0.0/8}\n",
    ));
    assert_error(
        &errs,
        "spec.ingress[0].from[0].ipBlock: Forbidden: cannot specify multiple peers",
    );
    let errs = errors(&policy(
        "  egress:\n  - to:\n    - objectSelector: {kind: Machine}\n",
    ));
    assert_error(
        &errs,
        "spec.egress[0].to[0].objectSelector.kind: Unsupported value: \"Machine\": supported values: \"LoadBalancer\", \"NetworkInterface\", \"VirtualIP\"",
    );
}

#[test]
fn policy_except_must_be_inside_cidr() {
    let errs = errors(&policy(
        "  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}\n",
    ));
    assert_error(
        &errs,
        "spec.ingress[0].from[0].ipBlock.except[0]: Forbidden: cidr 10.0.0.0/16 does not contain except 10.1.0.0/24",
    );
}

#[test]
fn policy_end_port_needs_port_and_order() {
    let errs = errors(&policy(
        "  ingress:\n  - ports:\n    - {endPort: 90}\n    - {port: 100, endPort: 90}\n",
    ));
    assert_error(
        &errs,
        "spec.ingress[0].ports[0].endPort: Forbidden: must not specify endPort without port",
    );
    assert_error(
        &errs,
        "spec.ingress[0].ports[1].endPort: Forbidden: endPort 90 must not be smaller than port 100",
    );
}

#[test]
fn policy_network_is_immutable() {
    let old = policy("  policyTypes: [Ingress]\n");
    let new = old.replace("name: net}", "name: other}");
    assert_error(
        &update_errors(&old, &new),
        "spec.networkRef: Forbidden: field is immutable",
    );
}

fn network(spec: &str) -> String {
    format!(
        "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network\nmetadata: {{name: a}}\nspec:\n{spec}"
    )
}

#[test]
fn network_cannot_peer_with_itself_or_twice() {
    let errs = errors(&network(
        "  peerings:\n  - {name: self, networkRef: {name: a}}\n",
    ));
    assert_error(
        &errs,
        "spec.peerings[0].networkRef: Forbidden: cannot peer a network with itself",
    );
    let errs = errors(&network(
        "  peerings:\n  - {name: x, networkRef: {name: b}}\n  - {name: y, networkRef: {name: b, namespace: default}}\n",
    ));
    assert_error(
        &errs,
        "spec.peerings[1].networkRef: Duplicate value: \"default/b\"",
    );
    let errs = errors(&network(
        "  peerings:\n  - {name: x, networkRef: {name: b}}\n  - {name: x, networkRef: {name: c}}\n",
    ));
    assert_error(&errs, "spec.peerings[1].name: Duplicate value: \"x\"");
}

#[test]
fn network_provider_id_immutable_once_set() {
    let old = network("  providerID: ironcore-net://default/a/300/u\n");
    let new = network("  providerID: ironcore-net://default/a/301/u\n");
    assert_error(
        &update_errors(&old, &new),
        "spec.providerID: Forbidden: field is immutable",
    );
}
