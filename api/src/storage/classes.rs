//! VolumeClass and BucketClass: performance classes (`tps`, `iops`), cluster-scoped,
//! capabilities immutable.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors};
use crate::compute::positive_capabilities;
use crate::enums::{string_enum, validate_enum};
use crate::field::{ErrorList, FieldPath};
use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{ObjectMeta, validate_object_meta, validate_object_meta_update};
use crate::resources::{ResourceList, ResourceName};

/// The finalizer that keeps a volume class while volumes use it.
pub const VOLUME_CLASS_FINALIZER: &str = "storage.ironcore.dev/volumeclass";
/// The finalizer that keeps a bucket class while buckets use it.
pub const BUCKET_CLASS_FINALIZER: &str = "storage.ironcore.dev/bucketclass";

string_enum! {
    /// Whether a volume of the class may change size.
    ResizePolicy { Static => "Static", ExpandOnly => "ExpandOnly" }
}

/// A volume performance class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeClass {
    /// `storage.ironcore.dev/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `VolumeClass`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `tps` and `iops`, both > 0; immutable.
    #[serde(default)]
    pub capabilities: ResourceList,
    /// Static (default) or ExpandOnly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_policy: Option<ResizePolicy>,
}

/// A bucket performance class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketClass {
    /// `storage.ironcore.dev/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `BucketClass`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `tps` and `iops`, both > 0; immutable.
    #[serde(default)]
    pub capabilities: ResourceList,
}

const PERFORMANCE: &[&str] = &[ResourceName::TPS, ResourceName::IOPS];

impl Resource for VolumeClass {
    const KIND: Kind = Kind::VolumeClass;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        self.resize_policy.get_or_insert(ResizePolicy::Static);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, false, dns1123_subdomain);
        errs.extend(positive_capabilities(&self.capabilities, PERFORMANCE));
        errs.extend(validate_enum(
            self.resize_policy.as_ref(),
            FieldPath::new("resizePolicy"),
            "must specify resizePolicy",
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let path = FieldPath::new("capabilities");
        errs.extend(immutable(&self.capabilities, &old.capabilities, path));
        errs.extend(self.validate());
        errs
    }
}

impl Resource for BucketClass {
    const KIND: Kind = Kind::BucketClass;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, false, dns1123_subdomain);
        errs.extend(positive_capabilities(&self.capabilities, PERFORMANCE));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let path = FieldPath::new("capabilities");
        errs.extend(immutable(&self.capabilities, &old.capabilities, path));
        errs.extend(self.validate());
        errs
    }
}
