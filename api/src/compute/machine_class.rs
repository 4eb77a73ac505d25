//! MachineClass: a machine size (cpu, memory), cluster-scoped, capabilities immutable.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors};
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{ObjectMeta, validate_object_meta, validate_object_meta_update};
use crate::resources::{ResourceList, ResourceName, quantity_of};

/// The finalizer that keeps a class while objects use it (`compute.ironcore.dev/machineclass`).
pub const MACHINE_CLASS_FINALIZER: &str = "compute.ironcore.dev/machineclass";

/// A machine size.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineClass {
    /// `compute.ironcore.dev/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `MachineClass`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `cpu` (cores) and `memory` (bytes), both > 0; immutable.
    #[serde(default)]
    pub capabilities: ResourceList,
}

/// Errors unless `list[name]` is present and greater than zero.
pub(crate) fn positive_capabilities(list: &ResourceList, names: &[&str]) -> ErrorList {
    let path = FieldPath::new("capabilities");
    let mut errs = ErrorList::new();
    for name in names {
        let q = quantity_of(list, name);
        if q.is_zero() || q.is_negative() {
            errs.push(FieldError::invalid(
                path.key(name),
                BadValue::Raw(q.to_string()),
                "must be greater than zero",
            ));
        }
    }
    errs
}

impl Resource for MachineClass {
    const KIND: Kind = Kind::MachineClass;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, false, dns1123_subdomain);
        errs.extend(positive_capabilities(
            &self.capabilities,
            &[ResourceName::CPU, ResourceName::MEMORY],
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        errs.extend(immutable(
            &self.capabilities,
            &old.capabilities,
            FieldPath::new("capabilities"),
        ));
        errs.extend(self.validate());
        errs
    }
}
