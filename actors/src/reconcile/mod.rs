//! Reconcile cores: one pure function per controller, `(object, related objects, node reports)
//! → commands`. None of them reads a clock, draws randomness or does I/O: the runtime hands in
//! a [`Ctx`] (the time and a read view of the store and of node reports) and carries out the
//! [`Command`]s they return. They are level-triggered and idempotent: called again on the same
//! inputs after their commands were applied, they return nothing.
//!
//! | core | object | does |
//! |---|---|---|
//! | [`ephemeral`] | Machine, NetworkInterface, LoadBalancer | creates/deletes ephemeral NICs, Volumes, VirtualIPs, Prefixes |
//! | [`claim`] | Machine, NIC, Volume, VirtualIP | claims volumes/NICs/VIPs, releases claims whose claimer is gone |
//! | [`class_protection`] | Machine/Volume/BucketClass | in-use finalizers |
//! | [`network`] | Network | protection finalizer, `incomingPeerings`, peering status |
//! | [`nic`] | NetworkInterface | IPs and prefixes from IPAM, `Available` |
//! | [`lb_routing`] | LoadBalancer | the LoadBalancerRouting |
//! | [`gc`] | any | deletes objects whose owners are all gone |
//! | [`eviction`] | Machine | NoExecute eviction |
//! | [`devices`] | Machine (admission) | stable volume device names on update |
//! | [`machine`] | Machine | MachineRuntime requests, status from reports |
//! | [`volume`] | Volume | VolumeRuntime requests, status, access Secret |
//! | [`snapshot`] | VolumeSnapshot | snapshot requests, status |
//! | [`bucket`] | Bucket | BucketRuntime requests, status, access Secret |
//! | [`pool`] | node `Register` | pool objects, classes, capacity, allocatable |
//! | [`broker`] | node `Report` | what is accepted from which node |
//!
//! IPAM, quota, pool health and the schedulers live in their own modules
//! ([`crate::ipam`], [`crate::quota`], [`crate::health`], [`crate::scheduler`]).

use std::fmt;

use ferrocore_runtime::{MonoTime, WallTime};

pub mod broker;
pub mod bucket;
pub mod claim;
pub mod class_protection;
mod command;
pub mod devices;
pub mod ephemeral;
pub mod eviction;
pub mod gc;
pub mod lb_routing;
pub mod lifecycle;
pub mod machine;
pub mod network;
pub mod nic;
pub mod orphan;
pub mod pool;
pub mod snapshot;
#[cfg(test)]
pub(crate) mod testkit;
pub mod util;
mod view;
pub mod volume;

pub use command::{Command, EventType, NodeRequest, ObjectEvent, Precondition};
pub use view::{NodeReport, ObjectView, Observed, Reports, Snapshot, Typed, ViewExt};

/// Everything a core reads besides its object.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// Monotonic time, for timeouts.
    pub now: MonoTime,
    /// Wall time, for timestamps written into status.
    pub wall: WallTime,
    /// The objects in the store.
    pub view: &'a dyn ObjectView,
    /// What nodes last reported.
    pub reports: &'a Reports,
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("wall", &self.wall)
            .finish_non_exhaustive()
    }
}
