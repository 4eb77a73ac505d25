//! Runs a batch of seeds from a release build of the simulator alone (the CI step uses it: the
//! `ferrocore` binary would pull in every backend's build). Same output as `ferrocore sim`.
//!
//! `cargo run --release -p ferrocore-simulator --example seeds -- FROM TO [--swarm]
//!  [--steps N] [--twice K] [--bench]` — `--twice K` runs the first K seeds again and compares
//!  trace hashes; `--bench` measures `TO - FROM` seeds as `ferrocore sim --bench` does.

use std::process::ExitCode;

use ferrocore_runtime::{Clock, SystemClock};
use ferrocore_simulator::{Options, bench, default_jobs, run_batch};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let flag = |name: &str| args.iter().position(|a| a == name);
    let (from, to) = (number(0, 1), number(1, 201));
    let steps = flag("--steps").map_or(ferrocore_simulator::STEPS_DEFAULT, |i| number(i + 1, 0));
    let twice = flag("--twice").map_or(0, |i| number(i + 1, 0));
    let options = Options {
        steps,
        swarm: flag("--swarm").is_some(),
        ..Options::default()
    };
    if flag("--bench").is_some() {
        return bench(to.saturating_sub(from), &options);
    }
    let clock = SystemClock::new();
    let start = clock.now();
    let reports = run_batch(from..to, &options, default_jobs(), &|r| {
        if r.failure.is_some() {
            println!("{}", r.explain(&options));
        }
    });
    let failed: Vec<u64> = reports
        .iter()
        .filter(|r| r.failure.is_some())
        .map(|r| r.seed)
        .collect();
    let sim: f64 = reports.iter().map(|r| r.stats.sim_time.as_secs_f64()).sum();
    let ops: usize = reports.iter().map(|r| r.stats.ops).sum();
    let wall = (clock.now() - start).as_secs_f64();
    println!(
        "{} seeds ({from}..{to}, {steps} steps, swarm {}): {} failed {failed:?}; {ops} client ops; \
         {sim:.0} s simulated in {wall:.1} s wall ({:.0}x real time)",
        reports.len(),
        options.swarm,
        failed.len(),
        sim / wall.max(1e-9)
    );
    let sample = from..(from + twice).min(to);
    let again = run_batch(sample.clone(), &options, default_jobs(), &|_| {});
    let mut diverged = Vec::new();
    for (a, b) in reports.iter().zip(&again) {
        if a.trace_hash != b.trace_hash {
            println!(
                "seed {}: NONDETERMINISTIC: trace {} then {}",
                a.seed, a.trace_hash, b.trace_hash
            );
            diverged.push(a.seed);
        }
    }
    if twice > 0 {
        println!(
            "determinism: {} seeds run twice, {} diverged {diverged:?}",
            again.len(),
            diverged.len()
        );
    }
    if failed.is_empty() && diverged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The benchmark of `ferrocore sim --bench` (same measurement, same output), for a release build
/// of the simulator alone.
fn bench(seeds: u64, options: &Options) -> ExitCode {
    println!(
        "sim bench: {seeds} seeds x {} steps (swarm {}); peer: real time (1 s per s); \
         FoundationDB reports ~10x; goal >= {:.0}x",
        options.steps,
        options.swarm,
        bench::COMPRESSION_GOAL
    );
    let one = bench::measure(seeds, options, 1);
    println!("  {one}");
    let all = bench::measure(seeds, options, default_jobs());
    println!("  {all}");
    if one.failures + all.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
