//! `ObjectMeta` and the ids inside it, with Kubernetes' create and update rules.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Time;
use super::names::{dns1123_label, qualified_name, validate_with};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::selector::validate_labels;

/// Largest total size of an object's annotations (keys plus values), as Kubernetes allows.
pub const ANNOTATIONS_TOTAL_MAX_BYTES: usize = 256 * 1024;

/// An object's unique id, assigned by the store at creation.
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(pub String);

impl Uid {
    /// Whether no uid is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The uid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The store revision of an object's last change, as an opaque decimal string.
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceVersion(pub String);

impl ResourceVersion {
    /// The version of revision `rev`.
    pub fn from_revision(rev: u64) -> Self {
        Self(rev.to_string())
    }

    /// The revision, if the version is one of ours.
    pub fn revision(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// Whether no version is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How many times an object's spec changed; starts at 1.
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Generation(pub i64);

impl Generation {
    fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

/// A reference from a dependent to its owner; deleting the owner deletes the dependent.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's apiVersion.
    #[serde(default)]
    pub api_version: String,
    /// The owner's kind.
    #[serde(default)]
    pub kind: String,
    /// The owner's name.
    #[serde(default)]
    pub name: String,
    /// The owner's uid.
    #[serde(default)]
    pub uid: Uid,
    /// Whether the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether foreground deletion of the owner waits for this dependent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Metadata every object carries.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The name, unique per kind and namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A prefix from which the store generates a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// The namespace; empty for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The unique id, set by the store.
    #[serde(default, skip_serializing_if = "Uid::is_empty")]
    pub uid: Uid,
    /// The revision of the last change, set by the store.
    #[serde(default, skip_serializing_if = "ResourceVersion::is_empty")]
    pub resource_version: ResourceVersion,
    /// Bumped by the store on each spec change.
    #[serde(default, skip_serializing_if = "Generation::is_zero")]
    pub generation: Generation,
    /// When the object was created, set by the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// When deletion was requested; the object stays until its finalizers are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Seconds of grace before forced deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Owners; the object is deleted when all owners are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Finalizers that must be removed before the object is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Server-side apply bookkeeping from Kubernetes exports; accepted and kept, not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<serde_json::Value>,
}

impl ObjectMeta {
    /// Metadata with just a name (and a namespace, empty for cluster-scoped kinds).
    pub fn named(namespace: &str, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            ..Self::default()
        }
    }

    /// Whether deletion has been requested.
    pub fn is_deleting(&self) -> bool {
        self.deletion_timestamp.is_some()
    }
}

/// Validation of metadata on create, as `ValidateObjectMetaAccessor`: `name_rule` is the kind's
/// name rule (DNS label or subdomain); `namespaced` says whether a namespace is required.
pub fn validate_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    name_rule: fn(&str) -> Vec<String>,
) -> ErrorList {
    let path = FieldPath::new("metadata");
    let mut errs = ErrorList::new();
    if meta.name.is_empty() {
        if meta.generate_name.is_empty() {
            errs.push(FieldError::required(
                path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        errs.extend(validate_with(&meta.name, path.child("name"), name_rule));
    }
    if namespaced {
        if meta.namespace.is_empty() {
            errs.push(FieldError::required(path.child("namespace"), ""));
        } else {
            errs.extend(validate_with(
                &meta.namespace,
                path.child("namespace"),
                dns1123_label,
            ));
        }
    } else if !meta.namespace.is_empty() {
        errs.push(FieldError::forbidden(
            path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if meta.generation.0 < 0 {
        errs.push(FieldError::invalid(
            path.child("generation"),
            meta.generation.0,
            "must be greater than or equal to 0",
        ));
    }
    errs.extend(validate_labels(&meta.labels, &path.child("labels")));
    errs.extend(validate_annotations(
        &meta.annotations,
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(&meta.owner_references, &path));
    for (i, f) in meta.finalizers.iter().enumerate() {
        errs.extend(validate_with(
            f,
            path.child("finalizers").index(i),
            qualified_name,
        ));
    }
    errs
}

fn validate_annotations(annotations: &BTreeMap<String, String>, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        let lower = k.to_lowercase();
        errs.extend(validate_with(&lower, path.clone(), qualified_name));
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > ANNOTATIONS_TOTAL_MAX_BYTES {
        errs.push(FieldError::too_long(
            path.clone(),
            ANNOTATIONS_TOTAL_MAX_BYTES,
        ));
    }
    errs
}

fn validate_owner_references(refs: &[OwnerReference], meta_path: &FieldPath) -> ErrorList {
    let path = meta_path.child("ownerReferences");
    let mut errs = ErrorList::new();
    for (i, r) in refs.iter().enumerate() {
        let p = path.index(i);
        if r.api_version.is_empty() {
            errs.push(FieldError::invalid(
                p.child("apiVersion"),
                "",
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                p.child("kind"),
                "",
                "kind must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                p.child("name"),
                "",
                "name must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                p.child("uid"),
                "",
                "uid must not be empty",
            ));
        }
    }
    let controllers = refs.iter().filter(|r| r.controller == Some(true)).count();
    if controllers > 1 {
        errs.push(FieldError::invalid(
            path,
            format!("{controllers} controllers"),
            "Only one reference can have Controller set to true",
        ));
    }
    errs
}

/// Validation of a metadata change, as `ValidateObjectMetaAccessorUpdate`: name, namespace, uid
/// and creation time never change, and a deletion request cannot be withdrawn.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> ErrorList {
    let path = FieldPath::new("metadata");
    let mut errs = ErrorList::new();
    let immutable = |errs: &mut ErrorList, field: &str, new: &str, old: &str| {
        if new != old {
            errs.push(FieldError::invalid(
                path.child(field),
                new,
                "field is immutable",
            ));
        }
    };
    immutable(&mut errs, "name", &new.name, &old.name);
    immutable(&mut errs, "namespace", &new.namespace, &old.namespace);
    if !old.uid.is_empty() {
        immutable(&mut errs, "uid", new.uid.as_str(), old.uid.as_str());
    }
    if old.creation_timestamp.is_some() && new.creation_timestamp != old.creation_timestamp {
        let shown = new
            .creation_timestamp
            .map(|t| t.to_string())
            .unwrap_or_default();
        immutable(&mut errs, "creationTimestamp", &shown, "");
    }
    if old.deletion_timestamp.is_some() && new.deletion_timestamp != old.deletion_timestamp {
        errs.push(FieldError::forbidden(
            path.child("deletionTimestamp"),
            "field is immutable; may only be set by the server",
        ));
    }
    errs
}
