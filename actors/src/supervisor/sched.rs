//! Feeding the three schedulers (Machines, Volumes, Buckets) from the cache's changes, and the
//! decisions they return. Pure bookkeeping: the hub carries the decisions out.

use std::collections::{BTreeMap, BTreeSet};

use ferrocore_api::{Kind, Object, ObjectKey};
use ferrocore_runtime::MonoTime;

use super::cache::{Cache, Change};
use crate::reconcile::ObjectView;
use crate::scheduler::{
    Decision, Prepared, Scheduler, SchedulerConfig, SchedulerInput, bucket_pool_info,
    bucket_schedulable, machine_pool_info, machine_schedulable, volume_pool_info,
    volume_schedulable,
};

/// The scheduler of each schedulable kind, and which objects each was told about.
#[derive(Debug)]
pub(crate) struct Schedulers {
    by_kind: BTreeMap<Kind, Scheduler>,
    fed: BTreeSet<ObjectKey>,
}

/// A decision with the kind whose scheduler made it.
pub(crate) type Decided = (Kind, Decision);

fn scheduled_kind(pool_kind: Kind) -> Option<Kind> {
    match pool_kind {
        Kind::MachinePool => Some(Kind::Machine),
        Kind::VolumePool => Some(Kind::Volume),
        Kind::BucketPool => Some(Kind::Bucket),
        _ => None,
    }
}

impl Schedulers {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        Self {
            by_kind: [Kind::Machine, Kind::Volume, Kind::Bucket]
                .into_iter()
                .map(|k| (k, Scheduler::new(config)))
                .collect(),
            fed: BTreeSet::new(),
        }
    }

    /// Feeds every pool, then every object of the cache (a new session).
    pub(crate) fn load(&mut self, now: MonoTime, cache: &Cache) -> Vec<Decided> {
        let mut out = Vec::new();
        for pool_kind in [Kind::MachinePool, Kind::VolumePool, Kind::BucketPool] {
            for pool in cache.view().list(pool_kind, None) {
                out.extend(self.pool(now, pool_kind, &pool.meta().name.clone(), Some(pool)));
            }
        }
        for kind in [Kind::Machine, Kind::Volume, Kind::Bucket] {
            let keys: Vec<ObjectKey> = cache.view().list(kind, None).map(Object::key).collect();
            for key in keys {
                out.extend(self.object(now, &key, cache));
            }
        }
        out
    }

    /// Feeds one change.
    pub(crate) fn on_change(
        &mut self,
        now: MonoTime,
        change: &Change,
        cache: &Cache,
    ) -> Vec<Decided> {
        let key = &change.key;
        let mut out = Vec::new();
        if scheduled_kind(key.kind).is_some() {
            out.extend(self.pool(now, key.kind, &key.name, change.new.as_ref()));
        }
        if matches!(key.kind, Kind::Machine | Kind::Volume | Kind::Bucket) {
            out.extend(self.object(now, key, cache));
        }
        if key.kind == Kind::Machine {
            // Its ephemeral volumes wait for its placement (to follow its zone).
            for dependent in cache.naming(key) {
                if dependent.kind == Kind::Volume {
                    out.extend(self.object(now, &dependent, cache));
                }
            }
        }
        out
    }

    fn pool(
        &mut self,
        now: MonoTime,
        pool_kind: Kind,
        name: &str,
        pool: Option<&Object>,
    ) -> Vec<Decided> {
        let Some(kind) = scheduled_kind(pool_kind) else {
            return Vec::new();
        };
        let input = match pool {
            Some(Object::MachinePool(p)) => SchedulerInput::PoolUpserted(machine_pool_info(p)),
            Some(Object::VolumePool(p)) => SchedulerInput::PoolUpserted(volume_pool_info(p)),
            Some(Object::BucketPool(p)) => SchedulerInput::PoolUpserted(bucket_pool_info(p)),
            _ => SchedulerInput::PoolDeleted(name.to_owned()),
        };
        self.handle(now, kind, input)
    }

    fn object(&mut self, now: MonoTime, key: &ObjectKey, cache: &Cache) -> Vec<Decided> {
        let prepared = match cache.get(key) {
            Some(Object::Machine(m)) => Prepared::Ready(Box::new(machine_schedulable(m))),
            Some(Object::Volume(v)) => volume_schedulable(v, cache.view()),
            Some(Object::Bucket(b)) => bucket_schedulable(b),
            _ => Prepared::Skip,
        };
        match prepared {
            Prepared::Ready(s) => {
                self.fed.insert(key.clone());
                self.handle(now, key.kind, SchedulerInput::ObjectUpserted(*s))
            }
            Prepared::Skip | Prepared::Deferred if self.fed.remove(key) => {
                self.handle(now, key.kind, SchedulerInput::ObjectDeleted(key.clone()))
            }
            Prepared::Skip | Prepared::Deferred => Vec::new(),
        }
    }

    /// The bind of `key` definitely failed.
    pub(crate) fn bind_failed(
        &mut self,
        now: MonoTime,
        kind: Kind,
        key: ObjectKey,
    ) -> Vec<Decided> {
        self.handle(now, kind, SchedulerInput::BindFailed(key))
    }

    /// Time passed.
    pub(crate) fn tick(&mut self, now: MonoTime) -> Vec<Decided> {
        let kinds: Vec<Kind> = self.by_kind.keys().copied().collect();
        kinds
            .into_iter()
            .flat_map(|k| self.handle(now, k, SchedulerInput::Tick))
            .collect()
    }

    /// When to tick next: the earliest assumption expiry, or now while retries are queued.
    pub(crate) fn poll_timeout(&self, now: MonoTime) -> Option<MonoTime> {
        let retries = self.by_kind.values().any(Scheduler::has_retries);
        let expiry = self
            .by_kind
            .values()
            .filter_map(Scheduler::poll_timeout)
            .min();
        if retries { Some(now) } else { expiry }
    }

    fn handle(&mut self, now: MonoTime, kind: Kind, input: SchedulerInput) -> Vec<Decided> {
        let Some(s) = self.by_kind.get_mut(&kind) else {
            return Vec::new();
        };
        let out: Vec<Decided> = s
            .handle(now, input)
            .into_iter()
            .map(|d| (kind, d))
            .collect();
        if cfg!(debug_assertions) && self.fed.len() < 10_000 {
            s.check_invariants();
        }
        out
    }
}
