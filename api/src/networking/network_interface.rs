//! NetworkInterface: a machine's interface into a network, with IPs, prefixes and a virtual IP;
//! and the template machines embed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::virtual_ip::{VirtualIpTemplateSpec, validate_virtual_ip_template};
use crate::common::{Resource, default_type_meta, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::ipam::{PrefixTemplateSpec, validate_prefix_template};
use crate::kind::Kind;
use crate::meta::names::{
    dns1123_subdomain, validate_ref_label_name, validate_ref_name, validate_with,
};
use crate::meta::{ObjectMeta, Time, validate_object_meta, validate_object_meta_update};
use crate::net::{IpAddress, IpFamily, IpPrefix};
use crate::refs::{LocalObjectReference, LocalUidReference};

string_enum! {
    /// An interface's state.
    NetworkInterfaceState { Pending => "Pending", Available => "Available", Error => "Error" }
}

/// A prefix allocated from IPAM for an interface or load balancer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralPrefixSource {
    /// The template of the Prefix to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_template: Option<PrefixTemplateSpec>,
}

/// An IP: given literally or allocated from IPAM (exactly one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpSource {
    /// A literal IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<IpAddress>,
    /// An IPAM allocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralPrefixSource>,
}

/// A prefix: given literally or allocated from IPAM (exactly one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefixSource {
    /// A literal prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<IpPrefix>,
    /// An IPAM allocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralPrefixSource>,
}

/// A virtual IP created with the interface.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralVirtualIpSource {
    /// The template of the VirtualIP `<nic>`.
    #[serde(
        rename = "virtualIPTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_ip_template: Option<VirtualIpTemplateSpec>,
}

/// A virtual IP: a reference or an ephemeral template (exactly one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualIpSource {
    /// An existing VirtualIP.
    #[serde(
        rename = "virtualIPRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_ip_ref: Option<LocalObjectReference>,
    /// A VirtualIP owned by the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralVirtualIpSource>,
}

/// What a NetworkInterface should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceSpec {
    /// The provider's id (`ironcore-net://<ns>/<name>/<node>/<uid>`).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// The network.
    #[serde(default)]
    pub network_ref: LocalObjectReference,
    /// The machine using the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_ref: Option<LocalUidReference>,
    /// One family per IP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<IpFamily>,
    /// The IPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpSource>,
    /// Routed prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<PrefixSource>,
    /// The public IP.
    #[serde(rename = "virtualIP", default, skip_serializing_if = "Option::is_none")]
    pub virtual_ip: Option<VirtualIpSource>,
    /// Provider attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// What a NetworkInterface is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceStatus {
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<NetworkInterfaceState>,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state_transition_time: Option<Time>,
    /// The effective IPs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddress>,
    /// The effective prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<IpPrefix>,
    /// The public IP.
    #[serde(rename = "virtualIP", default, skip_serializing_if = "Option::is_none")]
    pub virtual_ip: Option<IpAddress>,
}

spec_status_kind!(
    /// A network interface.
    NetworkInterface,
    NetworkInterfaceSpec,
    NetworkInterfaceStatus
);

/// A NetworkInterface template inside a Machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterfaceTemplateSpec {
    /// Labels and annotations of the interface.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub metadata: ObjectMeta,
    /// The interface's spec.
    #[serde(default)]
    pub spec: NetworkInterfaceSpec,
}

/// Name of the Prefix allocated for IP `i` of `nic`: `<nic>-<i>`.
pub fn nic_ip_prefix_name(nic: &str, i: usize) -> String {
    format!("{nic}-{i}")
}

/// Name of the Prefix allocated for prefix `i` of `nic`: `<nic>-pf-<i>`.
pub fn nic_prefix_prefix_name(nic: &str, i: usize) -> String {
    format!("{nic}-pf-{i}")
}

/// Name of an interface's ephemeral VirtualIP: the interface's own name.
pub fn nic_virtual_ip_name(nic: &str) -> String {
    nic.to_owned()
}

impl NetworkInterfaceSpec {
    /// Infers `ipFamilies` from the IPs (or the IPs' template families from `ipFamilies`), and
    /// makes an ephemeral IP template a single IP when it gives no length.
    pub fn set_defaults(&mut self) {
        default_ip_families(&mut self.ip_families, &mut self.ips);
    }
}

fn template(ip: &mut IpSource) -> Option<&mut PrefixTemplateSpec> {
    ip.ephemeral.as_mut()?.prefix_template.as_mut()
}

/// The defaulting upstream shares between interfaces and load balancers.
pub(crate) fn default_ip_families(families: &mut Vec<IpFamily>, ips: &mut [IpSource]) {
    if !families.is_empty() {
        if families.len() == ips.len() {
            for (family, ip) in families.iter().zip(ips.iter_mut()) {
                if let Some(t) = template(ip) {
                    t.spec.ip_family.get_or_insert_with(|| family.clone());
                }
            }
        }
    } else {
        for ip in ips.iter_mut() {
            if let Some(v) = ip.value {
                families.push(v.family());
            } else if let Some(f) = template(ip).and_then(|t| t.spec.ip_family.clone()) {
                families.push(f);
            }
        }
    }
    for ip in ips.iter_mut() {
        if let Some(t) = template(ip)
            && t.spec.prefix.is_none()
            && t.spec.prefix_length.is_none()
        {
            t.spec.prefix_length = t
                .spec
                .ip_family
                .as_ref()
                .and_then(IpFamily::bits)
                .map(i32::from);
        }
    }
}

impl Resource for NetworkInterface {
    const KIND: Kind = Kind::NetworkInterface;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        self.spec.set_defaults();
        self.status
            .state
            .get_or_insert(NetworkInterfaceState::Pending);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        let path = FieldPath::new("spec");
        errs.extend(validate_network_interface_spec(
            &self.spec,
            Some(&self.metadata.name),
            &path,
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        // Everything but providerID, ips, prefixes, machineRef and virtualIP is immutable.
        let mut comparable = old.spec.clone();
        comparable.provider_id.clone_from(&self.spec.provider_id);
        comparable.ips.clone_from(&self.spec.ips);
        comparable.prefixes.clone_from(&self.spec.prefixes);
        comparable.machine_ref.clone_from(&self.spec.machine_ref);
        comparable.virtual_ip.clone_from(&self.spec.virtual_ip);
        if comparable != self.spec {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec"),
                "field is immutable: only providerID, ips, prefixes, machineRef and virtualIP may change",
            ));
        }
        errs.extend(self.validate());
        errs
    }
}

/// Validation of an interface spec; `name` is the interface's name when known (a template's
/// is not), used to check the names of generated IPAM prefixes.
pub fn validate_network_interface_spec(
    spec: &NetworkInterfaceSpec,
    name: Option<&str>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = validate_ref_name(
        &spec.network_ref.name,
        path.child("networkRef").child("name"),
    );
    if let Some(m) = &spec.machine_ref {
        errs.extend(validate_ref_label_name(
            &m.name,
            path.child("machineRef").child("name"),
        ));
    }
    errs.extend(validate_ip_families(
        &spec.ip_families,
        &path.child("ipFamilies"),
    ));
    if spec.ip_families.len() != spec.ips.len() {
        let shown: Vec<&str> = spec
            .ip_families
            .iter()
            .map(crate::StringEnum::as_str)
            .collect();
        errs.push(FieldError::invalid(
            path.child("ips"),
            BadValue::Raw(format!("{shown:?}")),
            "ip families must match ips",
        ));
    }
    errs.extend(validate_ip_sources(
        &spec.ips,
        &spec.ip_families,
        name,
        &path.child("ips"),
        nic_ip_prefix_name,
    ));
    for (i, p) in spec.prefixes.iter().enumerate() {
        errs.extend(validate_prefix_source(
            p,
            i,
            name,
            &path.child("prefixes").index(i),
        ));
    }
    if let Some(vip) = &spec.virtual_ip {
        errs.extend(validate_virtual_ip_source(vip, &path.child("virtualIP")));
    }
    errs
}

/// Validation of a list of IP families: required, each supported, no duplicates.
pub(crate) fn validate_ip_families(families: &[IpFamily], path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if families.is_empty() {
        errs.push(FieldError::required(
            path.clone(),
            "must specify ip families",
        ));
    }
    for (i, f) in families.iter().enumerate() {
        errs.extend(validate_enum(
            Some(f),
            path.index(i),
            "must specify ipFamily",
        ));
        if families[..i].contains(f) {
            errs.push(FieldError::duplicate(path.index(i), f.to_string()));
        }
    }
    errs
}

/// Validation of IP sources against their families (interfaces and load balancers).
pub(crate) fn validate_ip_sources(
    ips: &[IpSource],
    families: &[IpFamily],
    owner: Option<&str>,
    path: &FieldPath,
    prefix_name: fn(&str, usize) -> String,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, ip) in ips.iter().enumerate() {
        let p = path.index(i);
        let family = families.get(i);
        match (&ip.value, &ip.ephemeral) {
            (Some(v), None) => {
                if family.is_some_and(|f| *f != v.family()) {
                    let detail = format!(
                        "expected ip family {} but got {}",
                        family.map(ToString::to_string).unwrap_or_default(),
                        v.family()
                    );
                    errs.push(FieldError::invalid(p.child("value"), v.to_string(), detail));
                }
            }
            (Some(_), Some(_)) => errs.push(FieldError::forbidden(
                p.child("ephemeral"),
                "cannot specify multiple ip sources",
            )),
            (None, Some(e)) => {
                let tp = p.child("ephemeral").child("prefixTemplate");
                errs.extend(validate_single_ip_template(
                    e.prefix_template.as_ref(),
                    family,
                    &tp,
                ));
                if let Some(owner) = owner.filter(|o| !o.is_empty()) {
                    errs.extend(generated_name(&prefix_name(owner, i), &p));
                }
            }
            (None, None) => errs.push(FieldError::invalid(
                p,
                BadValue::Raw("{}".into()),
                "must specify an ip source",
            )),
        }
    }
    errs
}

fn generated_name(name: &str, path: &FieldPath) -> ErrorList {
    validate_with(name, path.clone(), dns1123_subdomain)
        .into_iter()
        .map(|e| {
            FieldError::invalid(
                e.path,
                name,
                format!("resulting prefix name {name:?} is invalid: {}", e.detail),
            )
        })
        .collect()
}

fn validate_single_ip_template(
    template: Option<&PrefixTemplateSpec>,
    family: Option<&IpFamily>,
    path: &FieldPath,
) -> ErrorList {
    let Some(t) = template else {
        return std::iter::once(FieldError::required(path.clone(), "must specify template"))
            .collect();
    };
    let mut errs = validate_prefix_template(t, path);
    let spec = path.child("spec");
    if t.spec.ip_family.as_ref() != family {
        let shown = family.map(ToString::to_string).unwrap_or_default();
        let detail = format!("has to match network interface ip family {shown:?}");
        errs.push(FieldError::forbidden(spec.child("ipFamily"), detail));
    }
    if t.spec.prefix.is_some_and(|p| !p.is_single_ip()) {
        errs.push(FieldError::forbidden(
            spec.child("prefix"),
            "must be a single IP",
        ));
    }
    let bits = family.and_then(IpFamily::bits).map(i32::from);
    if t.spec.prefix_length.is_some_and(|len| Some(len) != bits) {
        errs.push(FieldError::forbidden(
            spec.child("prefixLength"),
            "must be a single IP",
        ));
    }
    errs
}

fn validate_prefix_source(
    src: &PrefixSource,
    i: usize,
    owner: Option<&str>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    match (&src.value, &src.ephemeral) {
        (Some(_), None) => {}
        (Some(_), Some(_)) => errs.push(FieldError::forbidden(
            path.child("ephemeral"),
            "cannot specify multiple ip sources",
        )),
        (None, Some(e)) => {
            let tp = path.child("ephemeral").child("prefixTemplate");
            match &e.prefix_template {
                Some(t) => errs.extend(validate_prefix_template(t, &tp)),
                None => errs.push(FieldError::required(tp, "must specify template")),
            }
            if let Some(owner) = owner.filter(|o| !o.is_empty()) {
                errs.extend(generated_name(&nic_prefix_prefix_name(owner, i), path));
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Raw("{}".into()),
            "must specify a prefix source",
        )),
    }
    errs
}

fn validate_virtual_ip_source(src: &VirtualIpSource, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    match (&src.virtual_ip_ref, &src.ephemeral) {
        (Some(r), None) => {
            errs.extend(validate_ref_label_name(
                &r.name,
                path.child("virtualIPRef").child("name"),
            ));
        }
        (Some(_), Some(_)) => errs.push(FieldError::forbidden(
            path.child("ephemeral"),
            "cannot specify multiple sources",
        )),
        (None, Some(e)) => {
            let tp = path.child("ephemeral").child("virtualIPTemplate");
            match &e.virtual_ip_template {
                Some(t) => errs.extend(validate_virtual_ip_template(t, &tp)),
                None => errs.push(FieldError::required(tp, "")),
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Raw("{}".into()),
            "must specify a virtual ip source",
        )),
    }
    errs
}
