//! The scheduler state machine: assume-then-bind placement over the capacity index.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferrocore_api::ObjectKey;
use ferrocore_api::meta::Uid;
use ferrocore_runtime::MonoTime;

use super::index::Index;
use super::types::{Decision, PoolInfo, Schedulable, Unschedulable};

/// Most unschedulable objects retried per `handle` call: a pool change with 50,000 objects
/// waiting would otherwise stall the scheduler's mailbox; the rest follow on the next calls
/// (the runtime sends `Tick` while [`Scheduler::has_retries`]).
pub const RETRY_BATCH_MAX: usize = 4096;

/// Timing of the scheduler.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct SchedulerConfig {
    /// How long an assumed placement waits for its bind to show up before the bind is sent
    /// again (the write's outcome was lost); the capacity stays assumed meanwhile.
    pub assume_ttl: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            assume_ttl: Duration::from_secs(30),
        }
    }
}

/// What the scheduler is told.
#[derive(Clone, Debug)]
pub enum SchedulerInput {
    /// A pool appeared or changed.
    PoolUpserted(PoolInfo),
    /// A pool is gone.
    PoolDeleted(String),
    /// An object appeared or changed (bound or not).
    ObjectUpserted(Schedulable),
    /// An object is gone: its capacity is free again.
    ObjectDeleted(ObjectKey),
    /// Writing the bind definitely failed (conflict, object gone, ...): forget the
    /// assumption. Not for an unknown outcome (timeout): the watch, or the TTL's re-send,
    /// settles that.
    BindFailed(ObjectKey),
    /// Time passed: re-send binds not seen within the TTL, continue retries.
    Tick,
}

#[derive(Clone, Debug)]
enum Phase {
    /// Chosen, bind in flight, since this time.
    Assumed(MonoTime),
    /// Seen bound in the store.
    Bound,
}

#[derive(Clone, Debug)]
struct Placement {
    uid: Uid,
    pool: String,
    class: String,
    amount: i128,
    phase: Phase,
    /// The object as last seen, to place it again if the assumption is dropped.
    object: Schedulable,
}

/// A scheduler for one kind (machines, volumes or buckets).
#[derive(Clone, Debug, Default)]
pub struct Scheduler {
    config: SchedulerConfig,
    index: Index,
    placements: BTreeMap<ObjectKey, Placement>,
    /// Unplaced objects and the last reason reported for each.
    pending: BTreeMap<ObjectKey, (Schedulable, Option<Unschedulable>)>,
    /// Pending objects to try again.
    retry: BTreeSet<ObjectKey>,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// A scheduler that picks by scanning every pool for each object, as upstream does: the
    /// same decisions (but for the zone preference), for benchmarks to compare against.
    pub fn scanning(config: SchedulerConfig) -> Self {
        Self {
            config,
            index: Index::scanning(),
            ..Self::default()
        }
    }

    /// Feeds one input; returns the decisions to carry out.
    pub fn handle(&mut self, now: MonoTime, input: SchedulerInput) -> Vec<Decision> {
        let mut out = Vec::new();
        match input {
            SchedulerInput::PoolUpserted(info) => {
                if self.index.upsert_pool(info) {
                    self.retry_all();
                }
            }
            SchedulerInput::PoolDeleted(name) => {
                self.index.remove_pool(&name);
            }
            SchedulerInput::ObjectUpserted(s) => self.upsert(now, s, &mut out),
            SchedulerInput::ObjectDeleted(key) => {
                self.pending.remove(&key);
                self.retry.remove(&key);
                if self.release(&key).is_some() {
                    self.retry_all();
                }
            }
            SchedulerInput::BindFailed(key) => {
                if let Some(p) = self.placements.get(&key)
                    && matches!(p.phase, Phase::Assumed(_))
                    && let Some(p) = self.release(&key)
                {
                    self.pending.insert(key.clone(), (p.object, None));
                    self.retry.insert(key);
                }
            }
            SchedulerInput::Tick => self.expire(now, &mut out),
        }
        self.run_retries(now, &mut out);
        out
    }

    /// Whether retries are queued (send `Tick` soon).
    pub fn has_retries(&self) -> bool {
        !self.retry.is_empty()
    }

    /// When the oldest assumption expires, if any.
    pub fn poll_timeout(&self) -> Option<MonoTime> {
        self.placements
            .values()
            .filter_map(|p| match p.phase {
                Phase::Assumed(since) => Some(since + self.config.assume_ttl),
                Phase::Bound => None,
            })
            .min()
    }

    /// How many objects are placed (assumed or bound) and waiting.
    pub fn counts(&self) -> (usize, usize) {
        (self.placements.len(), self.pending.len())
    }

    /// The pool an object is placed in (assumed or bound).
    pub fn placement(&self, key: &ObjectKey) -> Option<&str> {
        self.placements.get(key).map(|p| p.pool.as_str())
    }

    /// The largest amount any pool is over its capacity by (0: none is).
    pub fn max_overcommit(&self) -> i128 {
        self.index.max_overcommit()
    }

    /// Checks internal consistency (tests and simulation; O(everything)).
    pub fn check_invariants(&self) {
        self.index.check_invariants();
        for key in self.pending.keys() {
            assert!(
                !self.placements.contains_key(key),
                "{key} both pending and placed"
            );
        }
        for key in &self.retry {
            assert!(
                self.pending.contains_key(key),
                "{key} queued for retry but not pending"
            );
        }
    }

    fn upsert(&mut self, now: MonoTime, s: Schedulable, out: &mut Vec<Decision>) {
        let key = s.key.clone();
        if let Some(p) = self.placements.get(&key)
            && p.uid != s.uid
        {
            // A recreated object: the old one's placement is void.
            self.release(&key);
        }
        if let Some(pool) = s.bound.clone() {
            self.pending.remove(&key);
            self.retry.remove(&key);
            self.confirm(s, pool);
            return;
        }
        if s.deleting {
            self.pending.remove(&key);
            self.retry.remove(&key);
            return;
        }
        if self.placements.contains_key(&key) {
            // Assumed: the bind is in flight.
            return;
        }
        self.retry.remove(&key);
        self.place(now, s, out);
    }

    /// Records `s` as bound to `pool`, moving an assumption if it pointed elsewhere.
    fn confirm(&mut self, s: Schedulable, pool: String) {
        let key = s.key.clone();
        if let Some(p) = self.placements.get_mut(&key)
            && p.pool == pool
            && p.class == s.class
            && p.amount == s.amount
        {
            p.phase = Phase::Bound;
            p.object = s;
            return;
        }
        self.release(&key);
        self.index.charge(&pool, &s.class, s.amount, 1);
        self.placements.insert(
            key,
            Placement {
                uid: s.uid.clone(),
                pool,
                class: s.class.clone(),
                amount: s.amount,
                phase: Phase::Bound,
                object: s,
            },
        );
    }

    fn place(&mut self, now: MonoTime, s: Schedulable, out: &mut Vec<Decision>) {
        let key = s.key.clone();
        match self.index.pick(&s) {
            Ok(pool) => {
                self.pending.remove(&key);
                self.index.charge(&pool, &s.class, s.amount, 1);
                out.push(Decision::Bind {
                    key: key.clone(),
                    uid: s.uid.clone(),
                    pool: pool.clone(),
                });
                self.placements.insert(
                    key,
                    Placement {
                        uid: s.uid.clone(),
                        pool,
                        class: s.class.clone(),
                        amount: s.amount,
                        phase: Phase::Assumed(now),
                        object: s,
                    },
                );
            }
            Err(why) => {
                let last = self.pending.get(&key).and_then(|(_, w)| w.clone());
                if last.as_ref() != Some(&why) {
                    out.push(Decision::Unschedulable {
                        key: key.clone(),
                        uid: s.uid.clone(),
                        why: why.clone(),
                    });
                }
                self.pending.insert(key, (s, Some(why)));
            }
        }
    }

    fn release(&mut self, key: &ObjectKey) -> Option<Placement> {
        let p = self.placements.remove(key)?;
        self.index.charge(&p.pool, &p.class, -p.amount, -1);
        Some(p)
    }

    fn retry_all(&mut self) {
        self.retry.extend(self.pending.keys().cloned());
    }

    fn run_retries(&mut self, now: MonoTime, out: &mut Vec<Decision>) {
        for _ in 0..RETRY_BATCH_MAX {
            let Some(key) = self.retry.pop_first() else {
                return;
            };
            if let Some((s, _)) = self.pending.get(&key) {
                let s = s.clone();
                self.place(now, s, out);
            }
        }
    }

    /// Re-sends binds whose outcome was not seen within the TTL. The capacity stays assumed:
    /// releasing it while the first write might still land is how a pool gets over-committed.
    /// Only a definite failure ([`SchedulerInput::BindFailed`]) or the object's deletion frees it.
    fn expire(&mut self, now: MonoTime, out: &mut Vec<Decision>) {
        let ttl = self.config.assume_ttl;
        for (key, p) in &mut self.placements {
            if let Phase::Assumed(since) = p.phase
                && now.saturating_since(since) > ttl
            {
                p.phase = Phase::Assumed(now);
                out.push(Decision::Bind {
                    key: key.clone(),
                    uid: p.uid.clone(),
                    pool: p.pool.clone(),
                });
            }
        }
    }
}
