//! NetworkPolicy: stateful firewall rules for the interfaces it selects.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_subdomain, validate_ref_name};
use crate::meta::{validate_object_meta, validate_object_meta_update};
use crate::net::{IpPrefix, Protocol};
use crate::refs::{Condition, LocalObjectReference};
use crate::selector::LabelSelector;

string_enum! {
    /// The direction a policy governs.
    PolicyType { Ingress => "Ingress", Egress => "Egress" }
}

string_enum! {
    /// The kinds an object selector may select.
    ObjectSelectorKind {
        NetworkInterface => "NetworkInterface",
        LoadBalancer => "LoadBalancer",
        VirtualIp => "VirtualIP",
    }
}

/// A port or port range (`port`..=`endPort`) of a protocol (TCP by default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    /// The protocol (TCP when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The first port; absent means every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// The last port of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// A CIDR with exceptions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IpBlock {
    /// The block.
    pub cidr: IpPrefix,
    /// Sub-blocks excluded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<IpPrefix>,
}

/// Objects of one kind selected by labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSelector {
    /// The kind of objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ObjectSelectorKind>,
    /// Labels they must have.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub match_labels: crate::selector::Labels,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<crate::selector::LabelSelectorRequirement>,
}

impl ObjectSelector {
    /// The label-selector part.
    pub fn label_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions: self.match_expressions.clone(),
        }
    }
}

/// A peer: objects or an IP block (exactly one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// Selected objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<ObjectSelector>,
    /// An IP block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// Allowed incoming traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPolicyIngressRule {
    /// Ports; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
    /// Sources; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<NetworkPolicyPeer>,
}

/// Allowed outgoing traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPolicyEgressRule {
    /// Ports; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NetworkPolicyPort>,
    /// Destinations; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NetworkPolicyPeer>,
}

/// What a NetworkPolicy should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// The network (immutable).
    #[serde(default)]
    pub network_ref: LocalObjectReference,
    /// The interfaces the policy applies to.
    #[serde(default)]
    pub network_interface_selector: LabelSelector,
    /// Ingress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// Egress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<NetworkPolicyEgressRule>,
    /// The directions governed; defaulted from the rule lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_types: Vec<PolicyType>,
}

/// What a NetworkPolicy is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkPolicyStatus {
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

spec_status_kind!(
    /// Firewall rules for interfaces.
    NetworkPolicy,
    NetworkPolicySpec,
    NetworkPolicyStatus
);

/// Validation of a port number (1..=65535).
pub(crate) fn validate_port_number(port: i32, path: FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if !(1..=65_535).contains(&port) {
        errs.push(FieldError::invalid(
            path,
            port,
            "must be between 1 and 65535, inclusive",
        ));
    }
    errs
}

fn validate_port(port: &NetworkPolicyPort, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(p) = port.port {
        errs.extend(validate_port_number(p, path.child("port")));
    }
    if let Some(end) = port.end_port {
        match port.port {
            None => errs.push(FieldError::forbidden(
                path.child("endPort"),
                "must not specify endPort without port",
            )),
            Some(p) if end < p => errs.push(FieldError::forbidden(
                path.child("endPort"),
                format!("endPort {end} must not be smaller than port {p}"),
            )),
            Some(_) => errs.extend(validate_port_number(end, path.child("endPort"))),
        }
    }
    if let Some(proto) = &port.protocol {
        errs.extend(validate_enum(
            Some(proto),
            path.child("protocol"),
            "must specify protocol",
        ));
    }
    errs
}

fn validate_peer(peer: &NetworkPolicyPeer, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match (&peer.object_selector, &peer.ip_block) {
        (Some(_), Some(_)) => errs.push(FieldError::forbidden(
            path.child("ipBlock"),
            "cannot specify multiple peers",
        )),
        (Some(sel), None) => {
            let p = path.child("objectSelector");
            errs.extend(validate_enum(
                sel.kind.as_ref(),
                p.child("kind"),
                "must specify kind",
            ));
            errs.extend(sel.label_selector().validate(&p));
        }
        (None, Some(block)) => {
            for (i, except) in block.except.iter().enumerate() {
                if !block.cidr.contains_prefix(*except) {
                    errs.push(FieldError::forbidden(
                        path.child("ipBlock").child("except").index(i),
                        format!("cidr {} does not contain except {except}", block.cidr),
                    ));
                }
            }
        }
        (None, None) => errs.push(FieldError::required(
            path.clone(),
            "must specify objectSelector or ipBlock",
        )),
    }
    errs
}

fn validate_rules(spec: &NetworkPolicySpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, rule) in spec.ingress.iter().enumerate() {
        let p = path.child("ingress").index(i);
        for (j, peer) in rule.from.iter().enumerate() {
            errs.extend(validate_peer(peer, &p.child("from").index(j)));
        }
        for (j, port) in rule.ports.iter().enumerate() {
            errs.extend(validate_port(port, &p.child("ports").index(j)));
        }
    }
    for (i, rule) in spec.egress.iter().enumerate() {
        let p = path.child("egress").index(i);
        for (j, peer) in rule.to.iter().enumerate() {
            errs.extend(validate_peer(peer, &p.child("to").index(j)));
        }
        for (j, port) in rule.ports.iter().enumerate() {
            errs.extend(validate_port(port, &p.child("ports").index(j)));
        }
    }
    errs
}

fn validate_policy_types(types: &[PolicyType], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if types.is_empty() {
        errs.push(FieldError::required(
            path.clone(),
            "must specify policyTypes",
        ));
    }
    for (i, t) in types.iter().enumerate() {
        errs.extend(validate_enum(Some(t), path.index(i), "must specify type"));
        if types[..i].contains(t) {
            errs.push(FieldError::duplicate(path.index(i), t.to_string()));
        }
    }
    errs
}

impl Resource for NetworkPolicy {
    const KIND: Kind = Kind::NetworkPolicy;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        let spec = &mut self.spec;
        let mut types = std::mem::take(&mut spec.policy_types);
        if !spec.ingress.is_empty() && !types.contains(&PolicyType::Ingress) {
            types.push(PolicyType::Ingress);
        }
        if !spec.egress.is_empty() && !types.contains(&PolicyType::Egress) {
            types.push(PolicyType::Egress);
        }
        // Upstream stores the defaulted set sorted.
        types.sort_by(|a, b| crate::StringEnum::as_str(a).cmp(crate::StringEnum::as_str(b)));
        types.dedup();
        spec.policy_types = types;
    }

    fn validate(&self) -> ErrorList {
        let path = FieldPath::new("spec");
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        let spec = &self.spec;
        errs.extend(validate_ref_name(
            &spec.network_ref.name,
            path.child("networkRef").child("name"),
        ));
        errs.extend(
            spec.network_interface_selector
                .validate(&path.child("networkInterfaceSelector")),
        );
        errs.extend(validate_rules(spec, &path));
        errs.extend(validate_policy_types(
            &spec.policy_types,
            &path.child("policyTypes"),
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let path = FieldPath::new("spec").child("networkRef");
        errs.extend(immutable(
            &self.spec.network_ref,
            &old.spec.network_ref,
            path,
        ));
        errs.extend(self.validate());
        errs
    }
}
