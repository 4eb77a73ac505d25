//! Schedulers for Machines, Volumes and Buckets: one [`Scheduler`] per kind, with an
//! assume-then-bind cache so concurrent placements never over-commit a pool.
//!
//! Filters (a pool must pass all): `Ready=True` (for all three kinds; upstream checks it for
//! machine pools only), every taint tolerated (`NoSchedule` and `NoExecute`), the object's
//! equality pool selector, and the class with room: `class/machine.<c>` counts for machines,
//! `class/volume.<c>` bytes for volumes, the available class for buckets (no limit).
//!
//! Score: most remaining capacity of the class; ties go to the zone
//! (`topology.ironcore.dev/zone`) with the fewest objects placed, then to the pool name. An
//! ephemeral volume prefers its machine's zone. Buckets, without a capacity, go to the
//! least-loaded pool (upstream: at random).
//!
//! Pools are indexed by class and zone, sorted by remaining capacity: a placement looks at the
//! best pool of each zone (`O(zones · log pools)`), not at every pool.
//!
//! Driving it: feed pools and objects as the watch sees them ([`SchedulerInput`]); carry out
//! each [`Decision`] ([`decision_commands`]): a bind is a uid-guarded patch of the set-once pool
//! reference. The capacity stays assumed until the bound object comes back through the watch
//! (`ObjectUpserted` with `bound`), or is released by `BindFailed` or after
//! [`SchedulerConfig::assume_ttl`]. An unschedulable object gets `Scheduled=False` with a reason
//! and is retried whenever a pool changes or capacity is freed.

pub mod bench;
mod core;
mod index;
mod inputs;
#[cfg(test)]
mod tests;
mod types;

pub use core::{RETRY_BATCH_MAX, Scheduler, SchedulerConfig, SchedulerInput};
pub use inputs::{
    Prepared, bucket_pool_info, bucket_schedulable, decision_commands, machine_pool_info,
    machine_schedulable, volume_pool_info, volume_schedulable,
};
pub use types::{Capacity, Decision, PoolInfo, Schedulable, Unschedulable, ZONE_LABEL};
