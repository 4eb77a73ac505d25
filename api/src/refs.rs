//! References between objects and the condition type shared by every status.

use serde::{Deserialize, Serialize};

use crate::enums::string_enum;
use crate::meta::{Time, Uid};

/// A reference to an object in the same namespace (or a cluster-scoped one) by name.
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct LocalObjectReference {
    /// The referenced object's name.
    #[serde(default)]
    pub name: String,
}

impl LocalObjectReference {
    /// A reference to `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// A reference by name and uid: who claims an object (`Volume.claimRef`, `NIC.machineRef`).
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct LocalUidReference {
    /// The claimer's name.
    #[serde(default)]
    pub name: String,
    /// The claimer's uid.
    #[serde(default)]
    pub uid: Uid,
}

/// A key in a Secret.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct SecretKeySelector {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The key inside the Secret.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

string_enum! {
    /// A condition's status.
    ConditionStatus { True => "True", False => "False", StatusUnknown => "Unknown" }
}

/// A status condition (`Ready`, `VolumesReady`, ...).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The generation the condition was computed from.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// When the condition was last updated (pools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

// serde's skip_serializing_if needs a `fn(&T) -> bool`.
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

// serde's skip_serializing_if needs a `fn(&T) -> bool`.
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}
