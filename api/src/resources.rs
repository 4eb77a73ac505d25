//! Resource names and resource lists (`cpu: 4`, `memory: 16Gi`, `class/machine.small: 10`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::quantity::Quantity;

/// The name of a resource in a [`ResourceList`].
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceName(pub String);

impl ResourceName {
    /// `cpu`, in cores.
    pub const CPU: &'static str = "cpu";
    /// `memory`, in bytes.
    pub const MEMORY: &'static str = "memory";
    /// `storage`, in bytes.
    pub const STORAGE: &'static str = "storage";
    /// `tps`, throughput (bytes per second).
    pub const TPS: &'static str = "tps";
    /// `iops`, operations per second.
    pub const IOPS: &'static str = "iops";
    /// `requests.cpu` (quota).
    pub const REQUESTS_CPU: &'static str = "requests.cpu";
    /// `requests.memory` (quota).
    pub const REQUESTS_MEMORY: &'static str = "requests.memory";
    /// `requests.storage` (quota).
    pub const REQUESTS_STORAGE: &'static str = "requests.storage";
    /// `requests.tps` (quota).
    pub const REQUESTS_TPS: &'static str = "requests.tps";
    /// `requests.iops` (quota).
    pub const REQUESTS_IOPS: &'static str = "requests.iops";
    /// `count/machines.compute.ironcore.dev` (quota).
    pub const COUNT_MACHINES: &'static str = "count/machines.compute.ironcore.dev";
    /// `count/volumes.storage.ironcore.dev` (quota).
    pub const COUNT_VOLUMES: &'static str = "count/volumes.storage.ironcore.dev";
    /// `count/buckets.storage.ironcore.dev` (quota).
    pub const COUNT_BUCKETS: &'static str = "count/buckets.storage.ironcore.dev";

    /// The resource names a ResourceQuota may limit.
    pub const QUOTA_NAMES: &'static [&'static str] = &[
        Self::COUNT_MACHINES,
        Self::REQUESTS_CPU,
        Self::REQUESTS_MEMORY,
        Self::COUNT_VOLUMES,
        Self::REQUESTS_STORAGE,
        Self::COUNT_BUCKETS,
        Self::REQUESTS_TPS,
        Self::REQUESTS_IOPS,
    ];

    /// A name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// `class/machine.<class>`: pool capacity of a machine class (an instance count).
    pub fn machine_class(class: &str) -> Self {
        Self(format!("class/machine.{class}"))
    }

    /// `class/volume.<class>`: pool capacity of a volume class (bytes).
    pub fn volume_class(class: &str) -> Self {
        Self(format!("class/volume.{class}"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resource quantities by name.
pub type ResourceList = BTreeMap<ResourceName, Quantity>;

/// The quantity of `name` in `list`, or zero.
pub fn quantity_of(list: &ResourceList, name: &str) -> Quantity {
    list.get(&ResourceName::new(name))
        .copied()
        .unwrap_or(Quantity::ZERO)
}
