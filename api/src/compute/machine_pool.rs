//! MachinePool: a set of hypervisors that run machines, announced by a compute node.

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
    /// A pool's state.
    MachinePoolState { Ready => "Ready", Pending => "Pending", Error => "Error", Offline => "Offline" }
}

string_enum! {
    /// The kind of a pool address.
    MachinePoolAddressType {
        Hostname => "Hostname",
        InternalIp => "InternalIP",
        ExternalIp => "ExternalIP",
        InternalDns => "InternalDNS",
        ExternalDns => "ExternalDNS",
    }
}

/// What a MachinePool should be.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinePoolSpec {
    /// The provider's id of the pool (immutable once set).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// Taints that keep machines off unless tolerated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// An address of the pool's node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachinePoolAddress {
    /// The kind of address.
    #[serde(rename = "type")]
    pub type_: MachinePoolAddressType,
    /// The address.
    pub address: String,
}

/// A daemon's port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonEndpoint {
    /// The port.
    pub port: i32,
}

/// The pool daemon's endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinePoolDaemonEndpoints {
    /// The node agent's endpoint (exec).
    #[serde(default)]
    pub machinepoollet_endpoint: DaemonEndpoint,
}

/// What a MachinePool is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinePoolStatus {
    /// The pool's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MachinePoolState>,
    /// `Ready` carries the pool's health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The classes the pool can run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available_machine_classes: Vec<LocalObjectReference>,
    /// Addresses of the pool's node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<MachinePoolAddress>,
    /// The node daemon's endpoints.
    #[serde(default, skip_serializing_if = "crate::common::is_default")]
    pub daemon_endpoints: MachinePoolDaemonEndpoints,
    /// Total instances per class (`class/machine.<name>`).
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub capacity: ResourceList,
    /// Instances per class still free.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub allocatable: ResourceList,
}

spec_status_kind!(
    /// A pool of hypervisors.
    MachinePool,
    MachinePoolSpec,
    MachinePoolStatus
);

impl Resource for MachinePool {
    const KIND: Kind = Kind::MachinePool;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, false, dns1123_subdomain);
        errs.extend(validate_taints(
            &self.spec.taints,
            &FieldPath::new("spec").child("taints"),
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        if !old.spec.provider_id.is_empty() {
            errs.extend(immutable(
                &self.spec.provider_id,
                &old.spec.provider_id,
                FieldPath::new("spec").child("providerID"),
            ));
        }
        errs.extend(self.validate());
        errs
    }
}
