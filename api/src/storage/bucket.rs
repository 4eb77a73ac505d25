//! Bucket: an object storage bucket of a class in a pool.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::{
    Resource, default_type_meta, immutable, meta_accessors, set_once, spec_status_kind,
};
use crate::enums::string_enum;
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_subdomain, validate_ref_name};
use crate::meta::{Time, validate_object_meta, validate_object_meta_update};
use crate::refs::{Condition, LocalObjectReference};
use crate::selector::{Labels, validate_labels};
use crate::taints::{Toleration, validate_tolerations};

string_enum! {
    /// A bucket's state.
    BucketState { Pending => "Pending", Available => "Available", Error => "Error" }
}

/// What a Bucket should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// The class (immutable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_class_ref: Option<LocalObjectReference>,
    /// Labels a pool must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bucket_pool_selector: Labels,
    /// The pool (set once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_pool_ref: Option<LocalObjectReference>,
    /// Tolerated pool taints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
}

/// How to reach the bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketAccess {
    /// The Secret with the access keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// The S3 endpoint.
    pub endpoint: String,
}

/// What a Bucket is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    /// The provider's id.
    #[serde(rename = "bucketID", default, skip_serializing_if = "String::is_empty")]
    pub bucket_id: String,
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<BucketState>,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state_transition_time: Option<Time>,
    /// How to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<BucketAccess>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

spec_status_kind!(
    /// An object storage bucket.
    Bucket,
    BucketSpec,
    BucketStatus
);

fn validate_spec(spec: &BucketSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(class) = &spec.bucket_class_ref {
        errs.extend(validate_ref_name(
            &class.name,
            path.child("bucketClassRef").child("name"),
        ));
        errs.extend(validate_labels(
            &spec.bucket_pool_selector,
            &path.child("bucketPoolSelector"),
        ));
        if let Some(pool) = &spec.bucket_pool_ref {
            errs.extend(validate_ref_name(
                &pool.name,
                path.child("bucketPoolRef").child("name"),
            ));
        }
        if let Some(t) = &spec.tolerations {
            errs.extend(validate_tolerations(t, &path.child("tolerations")));
        }
        return errs;
    }
    let msg = "must not specify if bucket class is empty";
    let forbidden = [
        (!spec.bucket_pool_selector.is_empty(), "bucketPoolSelector"),
        (spec.bucket_pool_ref.is_some(), "bucketPoolRef"),
        (spec.tolerations.is_some(), "tolerations"),
    ];
    for (set, field) in forbidden {
        if set {
            errs.push(FieldError::forbidden(path.child(field), msg));
        }
    }
    errs
}

impl Resource for Bucket {
    const KIND: Kind = Kind::Bucket;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        self.status.state.get_or_insert(BucketState::Pending);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        errs.extend(validate_spec(&self.spec, &FieldPath::new("spec")));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let (new, prev, path) = (&self.spec, &old.spec, FieldPath::new("spec"));
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let class = path.child("bucketClassRef");
        errs.extend(immutable(
            &new.bucket_class_ref,
            &prev.bucket_class_ref,
            class,
        ));
        errs.extend(set_once(
            new.bucket_pool_ref.as_ref(),
            prev.bucket_pool_ref.as_ref(),
            |r| r.map_or(BadValue::Null, |r| BadValue::from(&r.name)),
            path.child("bucketPoolRef"),
        ));
        errs.extend(self.validate());
        errs
    }
}
