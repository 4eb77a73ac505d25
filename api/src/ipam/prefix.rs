//! Prefix and PrefixAllocation: IPAM. A root Prefix holds a CIDR; child Prefixes and
//! allocations take sub-prefixes of a parent chosen by reference or selector.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_subdomain, validate_ref_name};
use crate::meta::{ObjectMeta, Time, validate_object_meta, validate_object_meta_update};
use crate::net::{IpFamily, IpPrefix};
use crate::refs::LocalObjectReference;
use crate::selector::LabelSelector;
use crate::storage::validate_template_meta;

string_enum! {
    /// A prefix's phase.
    PrefixPhase { Pending => "Pending", Allocated => "Allocated" }
}

string_enum! {
    /// An allocation's phase.
    PrefixAllocationPhase { Pending => "Pending", Allocated => "Allocated", Failed => "Failed" }
}

/// What a Prefix should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefixSpec {
    /// The family (inferred from `prefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// The CIDR (required for a root prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpPrefix>,
    /// The length requested from the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<i32>,
    /// The parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_ref: Option<LocalObjectReference>,
    /// Labels of eligible parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_selector: Option<LabelSelector>,
}

impl PrefixSpec {
    /// Whether this is a root prefix (no parent by reference or selector).
    pub fn is_root(&self) -> bool {
        self.parent_ref.is_none() && self.parent_selector.is_none()
    }
}

/// What a Prefix is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefixStatus {
    /// Pending or Allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PrefixPhase>,
    /// When `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_phase_transition_time: Option<Time>,
    /// Sub-prefixes handed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used: Vec<IpPrefix>,
}

spec_status_kind!(
    /// An IP prefix.
    Prefix,
    PrefixSpec,
    PrefixStatus
);

/// A Prefix template (interface and load balancer IPs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefixTemplateSpec {
    /// Labels and annotations.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(default)]
    pub spec: PrefixSpec,
}

fn infer_family(family: &mut Option<IpFamily>, prefix: Option<IpPrefix>, len: Option<i32>) {
    if family.is_none()
        && len.is_none()
        && let Some(p) = prefix
    {
        *family = Some(p.family());
    }
}

fn validate_family_prefix_length(
    family: Option<&IpFamily>,
    prefix: Option<IpPrefix>,
    len: Option<i32>,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = validate_enum(family, path.child("ipFamily"), "must specify ipFamily");
    if let (Some(p), Some(f)) = (prefix, family.filter(|f| crate::StringEnum::is_known(*f)))
        && p.family() != *f
    {
        let detail = format!("expected ip family {f} but got {}", p.family());
        errs.push(FieldError::invalid(
            path.child("prefix"),
            p.to_string(),
            detail,
        ));
    }
    if let Some(len) = len {
        let bits = family.and_then(IpFamily::bits).map(i32::from);
        let p = path.child("prefixLength");
        match bits {
            _ if len <= 0 => errs.push(FieldError::invalid(p, len, "has to be > 0")),
            Some(max) if len > max => {
                let detail = format!(
                    "too large prefix length for {} (max {max})",
                    family.map(ToString::to_string).unwrap_or_default()
                );
                errs.push(FieldError::invalid(p, len, detail));
            }
            None => errs.push(FieldError::invalid(p, len, "no ip family specified")),
            Some(_) => {}
        }
    }
    errs
}

/// Validation of a prefix spec (Prefix and templates).
pub(crate) fn validate_prefix_spec(spec: &PrefixSpec, path: &FieldPath) -> ErrorList {
    let mut errs = validate_family_prefix_length(
        spec.ip_family.as_ref(),
        spec.prefix,
        spec.prefix_length,
        path,
    );
    if spec.is_root() {
        if let Some(len) = spec.prefix_length {
            let detail = "cannot specify prefixLength for a root prefix";
            errs.push(FieldError::invalid(path.child("prefixLength"), len, detail));
        }
        if spec.prefix.is_none() {
            errs.push(FieldError::required(
                path.child("prefix"),
                "must specify for root prefix",
            ));
        }
        return errs;
    }
    match (spec.prefix, spec.prefix_length) {
        (None, None) => errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Raw("{}".into()),
            "must specify either prefix or prefixLength",
        )),
        (Some(p), Some(len)) if len != i32::from(p.len()) => {
            let detail = format!("does not match prefix {p}");
            errs.push(FieldError::invalid(path.child("prefixLength"), len, detail));
        }
        _ => {}
    }
    if let Some(r) = &spec.parent_ref {
        errs.extend(validate_ref_name(
            &r.name,
            path.child("parentRef").child("name"),
        ));
    }
    if let Some(sel) = &spec.parent_selector {
        errs.extend(sel.validate(&path.child("parentSelector")));
    }
    errs
}

/// Validation of a prefix template.
pub fn validate_prefix_template(t: &PrefixTemplateSpec, path: &FieldPath) -> ErrorList {
    let mut errs =
        validate_template_meta(&t.metadata, &path.child("metadata"), "an ephemeral prefix");
    errs.extend(validate_prefix_spec(&t.spec, &path.child("spec")));
    errs
}

fn validate_prefix_status(status: &PrefixStatus, spec: &PrefixSpec) -> ErrorList {
    let path = FieldPath::new("status");
    let mut errs = ErrorList::new();
    if status.phase != Some(PrefixPhase::Allocated) {
        if !status.used.is_empty() {
            let detail = "must not specify used if the prefix is not allocated";
            errs.push(FieldError::invalid(
                path.child("used"),
                BadValue::Raw("[...]".into()),
                detail,
            ));
        }
        return errs;
    }
    for (i, used) in status.used.iter().enumerate() {
        let p = path.child("used").index(i);
        if status.used[..i].iter().any(|u| u.overlaps(*used)) {
            errs.push(FieldError::invalid(
                p.clone(),
                used.to_string(),
                "overlapping used addresses",
            ));
        }
        if let Some(prefix) = spec.prefix.filter(|pfx| !pfx.contains_prefix(*used)) {
            errs.push(FieldError::forbidden(
                p,
                format!("not contained in prefix {prefix}"),
            ));
        }
    }
    errs
}

impl Resource for Prefix {
    const KIND: Kind = Kind::Prefix;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        let spec = &mut self.spec;
        infer_family(&mut spec.ip_family, spec.prefix, spec.prefix_length);
        self.status.phase.get_or_insert(PrefixPhase::Pending);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        errs.extend(validate_prefix_spec(&self.spec, &FieldPath::new("spec")));
        errs.extend(validate_prefix_status(&self.status, &self.spec));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        // The spec is immutable except that unset prefix, length and parent may be filled in.
        let mut comparable = old.spec.clone();
        if old.spec.prefix.is_none() {
            comparable.prefix = self.spec.prefix;
        }
        if old.spec.prefix_length.is_none() {
            comparable.prefix_length = self.spec.prefix_length;
        }
        if old.spec.parent_ref.is_none() && !old.spec.is_root() {
            comparable.parent_ref.clone_from(&self.spec.parent_ref);
        }
        if comparable != self.spec {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec"),
                "field is immutable",
            ));
        }
        if old.status.phase == Some(PrefixPhase::Allocated) && self.status.phase != old.status.phase
        {
            let p = FieldPath::new("status").child("phase");
            errs.push(FieldError::forbidden(
                p,
                "may not update from allocated to non-allocated phase",
            ));
        }
        errs.extend(self.validate());
        errs
    }
}

/// What a PrefixAllocation should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefixAllocationSpec {
    /// The family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// A specific prefix requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpPrefix>,
    /// A length requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<i32>,
    /// The parent prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_ref: Option<LocalObjectReference>,
    /// Labels of eligible parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_selector: Option<LabelSelector>,
}

/// What a PrefixAllocation is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefixAllocationStatus {
    /// The allocated prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<IpPrefix>,
    /// Pending, Allocated or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PrefixAllocationPhase>,
    /// When `phase` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_phase_transition_time: Option<Time>,
}

spec_status_kind!(
    /// A request for a sub-prefix.
    PrefixAllocation,
    PrefixAllocationSpec,
    PrefixAllocationStatus
);

fn validate_allocation_spec(spec: &PrefixAllocationSpec, path: &FieldPath) -> ErrorList {
    let mut errs = validate_family_prefix_length(
        spec.ip_family.as_ref(),
        spec.prefix,
        spec.prefix_length,
        path,
    );
    if let Some(r) = &spec.prefix_ref {
        errs.extend(validate_ref_name(
            &r.name,
            path.child("prefixRef").child("name"),
        ));
    }
    if let Some(sel) = &spec.prefix_selector {
        errs.extend(sel.validate(&path.child("prefixSelector")));
    }
    match (spec.prefix, spec.prefix_length) {
        (Some(_), Some(_)) => errs.push(FieldError::forbidden(
            path.child("prefixLength"),
            "must not specify more than 1 request",
        )),
        (None, None) => errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Raw("{}".into()),
            "must specify a request",
        )),
        _ => {}
    }
    if spec.prefix_ref.is_none() && spec.prefix_selector.is_none() {
        errs.push(FieldError::invalid(
            path.clone(),
            BadValue::Raw("{}".into()),
            "must specify a source",
        ));
    }
    errs
}

impl Resource for PrefixAllocation {
    const KIND: Kind = Kind::PrefixAllocation;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        let spec = &mut self.spec;
        infer_family(&mut spec.ip_family, spec.prefix, spec.prefix_length);
        self.status
            .phase
            .get_or_insert(PrefixAllocationPhase::Pending);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        errs.extend(validate_allocation_spec(
            &self.spec,
            &FieldPath::new("spec"),
        ));
        let path = FieldPath::new("status").child("prefix");
        match (&self.status.phase, self.status.prefix) {
            (Some(PrefixAllocationPhase::Allocated), None) => {
                errs.push(FieldError::required(
                    path,
                    "must specify prefix when allocated",
                ));
            }
            (Some(PrefixAllocationPhase::Allocated), Some(_)) | (_, None) => {}
            (_, Some(_)) => errs.push(FieldError::forbidden(
                path,
                "must not specify a prefix when not allocated",
            )),
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let mut comparable = old.spec.clone();
        if old.spec.prefix_ref.is_none() {
            comparable.prefix_ref.clone_from(&self.spec.prefix_ref);
        }
        if comparable != self.spec {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec"),
                "field is immutable",
            ));
        }
        let terminal = matches!(
            old.status.phase,
            Some(PrefixAllocationPhase::Allocated | PrefixAllocationPhase::Failed)
        );
        if terminal && self.status.phase != old.status.phase {
            let p = FieldPath::new("status").child("phase");
            errs.push(FieldError::forbidden(
                p,
                "must not set failed / allocated allocation to non-failed / non-allocated",
            ));
        }
        errs.extend(self.validate());
        errs
    }
}
