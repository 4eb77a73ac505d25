//! NATGateway: outbound NAT for the interfaces of a network that have no public IP.
//!
//! Besides the current fields this accepts the earlier shape of the kind (`ipFamilies`, `ips`,
//! `networkInterfaceSelector`), which IronCore's own sample still uses; `ipFamilies` with one
//! entry defaults `ipFamily`. See docs/api.md.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_label, validate_ref_name};
use crate::meta::{validate_object_meta, validate_object_meta_update};
use crate::net::{IpAddress, IpFamily};
use crate::refs::LocalObjectReference;
use crate::selector::LabelSelector;

/// Ports per interface when not given.
pub const DEFAULT_PORTS_PER_NETWORK_INTERFACE: i32 = 2048;

string_enum! {
    /// The kind of NAT gateway.
    NatGatewayType { Public => "Public" }
}

/// A named IP request of the earlier NATGateway shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NatGatewayIpRequest {
    /// The request's name.
    pub name: String,
}

/// What a NATGateway should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NatGatewaySpec {
    /// Public.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<NatGatewayType>,
    /// The IP family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// The network (immutable).
    #[serde(default)]
    pub network_ref: LocalObjectReference,
    /// Ports per interface (a power of two; default 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports_per_network_interface: Option<i32>,
    /// Earlier shape: the IP families (at most one, matching `ipFamily`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    /// Earlier shape: named IP requests (informational; the autoscaler sizes the IPs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<NatGatewayIpRequest>,
    /// Earlier shape: the interfaces to serve (informational; every interface of the network
    /// without a public IP of the family is served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_selector: Option<LabelSelector>,
}

/// What a NATGateway is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NatGatewayStatus {
    /// The public IPs in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddress>,
}

spec_status_kind!(
    /// Outbound NAT for a network.
    NATGateway,
    NatGatewaySpec,
    NatGatewayStatus
);

impl Resource for NATGateway {
    const KIND: Kind = Kind::NATGateway;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        let spec = &mut self.spec;
        spec.ports_per_network_interface
            .get_or_insert(DEFAULT_PORTS_PER_NETWORK_INTERFACE);
        if spec.ip_family.is_none() && spec.ip_families.len() == 1 {
            spec.ip_family = spec.ip_families.first().cloned();
        }
    }

    fn validate(&self) -> ErrorList {
        let (spec, path) = (&self.spec, FieldPath::new("spec"));
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_label);
        errs.extend(validate_enum(
            spec.type_.as_ref(),
            path.child("type"),
            "must specify type",
        ));
        let family = path.child("ipFamily");
        errs.extend(validate_enum(
            spec.ip_family.as_ref(),
            family,
            "must specify ipFamily",
        ));
        if spec.ip_families.len() > 1
            || spec
                .ip_families
                .iter()
                .any(|f| Some(f) != spec.ip_family.as_ref())
        {
            errs.push(FieldError::invalid(
                path.child("ipFamilies"),
                BadValue::Raw(format!(
                    "{:?}",
                    spec.ip_families
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                )),
                "a NAT gateway has one ip family: must match ipFamily",
            ));
        }
        errs.extend(validate_ref_name(
            &spec.network_ref.name,
            path.child("networkRef").child("name"),
        ));
        if let Some(ports) = spec.ports_per_network_interface
            && (ports <= 0 || ports & (ports - 1) != 0)
        {
            let p = path.child("portsPerNetworkInterface");
            errs.push(FieldError::invalid(
                p,
                ports,
                format!("{ports} is not a power of 2"),
            ));
        }
        if let Some(sel) = &spec.network_interface_selector {
            errs.extend(sel.validate(&path.child("networkInterfaceSelector")));
        }
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
