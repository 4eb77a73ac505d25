//! Volume: a block volume of a class in a pool, claimable by one machine; and the volume
//! template machines embed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::common::{
    Resource, default_type_meta, immutable, meta_accessors, set_once, spec_status_kind,
};
use crate::enums::string_enum;
use crate::field::{BadValue, ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{ObjectMeta, Time, validate_object_meta, validate_object_meta_update};
use crate::refs::{Condition, LocalObjectReference, LocalUidReference};
use crate::resources::{ResourceList, ResourceName};
use crate::selector::{Labels, validate_labels};
use crate::taints::{Toleration, validate_tolerations};

use crate::meta::names::validate_ref_name;

/// The Secret type holding a volume encryption key (`encryptionKey`).
pub const SECRET_TYPE_VOLUME_ENCRYPTION: &str = "storage.ironcore.dev/volume-encryption";
/// The Secret type holding volume access credentials.
pub const SECRET_TYPE_VOLUME_AUTH: &str = "storage.ironcore.dev/volume-auth";

string_enum! {
    /// A volume's state.
    VolumeState { Pending => "Pending", Available => "Available", Error => "Error" }
}

/// Encryption of a volume with a key from a Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeEncryption {
    /// The Secret with key `encryptionKey`.
    #[serde(default)]
    pub secret_ref: LocalObjectReference,
}

/// An OS image to populate a volume from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OsDataSource {
    /// The image (`gardenlinux:rootfs-image`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// The architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// Where a volume's initial data comes from (at most one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeDataSource {
    /// Restore from a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_ref: Option<LocalObjectReference>,
    /// Populate from an OS image.
    #[serde(rename = "osImage", default, skip_serializing_if = "Option::is_none")]
    pub os_image: Option<OsDataSource>,
}

/// What a Volume should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// The class (immutable); without one an external controller provisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_class_ref: Option<LocalObjectReference>,
    /// Labels a pool must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_pool_selector: Labels,
    /// The pool (set once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_pool_ref: Option<LocalObjectReference>,
    /// The machine using the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<LocalUidReference>,
    /// `storage`: the size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceList>,
    /// Whether no machine may claim it.
    #[serde(default, skip_serializing_if = "crate::refs::is_false")]
    pub unclaimable: bool,
    /// Tolerated pool taints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Encryption (immutable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<VolumeEncryption>,
    /// The initial data.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub data_source: VolumeDataSource,
}

/// How a machine reaches the volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeAccess {
    /// The Secret with credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// The driver (`ceph`, `local`).
    pub driver: String,
    /// The driver's handle (image or path).
    pub handle: String,
    /// Driver attributes (monitors, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volume_attributes: BTreeMap<String, String>,
}

/// What a Volume is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStatus {
    /// The provider's id (`TYPE://ID`).
    #[serde(rename = "volumeID", default, skip_serializing_if = "String::is_empty")]
    pub volume_id: String,
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VolumeState>,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state_transition_time: Option<Time>,
    /// How to attach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<VolumeAccess>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The effective size.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub resources: ResourceList,
}

spec_status_kind!(
    /// A block volume.
    Volume,
    VolumeSpec,
    VolumeStatus
);

/// A Volume template inside a Machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeTemplateSpec {
    /// Labels and annotations only.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub metadata: ObjectMeta,
    /// The volume's spec.
    #[serde(default)]
    pub spec: VolumeSpec,
}

impl Resource for Volume {
    const KIND: Kind = Kind::Volume;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        self.status.state.get_or_insert(VolumeState::Pending);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        errs.extend(validate_volume_spec(&self.spec, &FieldPath::new("spec")));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let (new, prev, path) = (&self.spec, &old.spec, FieldPath::new("spec"));
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let class = path.child("volumeClassRef");
        errs.extend(immutable(
            &new.volume_class_ref,
            &prev.volume_class_ref,
            class,
        ));
        errs.extend(set_once(
            new.volume_pool_ref.as_ref(),
            prev.volume_pool_ref.as_ref(),
            |r| r.map_or(BadValue::Null, |r| BadValue::from(&r.name)),
            path.child("volumePoolRef"),
        ));
        errs.extend(immutable(
            &new.encryption,
            &prev.encryption,
            path.child("encryption"),
        ));
        errs.extend(self.validate());
        errs
    }
}

/// Validation of a template's metadata: only labels and annotations may be set.
pub(crate) fn validate_template_meta(meta: &ObjectMeta, path: &FieldPath, what: &str) -> ErrorList {
    let mut errs = validate_labels(&meta.labels, &path.child("labels"));
    let allowed = ObjectMeta {
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
        ..ObjectMeta::default()
    };
    if *meta != allowed {
        let detail = format!("only labels and annotations can be set for {what}");
        errs.push(FieldError::forbidden(path.clone(), detail));
    }
    errs
}

/// Validation of a volume template (a Machine's ephemeral volume).
pub fn validate_volume_template_spec(t: &VolumeTemplateSpec, path: &FieldPath) -> ErrorList {
    let mut errs =
        validate_template_meta(&t.metadata, &path.child("metadata"), "a volume template");
    errs.extend(validate_volume_spec(&t.spec, &path.child("spec")));
    errs
}

fn validate_classless(spec: &VolumeSpec, path: &FieldPath) -> ErrorList {
    let mut errs = ErrorList::new();
    let msg = "must not specify if volume class is empty";
    let forbidden = [
        (!spec.volume_pool_selector.is_empty(), "volumePoolSelector"),
        (spec.volume_pool_ref.is_some(), "volumePoolRef"),
        (spec.resources.is_some(), "resources"),
        (spec.tolerations.is_some(), "tolerations"),
        (spec.data_source.os_image.is_some(), "dataSource.osImage"),
    ];
    for (set, field) in forbidden {
        if set {
            errs.push(FieldError::forbidden(path.child(field), msg));
        }
    }
    errs
}

fn validate_classed(
    spec: &VolumeSpec,
    class: &LocalObjectReference,
    path: &FieldPath,
) -> ErrorList {
    let mut errs = validate_ref_name(&class.name, path.child("volumeClassRef").child("name"));
    errs.extend(validate_labels(
        &spec.volume_pool_selector,
        &path.child("volumePoolSelector"),
    ));
    if let Some(pool) = &spec.volume_pool_ref {
        errs.extend(validate_ref_name(
            &pool.name,
            path.child("volumePoolRef").child("name"),
        ));
    }
    let storage_path = path.child("resources").key(ResourceName::STORAGE);
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.get(&ResourceName::new(ResourceName::STORAGE)));
    match storage {
        None => errs.push(FieldError::required(storage_path, "must specify storage")),
        Some(q) if q.is_zero() || q.is_negative() => errs.push(FieldError::invalid(
            storage_path,
            BadValue::Raw(q.to_string()),
            "must be greater than zero",
        )),
        Some(_) => {}
    }
    if let Some(tolerations) = &spec.tolerations {
        errs.extend(validate_tolerations(
            tolerations,
            &path.child("tolerations"),
        ));
    }
    errs
}

/// Validation of a volume spec (shared by Volume and templates).
pub(crate) fn validate_volume_spec(spec: &VolumeSpec, path: &FieldPath) -> ErrorList {
    let mut errs = match &spec.volume_class_ref {
        Some(class) => validate_classed(spec, class, path),
        None => validate_classless(spec, path),
    };
    if spec.unclaimable && spec.claim_ref.is_some() {
        errs.push(FieldError::forbidden(
            path.child("claimRef"),
            "cannot specify unclaimable and claimRef",
        ));
    } else if let Some(claim) = &spec.claim_ref {
        errs.extend(validate_ref_name(
            &claim.name,
            path.child("claimRef").child("name"),
        ));
    }
    if let Some(enc) = &spec.encryption {
        let p = path.child("encryption").child("secretRef").child("name");
        errs.extend(validate_ref_name(&enc.secret_ref.name, p));
    }
    let ds = &spec.data_source;
    if let Some(snap) = &ds.volume_snapshot_ref {
        let p = path.child("dataSource");
        if ds.os_image.is_some() {
            errs.push(FieldError::forbidden(
                p.child("osImage"),
                "must only specify one volume data source",
            ));
        }
        errs.extend(validate_ref_name(
            &snap.name,
            p.child("volumeSnapshotRef").child("name"),
        ));
    }
    errs
}

/// The resize rule of the volume's class (upstream `VolumeResizePolicy` admission): a Static
/// class forbids any change of `spec.resources.storage`, an ExpandOnly class forbids shrinking.
pub fn validate_volume_resize(new: &Volume, old: &Volume, class: &super::VolumeClass) -> ErrorList {
    let storage = |v: &Volume| {
        v.spec
            .resources
            .as_ref()
            .and_then(|r| r.get(&ResourceName::new(ResourceName::STORAGE)))
            .copied()
    };
    let (new_size, old_size) = (storage(new), storage(old));
    let mut errs = ErrorList::new();
    if new_size == old_size {
        return errs;
    }
    let path = FieldPath::new("spec")
        .child("resources")
        .key(ResourceName::STORAGE);
    let shown = BadValue::Raw(new_size.map(|q| q.to_string()).unwrap_or_default());
    match class
        .resize_policy
        .clone()
        .unwrap_or(super::ResizePolicy::Static)
    {
        super::ResizePolicy::ExpandOnly if new_size >= old_size => {}
        super::ResizePolicy::ExpandOnly => errs.push(FieldError::invalid(
            path,
            shown,
            "volume class resize policy ExpandOnly does not allow shrinking",
        )),
        _ => errs.push(FieldError::invalid(
            path,
            shown,
            "volume class resize policy Static does not allow resizing",
        )),
    }
    errs
}
