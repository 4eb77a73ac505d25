//! `ferrocore bench schedule`'s core: many simulated pools and machines through the real
//! machine scheduler, with every bind confirmed as the watch would, and an independent count of
//! what each pool received. The peer is the same scheduler picking upstream's way (scan every
//! pool per machine, most remaining wins) on the same input.

use std::collections::BTreeMap;

use ferrocore_api::meta::Uid;
use ferrocore_api::{Kind, ObjectKey};
use ferrocore_runtime::{Clock, MonoTime, SystemClock};

use super::{
    Capacity, Decision, PoolInfo, Schedulable, Scheduler, SchedulerConfig, SchedulerInput,
    ZONE_LABEL,
};

/// Zones the simulated pools are spread over.
const ZONES: usize = 10;
/// Machine classes; machines alternate between them.
const CLASSES: [&str; 2] = ["x86-small", "x86-large"];

fn pools(n: usize, machines: usize) -> Vec<PoolInfo> {
    // Enough room for every machine, with one slot of slack per class and pool.
    let per_class = machines.div_ceil(CLASSES.len()).div_ceil(n.max(1)) + 1;
    let cap = i128::try_from(per_class).unwrap_or(i128::MAX);
    (0..n)
        .map(|i| PoolInfo {
            name: format!("pool-{i:05}"),
            labels: [(ZONE_LABEL.to_owned(), format!("zone-{}", i % ZONES))].into(),
            taints: Vec::new(),
            ready: true,
            deleting: false,
            classes: CLASSES
                .iter()
                .map(|c| ((*c).to_owned(), Capacity::Limited(cap)))
                .collect(),
        })
        .collect()
}

fn machine(i: usize) -> Schedulable {
    Schedulable {
        key: ObjectKey {
            kind: Kind::Machine,
            namespace: "bench".into(),
            name: format!("m-{i:06}"),
        },
        uid: Uid(format!("u-{i}")),
        class: CLASSES[i % CLASSES.len()].to_owned(),
        amount: 1,
        selector: Default::default(),
        tolerations: Vec::new(),
        preferred_zone: None,
        bound: None,
        deleting: false,
    }
}

fn overcommit(pools: &[PoolInfo], placed: &BTreeMap<(String, String), i128>) -> i128 {
    let mut worst = 0;
    for p in pools {
        for (class, cap) in &p.classes {
            let used = placed
                .get(&(p.name.clone(), class.clone()))
                .copied()
                .unwrap_or(0);
            if let Capacity::Limited(c) = cap {
                worst = worst.max(used - c);
            }
        }
    }
    worst
}

fn per_second(n: usize, start: MonoTime, end: MonoTime) -> f64 {
    let secs = end.saturating_since(start).as_secs_f64().max(1e-9);
    #[allow(clippy::cast_precision_loss)] // a count of placements, far below 2^52
    let n = n as f64;
    n / secs
}

/// Feeds pools, then machines one by one (each bind confirmed as the watch would confirm it);
/// returns placements per second and the largest over-commit, counted independently from the
/// decisions.
fn drive(mut s: Scheduler, pools_n: usize, machines: usize) -> (f64, i128) {
    let clock = SystemClock::new();
    let pools = pools(pools_n, machines);
    let now = MonoTime::ZERO;
    for p in &pools {
        s.handle(now, SchedulerInput::PoolUpserted(p.clone()));
    }
    let mut placed: BTreeMap<(String, String), i128> = BTreeMap::new();
    let mut count = 0;
    let start = clock.now();
    for i in 0..machines {
        let m = machine(i);
        for d in s.handle(now, SchedulerInput::ObjectUpserted(m.clone())) {
            if let Decision::Bind { pool, .. } = d {
                *placed.entry((pool.clone(), m.class.clone())).or_default() += 1;
                count += 1;
                let bound = Schedulable {
                    bound: Some(pool),
                    ..m.clone()
                };
                s.handle(now, SchedulerInput::ObjectUpserted(bound));
            }
        }
    }
    let end = clock.now();
    (per_second(count, start, end), overcommit(&pools, &placed))
}

/// Places `machines` machines on `pools` pools with the real scheduler. Returns placements per
/// second and the largest over-commit of any pool and class (0 when none).
pub fn run_schedule_bench(pools: usize, machines: usize) -> (f64, i128) {
    drive(Scheduler::new(SchedulerConfig::default()), pools, machines)
}

/// The peer: the same scheduler picking upstream's way, by scanning every pool for each
/// machine ([`Scheduler::scanning`]). Returns placements per second.
pub fn run_naive_schedule_bench(pools: usize, machines: usize) -> f64 {
    drive(
        Scheduler::scanning(SchedulerConfig::default()),
        pools,
        machines,
    )
    .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_places_everything_without_overcommit() {
        let (rate, over) = run_schedule_bench(50, 500);
        assert!(rate > 0.0);
        assert_eq!(over, 0);
        assert!(run_naive_schedule_bench(50, 500) > 0.0);
    }

    /// The full-size run: `cargo test --release -p ferrocore-actors full_size -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "a benchmark, not a test"]
    fn full_size() {
        let (rate, over) = run_schedule_bench(5_000, 50_000);
        let naive = run_naive_schedule_bench(5_000, 5_000);
        eprintln!(
            "indexed: {rate:.0} placements/s, max over-commit {over}; upstream-style scan: {naive:.0} placements/s"
        );
    }
}
