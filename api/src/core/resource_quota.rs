//! ResourceQuota: hard limits on what a namespace may use.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, meta_accessors, spec_status_kind};
use crate::enums::{string_enum, validate_enum};
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{validate_object_meta, validate_object_meta_update};
use crate::resources::{ResourceList, ResourceName};

string_enum! {
    /// What a scope selector looks at.
    ResourceScope { MachineClass => "MachineClass", VolumeClass => "VolumeClass", BucketClass => "BucketClass" }
}

string_enum! {
    /// How a scope selector compares.
    ScopeOperator { In => "In", NotIn => "NotIn", Exists => "Exists", DoesNotExist => "DoesNotExist" }
}

/// One scope requirement: which objects a quota counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSelectorRequirement {
    /// The scope.
    pub scope_name: ResourceScope,
    /// The operator.
    pub operator: ScopeOperator,
    /// Class names for In and NotIn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Requirements that all must hold for an object to count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSelector {
    /// The requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<ScopeSelectorRequirement>,
}

/// What a ResourceQuota should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceQuotaSpec {
    /// Limits by resource name.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub hard: ResourceList,
    /// Which objects count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_selector: Option<ScopeSelector>,
}

/// What a ResourceQuota is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceQuotaStatus {
    /// The enforced limits.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub hard: ResourceList,
    /// Current usage.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub used: ResourceList,
}

spec_status_kind!(
    /// Limits per namespace.
    ResourceQuota,
    ResourceQuotaSpec,
    ResourceQuotaStatus
);

impl ScopeSelectorRequirement {
    /// Whether an object of class `class` (for this requirement's scope) matches.
    pub fn matches(&self, class: Option<&str>) -> bool {
        match self.operator {
            ScopeOperator::In => class.is_some_and(|c| self.values.iter().any(|v| v == c)),
            ScopeOperator::NotIn => class.is_none_or(|c| !self.values.iter().any(|v| v == c)),
            ScopeOperator::Exists => class.is_some(),
            ScopeOperator::DoesNotExist => class.is_none(),
            ScopeOperator::Unknown(_) => false,
        }
    }
}

fn validate_spec(spec: &ResourceQuotaSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    for (name, q) in &spec.hard {
        let p = path.child("hard").key(name.as_str());
        if !ResourceName::QUOTA_NAMES.contains(&name.as_str()) {
            errs.push(FieldError::invalid(
                p.clone(),
                name.as_str(),
                "must be a valid resource name",
            ));
        }
        if q.is_negative() {
            let shown = BadValue::Str(q.to_string());
            errs.push(FieldError::invalid(
                p,
                shown,
                "must be greater than or equal to 0",
            ));
        }
    }
    let exprs = spec
        .scope_selector
        .iter()
        .flat_map(|s| s.match_expressions.iter());
    for (i, req) in exprs.enumerate() {
        let p = path
            .child("scopeSelector")
            .child("matchExpressions")
            .index(i);
        errs.extend(validate_enum(
            Some(&req.scope_name),
            p.child("scopeName"),
            "must specify scopeName",
        ));
        errs.extend(validate_enum(
            Some(&req.operator),
            p.child("operator"),
            "must specify operator",
        ));
        let needs_values = matches!(req.operator, ScopeOperator::In | ScopeOperator::NotIn);
        if needs_values && req.values.is_empty() {
            let detail = "must be at least one value when `operator` is 'In' or 'NotIn'";
            errs.push(FieldError::required(p.child("values"), detail));
        } else if !needs_values && !req.values.is_empty() {
            let detail = "must be no value when `operator` is 'Exists' or 'DoesNotExist'";
            errs.push(FieldError::forbidden(p.child("values"), detail));
        }
    }
    errs
}

impl Resource for ResourceQuota {
    const KIND: Kind = Kind::ResourceQuota;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        errs.extend(validate_spec(&self.spec, &FieldPath::new("spec")));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        errs.extend(self.validate());
        errs
    }
}
