//! LoadBalancer and LoadBalancerRouting: a public or internal IP spreading traffic over the
//! interfaces it selects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::network_interface::{
    IpSource, default_ip_families, validate_ip_families, validate_ip_sources,
};
use super::network_policy::validate_port_number;
use crate::common::{Resource, default_type_meta, immutable, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_label, dns1123_subdomain, validate_ref_name};
use crate::meta::{ObjectMeta, Uid, validate_object_meta, validate_object_meta_update};
use crate::net::{IpAddress, IpFamily, Protocol};
use crate::refs::{LocalObjectReference, LocalUidReference};
use crate::selector::LabelSelector;

string_enum! {
    /// Public or internal.
    LoadBalancerType { Public => "Public", Internal => "Internal" }
}

/// A port or range (`port`..=`endPort`) of a protocol (TCP by default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerPort {
    /// The protocol (TCP when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The first port.
    #[serde(default)]
    pub port: i32,
    /// The last port of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

impl LoadBalancerPort {
    /// The inclusive port range.
    pub fn range(&self) -> (i32, i32) {
        (self.port, self.end_port.unwrap_or(self.port))
    }

    /// The protocol, TCP when absent.
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol.clone().unwrap_or(Protocol::Tcp)
    }
}

/// What a LoadBalancer should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    /// Public or Internal.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<LoadBalancerType>,
    /// The IP families.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    /// The IPs (Internal only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpSource>,
    /// The network (immutable).
    #[serde(default)]
    pub network_ref: LocalObjectReference,
    /// The target interfaces; absent means routing is managed externally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_selector: Option<LabelSelector>,
    /// The ports; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<LoadBalancerPort>,
}

/// What a LoadBalancer is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerStatus {
    /// The allocated IPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddress>,
}

spec_status_kind!(
    /// A load balancer.
    LoadBalancer,
    LoadBalancerSpec,
    LoadBalancerStatus
);

/// Name of the Prefix allocated for IP `i` of load balancer `lb`: `<lb>-<i>`.
pub fn lb_ip_prefix_name(lb: &str, i: usize) -> String {
    format!("{lb}-{i}")
}

fn validate_ports(ports: &[LoadBalancerPort], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut by_protocol: BTreeMap<String, Vec<(i32, i32)>> = BTreeMap::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        if let Some(proto) = &port.protocol {
            errs.extend(validate_enum(
                Some(proto),
                p.child("protocol"),
                "must specify protocol",
            ));
        }
        errs.extend(validate_port_number(port.port, p.child("port")));
        if let Some(end) = port.end_port {
            errs.extend(validate_port_number(end, p.child("endPort")));
            if end < port.port {
                let detail = format!("endPort {end} must be >= port {}", port.port);
                errs.push(FieldError::forbidden(p.child("endPort"), detail));
            }
        }
        let range = port.range();
        let seen = by_protocol
            .entry(port.effective_protocol().to_string())
            .or_default();
        for other in seen.iter() {
            if range.0 <= other.1 && other.0 <= range.1 {
                let detail = format!(
                    "port range [{} {}] overlaps with port range [{} {}]",
                    range.0, range.1, other.0, other.1
                );
                errs.push(FieldError::forbidden(p.clone(), detail));
            }
        }
        seen.push(range);
    }
    errs
}

impl Resource for LoadBalancer {
    const KIND: Kind = Kind::LoadBalancer;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        default_ip_families(&mut self.spec.ip_families, &mut self.spec.ips);
    }

    fn validate(&self) -> ErrorList {
        let (spec, path) = (&self.spec, FieldPath::new("spec"));
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_label);
        errs.extend(validate_enum(
            spec.type_.as_ref(),
            path.child("type"),
            "must specify type",
        ));
        errs.extend(validate_ip_families(
            &spec.ip_families,
            &path.child("ipFamilies"),
        ));
        let owner = Some(self.metadata.name.as_str());
        errs.extend(validate_ip_sources(
            &spec.ips,
            &spec.ip_families,
            owner,
            &path.child("ips"),
            lb_ip_prefix_name,
        ));
        errs.extend(validate_ref_name(
            &spec.network_ref.name,
            path.child("networkRef").child("name"),
        ));
        if let Some(sel) = &spec.network_interface_selector {
            errs.extend(sel.validate(&path.child("networkInterfaceSelector")));
        }
        errs.extend(validate_ports(&spec.ports, &path.child("ports")));
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

/// The interface a destination belongs to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerTargetRef {
    /// Its uid.
    #[serde(default)]
    pub uid: Uid,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its provider id.
    #[serde(rename = "providerID", default)]
    pub provider_id: String,
}

/// One target IP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerDestination {
    /// The target IP.
    pub ip: IpAddress,
    /// The interface owning it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<LoadBalancerTargetRef>,
}

/// Where a load balancer sends traffic (generated; owned by the LoadBalancer).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerRouting {
    /// `networking.ironcore.dev/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `LoadBalancerRouting`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The network.
    #[serde(default)]
    pub network_ref: LocalUidReference,
    /// The targets.
    #[serde(default)]
    pub destinations: Vec<LoadBalancerDestination>,
}

impl Resource for LoadBalancerRouting {
    const KIND: Kind = Kind::LoadBalancerRouting;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        for (i, d) in self.destinations.iter().enumerate() {
            if let Some(t) = &d.target_ref {
                let p = FieldPath::new("destinations")
                    .index(i)
                    .child("targetRef")
                    .child("name");
                errs.extend(validate_ref_name(&t.name, p));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        errs.extend(self.validate());
        errs
    }
}
