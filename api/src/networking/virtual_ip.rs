//! VirtualIP: a public IP for one interface; and the template interfaces embed.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_label, validate_ref_name};
use crate::meta::{ObjectMeta, validate_object_meta, validate_object_meta_update};
use crate::net::{IpAddress, IpFamily};
use crate::refs::LocalUidReference;
use crate::storage::validate_template_meta;

string_enum! {
    /// The kind of virtual IP.
    VirtualIpType { Public => "Public" }
}

string_enum! {
    /// What happens to an ephemeral virtual IP when its interface goes.
    ReclaimPolicy { Retain => "Retain", Delete => "Delete" }
}

/// What a VirtualIP should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualIpSpec {
    /// Public.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<VirtualIpType>,
    /// The IP family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// The interface it points at (the only mutable field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<LocalUidReference>,
}

/// What a VirtualIP is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualIpStatus {
    /// The allocated IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddress>,
}

spec_status_kind!(
    /// A public IP for an interface.
    VirtualIP,
    VirtualIpSpec,
    VirtualIpStatus
);

/// An ephemeral virtual IP's spec: a VirtualIP spec and a reclaim policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralVirtualIpSpec {
    /// Public.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<VirtualIpType>,
    /// The IP family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// The interface it points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<LocalUidReference>,
    /// Retain or Delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_policy: Option<ReclaimPolicy>,
}

impl EphemeralVirtualIpSpec {
    /// The VirtualIP spec part.
    pub fn virtual_ip_spec(&self) -> VirtualIpSpec {
        VirtualIpSpec {
            type_: self.type_.clone(),
            ip_family: self.ip_family.clone(),
            target_ref: self.target_ref.clone(),
        }
    }
}

/// A VirtualIP template inside an interface.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualIpTemplateSpec {
    /// Labels and annotations.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(default)]
    pub spec: EphemeralVirtualIpSpec,
}

fn validate_spec(spec: &VirtualIpSpec, path: &FieldPath) -> ErrorList {
    let mut errs = validate_enum(spec.type_.as_ref(), path.child("type"), "must specify type");
    let family = path.child("ipFamily");
    errs.extend(validate_enum(
        spec.ip_family.as_ref(),
        family,
        "must specify ipFamily",
    ));
    if let Some(t) = &spec.target_ref {
        errs.extend(validate_ref_name(
            &t.name,
            path.child("targetRef").child("name"),
        ));
    }
    errs
}

/// Validation of a virtual IP template.
pub(crate) fn validate_virtual_ip_template(
    t: &VirtualIpTemplateSpec,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = validate_template_meta(
        &t.metadata,
        &path.child("metadata"),
        "a virtual IP template",
    );
    errs.extend(validate_spec(
        &t.spec.virtual_ip_spec(),
        &path.child("spec"),
    ));
    if let Some(policy) = &t.spec.reclaim_policy {
        let p = path.child("spec").child("reclaimPolicy");
        errs.extend(validate_enum(Some(policy), p, "must specify reclaimPolicy"));
    }
    errs
}

impl Resource for VirtualIP {
    const KIND: Kind = Kind::VirtualIP;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_label);
        errs.extend(validate_spec(&self.spec, &FieldPath::new("spec")));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let mut comparable = old.spec.clone();
        comparable.target_ref.clone_from(&self.spec.target_ref);
        if comparable != self.spec {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec"),
                "field is immutable: only targetRef may change",
            ));
        }
        errs.extend(self.validate());
        errs
    }
}
