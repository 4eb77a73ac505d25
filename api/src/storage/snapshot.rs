//! VolumeSnapshot: a point-in-time copy of a volume.

use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, immutable, meta_accessors, spec_status_kind};
use crate::enums::string_enum;
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::{dns1123_subdomain, validate_ref_name};
use crate::meta::{Time, validate_object_meta, validate_object_meta_update};
use crate::quantity::Quantity;
use crate::refs::LocalObjectReference;

string_enum! {
    /// A snapshot's state.
    VolumeSnapshotState { Pending => "Pending", Ready => "Ready", Failed => "Failed" }
}

/// What a VolumeSnapshot should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotSpec {
    /// The volume to copy (immutable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_ref: Option<LocalObjectReference>,
}

/// What a VolumeSnapshot is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotStatus {
    /// The provider's id.
    #[serde(
        rename = "snapshotID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub snapshot_id: String,
    /// The state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VolumeSnapshotState>,
    /// When `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state_transition_time: Option<Time>,
    /// The snapshot's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
}

spec_status_kind!(
    /// A point-in-time copy of a volume.
    VolumeSnapshot,
    VolumeSnapshotSpec,
    VolumeSnapshotStatus
);

impl Resource for VolumeSnapshot {
    const KIND: Kind = Kind::VolumeSnapshot;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        self.status
            .state
            .get_or_insert(VolumeSnapshotState::Pending);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        let path = FieldPath::new("spec").child("volumeRef");
        match &self.spec.volume_ref {
            Some(r) => errs.extend(validate_ref_name(&r.name, path.child("name"))),
            None => errs.push(FieldError::required(
                path,
                "must specify the volume to snapshot",
            )),
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        let path = FieldPath::new("spec").child("volumeRef");
        errs.extend(immutable(&self.spec.volume_ref, &old.spec.volume_ref, path));
        errs.extend(self.validate());
        errs
    }
}
