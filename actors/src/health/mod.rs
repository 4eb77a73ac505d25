//! Pool health for all three pool kinds (upstream has it for MachinePools only): every node
//! heartbeat renews an in-memory lease per pool; a pool whose lease is not renewed within the
//! grace period becomes `Ready=Unknown` (`<Kind>StatusUnknown`), a heartbeat whose runtime
//! probe failed makes it `Ready=False` (`RuntimeUnreachable`), and a good heartbeat makes it
//! `Ready=True` (`HeartbeatReceived`). The pool's `state` follows (`Ready`/`Error`/`Offline`
//! for MachinePools, `Available`/`Unavailable` for storage pools: upstream never sets anything
//! but `Ready`).
//!
//! Leases live in the leader's memory, not the store: a heartbeat every 10 s per pool would
//! otherwise be a Raft write. Only transitions are written. A new leader counts the grace
//! period from its own start, so a failover does not mark every pool Unknown.
//!
//! Sans-IO: [`PoolHealth::handle`] takes the time and an input and returns [`Transition`]s;
//! [`PoolHealth::poll_timeout`] says when to call it with [`HealthInput::Tick`] next.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrocore_api::compute::MachinePoolState;
use ferrocore_api::iri::protocol::{PoolKind, PoolRef};
use ferrocore_api::storage::StoragePoolState;
use ferrocore_api::{Condition, ConditionStatus, Object};
use ferrocore_runtime::{MonoTime, WallTime};

use crate::reconcile::Command;
use crate::reconcile::util::{ConditionUpdate, api_time, condition, set_condition, status_update};

/// Timing of heartbeats, with upstream's defaults (machinepoollet `--heartbeat-interval`,
/// `--heartbeat-lease-duration`; controller-manager `--machine-pool-lifecycle-grace-period`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct HealthConfig {
    /// How often a node sends a heartbeat (told to nodes when they register).
    pub heartbeat_interval: Duration,
    /// How long a node may consider its lease valid without a renewal (nodes use it to notice
    /// they lost the controllers).
    pub lease_duration: Duration,
    /// How long without a heartbeat until a pool is `Ready=Unknown`.
    pub grace_period: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            lease_duration: Duration::from_secs(40),
            grace_period: Duration::from_secs(50),
        }
    }
}

/// What the health core is told.
#[derive(Clone, Debug)]
pub enum HealthInput {
    /// A node's heartbeat for one pool.
    Heartbeat {
        /// The pool.
        pool: PoolRef,
        /// Whether the node reached the pool's runtime.
        runtime_ok: bool,
        /// Why not.
        message: String,
    },
    /// A pool as the store holds it now (on start and on every change): its `Ready` condition.
    Observed {
        /// The pool.
        pool: PoolRef,
        /// Its `Ready` status and reason, if it has the condition.
        ready: Option<(ConditionStatus, String)>,
    },
    /// The pool is gone from the store.
    Removed(PoolRef),
    /// Time passed.
    Tick,
}

/// A `Ready` condition a pool should get.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Transition {
    /// The pool.
    pub pool: PoolRef,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// CamelCase reason.
    pub reason: String,
    /// Human message.
    pub message: String,
}

#[derive(Clone, Debug)]
struct Tracked {
    /// Last heartbeat, or when this leader started tracking the pool.
    renewed: MonoTime,
    /// What the store says now.
    stored: Option<(ConditionStatus, String)>,
    /// What the last heartbeat said.
    heartbeat: Option<(bool, String)>,
}

/// The pool health state machine.
#[derive(Clone, Debug)]
pub struct PoolHealth {
    config: HealthConfig,
    pools: BTreeMap<PoolRef, Tracked>,
}

/// The reason of a pool whose lease expired, per kind (upstream: `MachinePoolStatusUnknown`).
pub fn unknown_reason(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Machine => "MachinePoolStatusUnknown",
        PoolKind::Volume => "VolumePoolStatusUnknown",
        PoolKind::Bucket => "BucketPoolStatusUnknown",
    }
}

impl PoolHealth {
    /// A health core with `config`.
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config,
            pools: BTreeMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> HealthConfig {
        self.config
    }

    /// Feeds one input; returns the `Ready` conditions to write.
    pub fn handle(&mut self, now: MonoTime, input: HealthInput) -> Vec<Transition> {
        match input {
            HealthInput::Heartbeat {
                pool,
                runtime_ok,
                message,
            } => {
                let t = self.track(now, &pool);
                t.renewed = now;
                t.heartbeat = Some((runtime_ok, message));
                self.evaluate(now, &pool).into_iter().collect()
            }
            HealthInput::Observed { pool, ready } => {
                self.track(now, &pool).stored = ready;
                self.evaluate(now, &pool).into_iter().collect()
            }
            HealthInput::Removed(pool) => {
                self.pools.remove(&pool);
                Vec::new()
            }
            HealthInput::Tick => {
                let pools: Vec<PoolRef> = self.pools.keys().cloned().collect();
                pools.iter().filter_map(|p| self.evaluate(now, p)).collect()
            }
        }
    }

    /// When the next lease expires (call `handle(Tick)` then), if any pool is tracked.
    pub fn poll_timeout(&self) -> Option<MonoTime> {
        self.pools
            .values()
            .filter(|t| {
                t.stored
                    .as_ref()
                    .is_none_or(|s| s.0 != ConditionStatus::StatusUnknown)
            })
            .map(|t| t.renewed + self.config.grace_period)
            .min()
    }

    fn track(&mut self, now: MonoTime, pool: &PoolRef) -> &mut Tracked {
        self.pools.entry(pool.clone()).or_insert(Tracked {
            renewed: now,
            stored: None,
            heartbeat: None,
        })
    }

    fn evaluate(&mut self, now: MonoTime, pool: &PoolRef) -> Option<Transition> {
        let t = self.pools.get(pool)?;
        let expired = now.saturating_since(t.renewed) > self.config.grace_period;
        let (status, reason, message) = match (&t.heartbeat, expired) {
            (_, true) => (
                ConditionStatus::StatusUnknown,
                unknown_reason(pool.kind),
                format!("no heartbeat for {} s", self.config.grace_period.as_secs()),
            ),
            (Some((true, _)), false) => (ConditionStatus::True, "HeartbeatReceived", String::new()),
            (Some((false, why)), false) => {
                (ConditionStatus::False, "RuntimeUnreachable", why.clone())
            }
            // No heartbeat since this leader started, grace not over: keep what is stored.
            (None, false) => return None,
        };
        if t.stored
            .as_ref()
            .is_some_and(|(s, r)| *s == status && r == reason)
        {
            return None;
        }
        let transition = Transition {
            pool: pool.clone(),
            status: status.clone(),
            reason: reason.to_owned(),
            message,
        };
        // Assume the write lands; the store's echo (Observed) confirms or corrects it.
        if let Some(t) = self.pools.get_mut(pool) {
            t.stored = Some((status, reason.to_owned()));
        }
        Some(transition)
    }
}

/// The current `Ready` condition of a pool object, as [`HealthInput::Observed`] wants it.
pub fn stored_ready(pool: &Object) -> Option<(ConditionStatus, String)> {
    let conditions: &[Condition] = match pool {
        Object::MachinePool(p) => &p.status.conditions,
        Object::VolumePool(p) => &p.status.conditions,
        Object::BucketPool(p) => &p.status.conditions,
        _ => return None,
    };
    condition(conditions, "Ready").map(|c| (c.status.clone(), c.reason.clone()))
}

/// The status write for a transition on `pool`: the `Ready` condition (with
/// `lastUpdateTime`) and the state that goes with it.
pub fn transition_command(pool: &Object, t: &Transition, wall: WallTime) -> Option<Command> {
    let now = api_time(wall);
    let update = ConditionUpdate {
        type_: "Ready",
        status: t.status.clone(),
        reason: &t.reason,
        message: &t.message,
        observed_generation: pool.meta().generation.0,
    };
    let set = |conditions: &mut Vec<Condition>| {
        set_condition(conditions, &update, now);
        if let Some(c) = conditions.iter_mut().find(|c| c.type_ == "Ready") {
            c.last_update_time = Some(now);
        }
    };
    let storage_state = match t.status {
        ConditionStatus::True => StoragePoolState::Available,
        _ => StoragePoolState::Unavailable,
    };
    match pool {
        Object::MachinePool(p) => {
            let mut s = p.status.clone();
            set(&mut s.conditions);
            s.state = Some(match t.status {
                ConditionStatus::True => MachinePoolState::Ready,
                ConditionStatus::False => MachinePoolState::Error,
                _ => MachinePoolState::Offline,
            });
            status_update(p, &p.status, &s)
        }
        Object::VolumePool(p) => {
            let mut s = p.status.clone();
            set(&mut s.conditions);
            s.state = Some(storage_state);
            status_update(p, &p.status, &s)
        }
        Object::BucketPool(p) => {
            let mut s = p.status.clone();
            set(&mut s.conditions);
            s.state = Some(storage_state);
            status_update(p, &p.status, &s)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
