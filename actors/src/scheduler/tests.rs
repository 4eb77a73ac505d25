//! Filters, scoring, assume-then-bind, retries, and a property test against over-commit.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrocore_api::meta::Uid;
use ferrocore_api::{Kind, ObjectKey, Taint, TaintEffect, Toleration, TolerationOperator};
use ferrocore_runtime::MonoTime;
use proptest::prelude::*;

use super::*;

fn pool(name: &str, zone: &str, cap: i128) -> PoolInfo {
    PoolInfo {
        name: name.into(),
        labels: [(ZONE_LABEL.to_owned(), zone.to_owned())].into(),
        taints: Vec::new(),
        ready: true,
        deleting: false,
        classes: [("small".to_owned(), Capacity::Limited(cap))].into(),
    }
}

fn obj(name: &str) -> Schedulable {
    Schedulable {
        key: ObjectKey {
            kind: Kind::Machine,
            namespace: "ns".into(),
            name: name.into(),
        },
        uid: Uid(format!("uid-{name}")),
        class: "small".into(),
        amount: 1,
        selector: BTreeMap::new(),
        tolerations: Vec::new(),
        preferred_zone: None,
        bound: None,
        deleting: false,
    }
}

const T0: MonoTime = MonoTime::ZERO;

fn with_pools(pools: &[PoolInfo]) -> Scheduler {
    let mut s = Scheduler::new(SchedulerConfig::default());
    for p in pools {
        s.handle(T0, SchedulerInput::PoolUpserted(p.clone()));
    }
    s
}

fn bound_to(d: &[Decision]) -> Option<&str> {
    d.iter().find_map(|d| match d {
        Decision::Bind { pool, .. } => Some(pool.as_str()),
        Decision::Unschedulable { .. } => None,
    })
}

fn reason(d: &[Decision]) -> Option<String> {
    d.iter().find_map(|d| match d {
        Decision::Unschedulable { why, .. } => Some(why.to_string()),
        Decision::Bind { .. } => None,
    })
}

#[test]
fn most_room_then_least_loaded_zone_then_name() {
    let mut s = with_pools(&[pool("a", "z1", 2), pool("b", "z1", 3), pool("c", "z2", 3)]);
    // b and c tie at 3; both zones are empty: name decides.
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m1")))),
        Some("b")
    );
    // Now c (3 left) beats b (2 left).
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m2")))),
        Some("c")
    );
    // a, b, c all have 2: z1 holds 1 object, z2 holds 1: tie on load, a wins on name.
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m3")))),
        Some("a")
    );
    // b and c have 2 left, a has 1: z1 now holds 2 objects, z2 holds 1: c.
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m4")))),
        Some("c")
    );
    s.check_invariants();
}

#[test]
fn every_filter_has_its_reason() {
    let mut unready = pool("a", "z", 1);
    unready.ready = false;
    let mut s = with_pools(&[unready]);
    let d = s.handle(T0, SchedulerInput::ObjectUpserted(obj("m")));
    assert_eq!(reason(&d).unwrap(), "NoPoolReady: no pool is ready");

    let mut s = with_pools(&[pool("a", "z", 1)]);
    let mut m = obj("m");
    m.selector.insert("tier".into(), "gpu".into());
    let d = s.handle(T0, SchedulerInput::ObjectUpserted(m));
    assert!(reason(&d).unwrap().starts_with("NoPoolMatchesSelector"));

    let mut tainted = pool("a", "z", 1);
    tainted.taints.push(Taint {
        key: "drain".into(),
        value: String::new(),
        effect: TaintEffect::NoExecute,
    });
    let mut s = with_pools(&[tainted]);
    let d = s.handle(T0, SchedulerInput::ObjectUpserted(obj("m")));
    assert!(reason(&d).unwrap().starts_with("TaintsNotTolerated"));
    let mut tolerant = obj("t");
    tolerant.tolerations.push(Toleration {
        key: "drain".into(),
        operator: Some(TolerationOperator::Exists),
        ..Toleration::default()
    });
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(tolerant))),
        Some("a")
    );

    let mut s = with_pools(&[pool("a", "z", 0)]);
    let d = s.handle(T0, SchedulerInput::ObjectUpserted(obj("m")));
    assert_eq!(
        reason(&d).unwrap(),
        "InsufficientCapacity: class small: 1 requested, at most 0 left in a ready, matching pool"
    );
    let mut big = obj("b");
    big.class = "large".into();
    let d = s.handle(T0, SchedulerInput::ObjectUpserted(big));
    assert!(
        reason(&d)
            .unwrap()
            .contains("no ready, matching pool offers class large")
    );
}

#[test]
fn assumed_capacity_is_taken_until_the_bind_fails() {
    let mut s = with_pools(&[pool("a", "z", 1)]);
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m1")))),
        Some("a")
    );
    // The bind has not been seen yet, and still the slot is taken.
    let d = s.handle(T0, SchedulerInput::ObjectUpserted(obj("m2")));
    assert!(reason(&d).unwrap().starts_with("InsufficientCapacity"));
    // The reason is reported once, not on every event.
    assert!(
        s.handle(T0, SchedulerInput::ObjectUpserted(obj("m2")))
            .is_empty()
    );
    // m1's bind fails: m2 gets the slot right away, m1 waits.
    let d = s.handle(T0, SchedulerInput::BindFailed(obj("m1").key));
    assert_eq!(bound_to(&d), Some("a"));
    assert_eq!(s.counts(), (1, 1));
    s.check_invariants();
}

#[test]
fn pool_changes_and_freed_capacity_retry_waiting_objects() {
    let mut unready = pool("a", "z", 1);
    unready.ready = false;
    let mut s = with_pools(&[unready.clone()]);
    assert!(reason(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m1")))).is_some());
    unready.ready = true;
    let d = s.handle(T0, SchedulerInput::PoolUpserted(unready));
    assert_eq!(bound_to(&d), Some("a"));
    let mut bound = obj("m1");
    bound.bound = Some("a".into());
    s.handle(T0, SchedulerInput::ObjectUpserted(bound));
    assert!(reason(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m2")))).is_some());
    let d = s.handle(T0, SchedulerInput::ObjectDeleted(obj("m1").key));
    assert_eq!(bound_to(&d), Some("a"));
    s.check_invariants();
}

#[test]
fn unseen_binds_are_sent_again_keeping_the_capacity() {
    let mut s = with_pools(&[pool("a", "z", 1), pool("b", "z", 1)]);
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(obj("m")))),
        Some("a")
    );
    let ttl = SchedulerConfig::default().assume_ttl;
    assert_eq!(s.poll_timeout(), Some(T0 + ttl));
    assert!(s.handle(T0 + ttl, SchedulerInput::Tick).is_empty());
    let later = T0 + ttl + Duration::from_secs(1);
    let d = s.handle(later, SchedulerInput::Tick);
    assert_eq!(
        bound_to(&d),
        Some("a"),
        "the same pool: the first write may still land"
    );
    assert_eq!(s.counts(), (1, 0));
    assert_eq!(s.poll_timeout(), Some(later + ttl));
}

#[test]
fn ephemeral_volumes_prefer_their_machines_zone() {
    let mut s = with_pools(&[pool("a", "z1", 100), pool("b", "z2", 10)]);
    let mut v = obj("v");
    v.preferred_zone = Some("z2".into());
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(v))),
        Some("b")
    );
    // Without room there, the best pool elsewhere.
    let mut big = obj("big");
    big.amount = 50;
    big.preferred_zone = Some("z2".into());
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(big))),
        Some("a")
    );
}

#[test]
fn recreated_object_releases_the_old_placement() {
    let mut s = with_pools(&[pool("a", "z", 1)]);
    let mut m = obj("m");
    m.bound = Some("a".into());
    s.handle(T0, SchedulerInput::ObjectUpserted(m));
    let mut again = obj("m");
    again.uid = Uid("new".into());
    assert_eq!(
        bound_to(&s.handle(T0, SchedulerInput::ObjectUpserted(again))),
        Some("a")
    );
    s.check_invariants();
}

#[derive(Clone, Debug)]
enum Op {
    Pool(u8, u8, bool),
    Add(u8),
    Confirm(u8),
    Fail(u8),
    Delete(u8),
    Tick(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u8..4, any::<bool>()).prop_map(|(p, c, r)| Op::Pool(p, c, r)),
        (0u8..40).prop_map(Op::Add),
        (0u8..40).prop_map(Op::Confirm),
        (0u8..40).prop_map(Op::Fail),
        (0u8..40).prop_map(Op::Delete),
        (0u8..40).prop_map(Op::Tick),
    ]
}

proptest! {
    /// Whatever happens (pools changing readiness, binds failing or expiring, objects going), no
    /// pool ends up with more than its capacity (capacities only grow here: shrinking one below
    /// what is bound is the one way to over-commit, and it is the node's doing), and the index
    /// stays consistent.
    #[test]
    fn never_overcommits(ops in proptest::collection::vec(op(), 1..120)) {
        let mut s = Scheduler::new(SchedulerConfig::default());
        let mut binds: BTreeMap<String, String> = BTreeMap::new();
        let mut now = T0;
        let mut caps: BTreeMap<u8, u8> = BTreeMap::new();
        for op in ops {
            let out = match op {
                Op::Pool(p, cap, ready) => {
                    let cap = *caps.entry(p).and_modify(|c| *c = (*c).max(cap)).or_insert(cap);
                    let mut info = pool(&format!("p{p}"), &format!("z{}", p % 2), i128::from(cap));
                    info.ready = ready;
                    s.handle(now, SchedulerInput::PoolUpserted(info))
                }
                Op::Add(m) => s.handle(now, SchedulerInput::ObjectUpserted(obj(&format!("m{m}")))),
                Op::Confirm(m) => {
                    let name = format!("m{m}");
                    let Some(pool) = binds.get(&name).cloned() else { continue };
                    let mut o = obj(&name);
                    o.bound = Some(pool);
                    s.handle(now, SchedulerInput::ObjectUpserted(o))
                }
                Op::Fail(m) => {
                    // A definite failure: that bind can never land.
                    binds.remove(&format!("m{m}"));
                    s.handle(now, SchedulerInput::BindFailed(obj(&format!("m{m}")).key))
                }
                Op::Delete(m) => {
                    binds.remove(&format!("m{m}"));
                    s.handle(now, SchedulerInput::ObjectDeleted(obj(&format!("m{m}")).key))
                }
                Op::Tick(secs) => {
                    now = now + Duration::from_secs(u64::from(secs));
                    s.handle(now, SchedulerInput::Tick)
                }
            };
            for d in out {
                if let Decision::Bind { key, pool, .. } = d {
                    binds.insert(key.name, pool);
                }
            }
            s.check_invariants();
            prop_assert_eq!(s.max_overcommit(), 0);
        }
    }
}

proptest! {
    /// The index picks exactly what a scan of every pool picks (upstream's way, with the same
    /// filters and scoring), for any pools and any order of objects.
    #[test]
    fn index_agrees_with_a_full_scan(
        pools in proptest::collection::vec((0u8..5, 0u8..4, any::<bool>(), any::<bool>()), 1..12),
        objects in proptest::collection::vec((0u8..3, any::<bool>()), 1..40),
    ) {
        let mut indexed = Scheduler::new(SchedulerConfig::default());
        let mut scanned = Scheduler::scanning(SchedulerConfig::default());
        for (i, (cap, zone, ready, gpu)) in pools.into_iter().enumerate() {
            let mut p = pool(&format!("p{i:02}"), &format!("z{zone}"), i128::from(cap));
            p.ready = ready;
            if gpu {
                p.labels.insert("gpu".into(), "yes".into());
            }
            prop_assert_eq!(
                indexed.handle(T0, SchedulerInput::PoolUpserted(p.clone())),
                scanned.handle(T0, SchedulerInput::PoolUpserted(p))
            );
        }
        for (i, (amount, gpu)) in objects.into_iter().enumerate() {
            let mut o = obj(&format!("m{i:02}"));
            o.amount = i128::from(amount);
            if gpu {
                o.selector.insert("gpu".into(), "yes".into());
            }
            let a = indexed.handle(T0, SchedulerInput::ObjectUpserted(o.clone()));
            let b = scanned.handle(T0, SchedulerInput::ObjectUpserted(o));
            prop_assert_eq!(a, b);
        }
        indexed.check_invariants();
    }
}
