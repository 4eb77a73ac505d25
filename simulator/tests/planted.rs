//! Planted bugs (feature `planted-bugs`): the simulator must find each within 100 seeds, and the
//! seed that finds it must pass without the bug (so the finding is the bug's, not noise).
//!
//! `cargo test -p ferrocore-simulator --features planted-bugs --test planted` (add `--release` to
//! run it faster once built; scripts/sim-ci.sh uses the dev profile, whose dependencies CI has
//! already built).
#![cfg(feature = "planted-bugs")]

use ferrocore_simulator::{Options, PlantedBug, run_seed};

/// Seeds each planted bug may take to be found (the bound).
const SEEDS_MAX: u64 = 100;
/// Safety steps per seed: 10 s simulated, enough for a few crashes and partitions.
const STEPS: u64 = 1_000;

/// Runs seeds until one fails with the bug planted; returns that seed and the broken rule.
fn find(bug: PlantedBug) -> (u64, &'static str) {
    let options = Options {
        steps: STEPS,
        swarm: true,
        planted: Some(bug),
        ..Options::default()
    };
    for seed in 1..=SEEDS_MAX {
        let report = run_seed(seed, &options);
        if let Some(failure) = &report.failure {
            eprintln!("{bug}: {}", report.explain(&options));
            let clean = Options {
                planted: None,
                ..options.clone()
            };
            let control = run_seed(seed, &clean);
            assert!(
                control.failure.is_none(),
                "seed {seed} fails without the bug too: {}",
                control.explain(&clean)
            );
            return (seed, failure.violation.invariant);
        }
    }
    panic!("{bug} was not found within {SEEDS_MAX} seeds");
}

#[test]
fn ack_before_commit_is_found() {
    let (seed, rule) = find(PlantedBug::AckBeforeCommit);
    assert!(
        ["durability", "linearizability"].contains(&rule),
        "seed {seed}: {rule}"
    );
}

#[test]
fn double_ip_is_found() {
    let (seed, rule) = find(PlantedBug::DoubleIp);
    assert_eq!(rule, "ip_unique", "seed {seed}");
}

#[test]
fn skipped_resource_version_check_is_found() {
    let (seed, rule) = find(PlantedBug::SkipResourceVersionCheck);
    assert!(
        ["linearizability", "durability"].contains(&rule),
        "seed {seed}: {rule}"
    );
}
