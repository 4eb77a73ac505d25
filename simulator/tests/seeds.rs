//! Seeds of the simulator as tests (debug build, so short): a few seeds of both modes pass, and
//! a seed replays to the same trace hash — with the executor's own trace folded in.
//! The CI step `scripts/sim-ci.sh` runs hundreds of longer seeds in a release build.

use ferrocore_simulator::{Options, run_seed};

fn options(steps: u64, swarm: bool) -> Options {
    Options {
        steps,
        swarm,
        ..Options::default()
    }
}

#[test]
fn a_few_seeds_pass() {
    for (seed, swarm) in [(1, false), (2, true), (3, true)] {
        let opts = options(300, swarm);
        let report = run_seed(seed, &opts);
        assert!(report.failure.is_none(), "{}", report.explain(&opts));
        assert!(
            report.stats.ops > 0,
            "seed {seed}: clients ran: {}",
            report.stats
        );
        assert!(report.stats.revisions > 0, "seed {seed}: writes committed");
    }
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let opts = Options {
        executor_trace: true,
        ..options(200, true)
    };
    let a = run_seed(11, &opts);
    let b = run_seed(11, &opts);
    let c = run_seed(12, &opts);
    assert!(a.failure.is_none(), "{}", a.explain(&opts));
    assert_eq!(a.trace_hash, b.trace_hash, "same seed, same trace");
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another history");
    assert!(a.stats.trace_events > 200, "the trace records the run");
}

/// Without the `planted-bugs` feature a run asked to plant a bug refuses instead of passing
/// (a planted-bug run that silently ran without its bug would prove nothing).
#[cfg(not(feature = "planted-bugs"))]
#[test]
fn a_planted_bug_is_refused_without_the_feature() {
    let opts = Options {
        planted: Some(ferrocore_simulator::PlantedBug::DoubleIp),
        ..options(100, true)
    };
    let report = run_seed(1, &opts);
    let failure = report
        .failure
        .expect("a planted run without the feature fails");
    assert_eq!(failure.violation.invariant, "planted");
}
