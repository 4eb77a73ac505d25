//! The capacity index: pools by class and zone, sorted by remaining capacity, so a placement
//! looks at the best pool of each zone instead of scanning every pool.
//!
//! `by_class[class][zone]` holds `(Reverse(remaining), pool)` for every pool offering `class`;
//! its first entry that passes the filters is the zone's best pool. Usage is kept per
//! `(pool, class)` independently of the pool's existence, so a pool that disappears and comes
//! back finds its placements counted.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use ferrocore_api::{matches_map, tolerates_all};

use super::types::{Capacity, PoolInfo, Schedulable, Unschedulable};

/// What "unlimited" counts down from: far above any real capacity, far below overflow.
const UNLIMITED_BASE: i128 = 1 << 100;

type ZoneSets = BTreeMap<String, BTreeSet<(Reverse<i128>, String)>>;

/// Adds `delta` objects to a zone's load (no allocation when the zone is known).
fn add_load(load: &mut BTreeMap<String, u64>, zone: &str, delta: i128) {
    let apply = |n: u64| u64::try_from((i128::from(n) + delta).max(0)).unwrap_or(u64::MAX);
    match load.get_mut(zone) {
        Some(n) => *n = apply(*n),
        None => {
            load.insert(zone.to_owned(), apply(0));
        }
    }
}

/// Pools, usage and the sorted index.
#[derive(Clone, Debug, Default)]
pub(super) struct Index {
    pools: BTreeMap<String, PoolInfo>,
    /// pool → class → amount used (assumed and bound).
    usage: BTreeMap<String, BTreeMap<String, i128>>,
    /// pool → objects placed.
    counts: BTreeMap<String, u64>,
    /// Pick by scanning every pool (upstream's way) instead of the index: the benchmark's peer.
    scan: bool,
    zone_load: BTreeMap<String, u64>,
    by_class: BTreeMap<String, ZoneSets>,
}

impl Index {
    /// An index that picks by scanning every pool, as upstream does (the benchmark's peer).
    pub(super) fn scanning() -> Self {
        Self {
            scan: true,
            ..Self::default()
        }
    }

    fn used(&self, pool: &str, class: &str) -> i128 {
        self.usage
            .get(pool)
            .and_then(|c| c.get(class))
            .copied()
            .unwrap_or(0)
    }

    fn remaining(&self, info: &PoolInfo, class: &str) -> Option<i128> {
        let used = self.used(&info.name, class);
        Some(match info.classes.get(class)? {
            Capacity::Limited(c) => c.saturating_sub(used),
            Capacity::Unlimited => UNLIMITED_BASE.saturating_sub(used),
        })
    }

    fn unindex(&mut self, info: &PoolInfo) {
        for class in info.classes.keys() {
            let Some(rem) = self.remaining(info, class) else {
                continue;
            };
            if let Some(zones) = self.by_class.get_mut(class)
                && let Some(set) = zones.get_mut(info.zone())
            {
                set.remove(&(Reverse(rem), info.name.clone()));
                if set.is_empty() {
                    zones.remove(info.zone());
                }
            }
        }
    }

    fn index(&mut self, info: &PoolInfo) {
        for class in info.classes.keys() {
            let Some(rem) = self.remaining(info, class) else {
                continue;
            };
            self.by_class
                .entry(class.clone())
                .or_default()
                .entry(info.zone().to_owned())
                .or_default()
                .insert((Reverse(rem), info.name.clone()));
        }
    }

    fn zone_count(&mut self, zone: &str, pool: &str, add: bool) {
        let n = self.counts.get(pool).copied().unwrap_or(0);
        add_load(
            &mut self.zone_load,
            zone,
            if add { i128::from(n) } else { -i128::from(n) },
        );
    }

    /// Inserts or replaces a pool; returns whether anything the scheduler judges by changed.
    pub(super) fn upsert_pool(&mut self, info: PoolInfo) -> bool {
        if let Some(old) = self.pools.remove(&info.name) {
            if old == info {
                self.pools.insert(info.name.clone(), old);
                return false;
            }
            self.unindex(&old);
            self.zone_count(old.zone(), &old.name, false);
        }
        self.index(&info);
        self.zone_count(info.zone(), &info.name, true);
        self.pools.insert(info.name.clone(), info);
        true
    }

    /// Removes a pool (its usage stays recorded).
    pub(super) fn remove_pool(&mut self, name: &str) -> bool {
        let Some(old) = self.pools.remove(name) else {
            return false;
        };
        self.unindex(&old);
        self.zone_count(old.zone(), name, false);
        true
    }

    /// Adds (or with a negative amount, releases) usage of `class` in `pool`. Only the one
    /// index entry of `(pool, class)` moves; nothing is cloned on this path.
    pub(super) fn charge(&mut self, pool: &str, class: &str, amount: i128, objects: i64) {
        let before = self.pools.get(pool).and_then(|i| self.remaining(i, class));
        match self.usage.get_mut(pool) {
            Some(per_class) => match per_class.get_mut(class) {
                Some(u) => *u += amount,
                None => {
                    per_class.insert(class.to_owned(), amount);
                }
            },
            None => {
                let per_class = BTreeMap::from([(class.to_owned(), amount)]);
                self.usage.insert(pool.to_owned(), per_class);
            }
        }
        match self.counts.get_mut(pool) {
            Some(c) => *c = c.saturating_add_signed(objects),
            None => {
                self.counts
                    .insert(pool.to_owned(), u64::try_from(objects.max(0)).unwrap_or(0));
            }
        }
        let Some(info) = self.pools.get(pool) else {
            return;
        };
        let zone = info.zone();
        add_load(&mut self.zone_load, zone, i128::from(objects));
        let after = self.remaining(info, class);
        if let (Some(before), Some(after)) = (before, after)
            && let Some(set) = self.by_class.get_mut(class).and_then(|z| z.get_mut(zone))
        {
            let name = info.name.clone();
            set.remove(&(Reverse(before), name.clone()));
            set.insert((Reverse(after), name));
        }
    }

    fn passes(s: &Schedulable, info: &PoolInfo) -> bool {
        info.ready
            && !info.deleting
            && matches_map(&s.selector, &info.labels)
            && tolerates_all(&s.tolerations, &info.taints)
    }

    /// The best pool of one zone's set: the first that passes the filters and has room.
    fn best_in(
        &self,
        s: &Schedulable,
        set: &BTreeSet<(Reverse<i128>, String)>,
    ) -> Option<(i128, String)> {
        for (Reverse(rem), name) in set {
            if *rem < s.amount {
                return None;
            }
            if self
                .pools
                .get(name)
                .is_some_and(|info| Self::passes(s, info))
            {
                return Some((*rem, name.clone()));
            }
        }
        None
    }

    /// The pool for `s`: most remaining capacity, then the least loaded zone, then the name;
    /// a preferred zone with a fitting pool wins outright.
    pub(super) fn pick(&self, s: &Schedulable) -> Result<String, Unschedulable> {
        if self.scan {
            return self.pick_by_scan(s);
        }
        let zones = self.by_class.get(&s.class);
        if let Some(zone) = &s.preferred_zone
            && let Some((_, pool)) = zones
                .and_then(|z| z.get(zone))
                .and_then(|set| self.best_in(s, set))
        {
            return Ok(pool);
        }
        let best = zones
            .into_iter()
            .flatten()
            .filter_map(|(zone, set)| {
                let (rem, pool) = self.best_in(s, set)?;
                let load = self.zone_load.get(zone).copied().unwrap_or(0);
                Some((Reverse(rem), load, pool))
            })
            .min();
        best.map(|(_, _, pool)| pool)
            .ok_or_else(|| self.diagnose(s))
    }

    /// The same choice as [`Self::pick`] (less the zone preference), by looking at every pool.
    fn pick_by_scan(&self, s: &Schedulable) -> Result<String, Unschedulable> {
        self.pools
            .values()
            .filter(|p| Self::passes(s, p))
            .filter_map(|p| {
                let rem = self.remaining(p, &s.class).filter(|r| *r >= s.amount)?;
                let load = self.zone_load.get(p.zone()).copied().unwrap_or(0);
                Some((Reverse(rem), load, &p.name))
            })
            .min()
            .map(|(_, _, name)| name.clone())
            .ok_or_else(|| self.diagnose(s))
    }

    /// Why nothing fits `s` (a full scan, only on failure).
    pub(super) fn diagnose(&self, s: &Schedulable) -> Unschedulable {
        let ready: Vec<&PoolInfo> = self
            .pools
            .values()
            .filter(|p| p.ready && !p.deleting)
            .collect();
        if ready.is_empty() {
            return Unschedulable::NoPoolReady;
        }
        let matching: Vec<&PoolInfo> = ready
            .into_iter()
            .filter(|p| matches_map(&s.selector, &p.labels))
            .collect();
        if matching.is_empty() {
            return Unschedulable::NoPoolMatchesSelector;
        }
        let tolerated: Vec<&PoolInfo> = matching
            .into_iter()
            .filter(|p| tolerates_all(&s.tolerations, &p.taints))
            .collect();
        if tolerated.is_empty() {
            return Unschedulable::TaintsNotTolerated;
        }
        let most = tolerated
            .iter()
            .filter_map(|p| self.remaining(p, &s.class))
            .max();
        Unschedulable::InsufficientCapacity(match most {
            None => format!("no ready, matching pool offers class {}", s.class),
            Some(m) => format!(
                "class {}: {} requested, at most {} left in a ready, matching pool",
                s.class,
                s.amount,
                m.max(0)
            ),
        })
    }

    /// The largest amount by which any pool's usage exceeds its capacity (0 when none does).
    pub(super) fn max_overcommit(&self) -> i128 {
        self.pools
            .values()
            .flat_map(|p| {
                p.classes.iter().map(move |(class, cap)| match cap {
                    Capacity::Limited(c) => self.used(&p.name, class) - c,
                    Capacity::Unlimited => 0,
                })
            })
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// Checks the index against the pools and usage (tests and simulation).
    pub(super) fn check_invariants(&self) {
        let mut entries = 0usize;
        for (class, zones) in &self.by_class {
            for (zone, set) in zones {
                assert!(!set.is_empty(), "empty zone set {class}/{zone}");
                for (Reverse(rem), name) in set {
                    let info = &self.pools[name];
                    assert_eq!(info.zone(), zone, "pool {name} indexed in the wrong zone");
                    assert_eq!(
                        self.remaining(info, class),
                        Some(*rem),
                        "stale entry {name}/{class}"
                    );
                    entries += 1;
                }
            }
        }
        let expected: usize = self.pools.values().map(|p| p.classes.len()).sum();
        assert_eq!(entries, expected, "index misses pools");
        let mut load: BTreeMap<&str, u64> = BTreeMap::new();
        for p in self.pools.values() {
            *load.entry(p.zone()).or_default() += self.counts.get(&p.name).copied().unwrap_or(0);
        }
        for (zone, n) in &load {
            assert_eq!(
                self.zone_load.get(*zone).copied().unwrap_or(0),
                *n,
                "zone load {zone}"
            );
        }
    }
}
