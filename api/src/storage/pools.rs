//! VolumePool and BucketPool: storage backends announced by storage nodes.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors, spec_status_kind};
use crate::enums::string_enum;
use crate::field::{ErrorList, FieldPath};
use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{validate_object_meta, validate_object_meta_update};
use crate::refs::{Condition, LocalObjectReference};
use crate::resources::ResourceList;
use crate::taints::{Taint, validate_taints};

string_enum! {
    /// A storage pool's state.
    StoragePoolState { Available => "Available", Pending => "Pending", Unavailable => "Unavailable" }
}

/// What a storage pool should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoragePoolSpec {
    /// The provider's id of the pool (immutable once set).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// Taints that keep objects off unless tolerated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// What a VolumePool is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumePoolStatus {
    /// The pool's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StoragePoolState>,
    /// `Ready` carries the pool's health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The classes the pool serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available_volume_classes: Vec<LocalObjectReference>,
    /// Total bytes per class (`class/volume.<name>`).
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub capacity: ResourceList,
    /// Free bytes per class.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub allocatable: ResourceList,
}

/// What a BucketPool is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketPoolStatus {
    /// The pool's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StoragePoolState>,
    /// `Ready` carries the pool's health (a ferrocore addition; upstream has no heartbeat).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The classes the pool serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available_bucket_classes: Vec<LocalObjectReference>,
}

spec_status_kind!(
    /// A block storage pool.
    VolumePool,
    StoragePoolSpec,
    VolumePoolStatus
);

spec_status_kind!(
    /// An object storage pool.
    BucketPool,
    StoragePoolSpec,
    BucketPoolStatus
);

fn validate_pool(meta: &crate::meta::ObjectMeta, spec: &StoragePoolSpec) -> ErrorList {
    let mut errs = validate_object_meta(meta, false, dns1123_subdomain);
    errs.extend(validate_taints(
        &spec.taints,
        &FieldPath::new("spec").child("taints"),
    ));
    errs
}

fn validate_pool_update(new: &StoragePoolSpec, old: &StoragePoolSpec) -> ErrorList {
    if old.provider_id.is_empty() {
        return ErrorList::new();
    }
    let path = FieldPath::new("spec").child("providerID");
    immutable(&new.provider_id, &old.provider_id, path)
}

impl Resource for VolumePool {
    const KIND: Kind = Kind::VolumePool;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        validate_pool(&self.metadata, &self.spec)
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        errs.extend(validate_pool_update(&self.spec, &old.spec));
        errs.extend(self.validate());
        errs
    }
}

impl Resource for BucketPool {
    const KIND: Kind = Kind::BucketPool;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        validate_pool(&self.metadata, &self.spec)
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        errs.extend(validate_pool_update(&self.spec, &old.spec));
        errs.extend(self.validate());
        errs
    }
}
