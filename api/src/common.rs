//! Pieces every kind uses: the `Resource` trait, the declaration macro for spec/status kinds,
//! and the immutability rules of updates.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::ObjectMeta;

/// One API kind: its metadata, defaulting and validation.
pub trait Resource: Clone + Debug + PartialEq + Serialize + DeserializeOwned {
    /// The kind.
    const KIND: Kind;

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;

    /// The object's metadata, mutably.
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    /// Fills in defaults, as the API server does before validation.
    fn set_defaults(&mut self);

    /// Validation of a new object (after defaulting). Reports every error.
    fn validate(&self) -> ErrorList;

    /// Validation of a change from `old` to `self`: the create rules plus immutability.
    fn validate_update(&self, old: &Self) -> ErrorList;
}

/// Whether a value equals its type's default (for `skip_serializing_if`).
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `path: Forbidden: field is immutable` when `new != old` (upstream's immutable rule).
pub(crate) fn immutable<T: PartialEq>(new: &T, old: &T, path: FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    if new != old {
        errs.push(FieldError::forbidden(path, "field is immutable"));
    }
    errs
}

/// `path: Invalid value: <new>: field is immutable once set` when `old` was set and changed.
pub(crate) fn set_once<T: PartialEq>(
    new: Option<&T>,
    old: Option<&T>,
    shown: impl Fn(Option<&T>) -> BadValue,
    path: FieldPath,
) -> ErrorList {
    let mut errs = ErrorList::new();
    if old.is_some() && new != old {
        errs.push(FieldError::invalid(
            path,
            shown(new),
            "field is immutable once set",
        ));
    }
    errs
}

/// Declares a kind whose body is `spec` and `status`.
macro_rules! spec_status_kind {
    ($(#[$meta:meta])* $name:ident, $spec:ty, $status:ty) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// `group/version`.
            #[serde(default)]
            pub api_version: String,
            /// The kind's name.
            #[serde(default)]
            pub kind: String,
            /// Object metadata.
            #[serde(default)]
            pub metadata: $crate::meta::ObjectMeta,
            /// The desired state.
            #[serde(default)]
            pub spec: $spec,
            /// The observed state.
            #[serde(default, skip_serializing_if = "crate::common::is_default")]
            pub status: $status,
        }
    };
}

pub(crate) use spec_status_kind;

/// Implements the metadata accessors of [`Resource`] for a struct with a `metadata` field.
macro_rules! meta_accessors {
    () => {
        fn meta(&self) -> &$crate::meta::ObjectMeta {
            &self.metadata
        }

        fn meta_mut(&mut self) -> &mut $crate::meta::ObjectMeta {
            &mut self.metadata
        }
    };
}

pub(crate) use meta_accessors;

/// Sets `apiVersion` and `kind` to the canonical values of `K`.
pub(crate) fn default_type_meta<K: Resource>(api_version: &mut String, kind: &mut String) {
    if api_version.is_empty() {
        *api_version = K::KIND.api_version().to_owned();
    }
    if kind.is_empty() {
        *kind = K::KIND.name().to_owned();
    }
}
