//! `ferrocore sim`: the deterministic simulator (ferrocore-simulator). One seed, a range of
//! seeds, swarm mode, replay of a failing seed, and `--bench` (time compression and seeds per
//! minute on this machine).

use std::io::Write;
use std::ops::Range;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ferrocore_runtime::{Clock, SystemClock};
use ferrocore_simulator::{
    Options, PlantedBug, SeedReport, bench, default_jobs, run_batch, run_seed,
};

/// Arguments of `ferrocore sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run this one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run a batch of seeds `A..B` (B excluded) and print a summary.
    #[arg(long, value_name = "A..B")]
    seeds: Option<String>,
    /// Safety steps per seed (10 ms of simulated time each), before the liveness phase.
    #[arg(long, default_value_t = ferrocore_simulator::STEPS_DEFAULT)]
    steps: u64,
    /// Draw fault rates, cluster size and workload shape per seed.
    #[arg(long)]
    swarm: bool,
    /// Replay `--seed` (or this seed) with its full report: the events, and a second run
    /// that must give the same trace hash.
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "")]
    replay: Option<String>,
    /// Also hash the executor's own trace (every poll, wake and timer): slower, strictest.
    #[arg(long)]
    executor_trace: bool,
    /// Run each seed twice and compare trace hashes.
    #[arg(long)]
    check_determinism: bool,
    /// Worker threads for a batch (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Plant a test-only bug (needs a build with the `planted-bugs` feature):
    /// ack-before-commit, double-ip, skip-rv-check.
    #[arg(long, value_name = "BUG")]
    plant: Option<String>,
    /// Measure simulated seconds per wall second and seeds per minute.
    #[arg(long)]
    bench: bool,
    /// Seeds the benchmark runs per measurement.
    #[arg(long, default_value_t = 20)]
    bench_seeds: u64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let options = options(args)?;
    if args.bench {
        return run_bench(args, &options);
    }
    if let Some(replay) = &args.replay {
        let seed = if replay.is_empty() {
            args.seed
        } else {
            Some(replay.parse().context("--replay SEED")?)
        };
        let seed = seed.context("--replay needs a seed (--seed N --replay, or --replay N)")?;
        return replay_seed(seed, &options);
    }
    let seeds = match (&args.seeds, args.seed) {
        (Some(range), _) => parse_range(range)?,
        (None, Some(seed)) => seed..seed + 1,
        (None, None) => 1..2,
    };
    run_seeds(seeds, args, &options)
}

fn options(args: &Args) -> anyhow::Result<Options> {
    let planted = match &args.plant {
        None => None,
        Some(name) => {
            let bug = PlantedBug::from_name(name).with_context(|| {
                let names: Vec<&str> = PlantedBug::ALL.iter().map(|b| b.name()).collect();
                format!("no planted bug {name:?}; known: {}", names.join(", "))
            })?;
            if !cfg!(feature = "planted-bugs") {
                bail!("--plant needs a build with `--features ferrocore-cli/planted-bugs`");
            }
            Some(bug)
        }
    };
    Ok(Options {
        steps: args.steps,
        swarm: args.swarm,
        executor_trace: args.executor_trace,
        planted,
    })
}

fn parse_range(text: &str) -> anyhow::Result<Range<u64>> {
    let (a, b) = text.split_once("..").context("--seeds takes A..B")?;
    let (a, b): (u64, u64) = (a.trim().parse()?, b.trim().parse()?);
    if b <= a {
        bail!("--seeds {text}: the range is empty");
    }
    Ok(a..b)
}

fn run_seeds(seeds: Range<u64>, args: &Args, options: &Options) -> anyhow::Result<ExitCode> {
    let clock = SystemClock::new();
    let start = clock.now();
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let single = seeds.end - seeds.start == 1;
    let reports = run_batch(seeds.clone(), options, jobs, &|r| {
        let line = if r.failure.is_some() {
            r.explain(options)
        } else if single {
            format!(
                "seed {}: ok, trace {}\n  {}\n",
                r.seed, r.trace_hash, r.stats
            )
        } else {
            format!("seed {}: ok, trace {}\n", r.seed, r.trace_hash)
        };
        let mut out = std::io::stdout().lock();
        drop(out.write_all(line.as_bytes()));
    });
    let mut nondeterministic = Vec::new();
    if args.check_determinism {
        let again = run_batch(seeds, options, jobs, &|_| {});
        for (a, b) in reports.iter().zip(&again) {
            if a.trace_hash != b.trace_hash {
                nondeterministic.push(a.seed);
                println!(
                    "seed {}: NONDETERMINISTIC: trace {} then {}",
                    a.seed, a.trace_hash, b.trace_hash
                );
            }
        }
    }
    let wall = (clock.now() - start).as_secs_f64();
    summary(&reports, wall, &nondeterministic);
    let failed = reports.iter().any(|r| r.failure.is_some()) || !nondeterministic.is_empty();
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(reports: &[SeedReport], wall: f64, nondeterministic: &[u64]) {
    let failed: Vec<u64> = reports
        .iter()
        .filter(|r| r.failure.is_some())
        .map(|r| r.seed)
        .collect();
    let sim: f64 = reports.iter().map(|r| r.stats.sim_time.as_secs_f64()).sum();
    let ops: usize = reports.iter().map(|r| r.stats.ops).sum();
    println!(
        "{} seeds: {} passed, {} failed{}; {ops} client ops, {sim:.0} s simulated in {wall:.1} s wall \
         ({:.0}x real time)",
        reports.len(),
        reports.len() - failed.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" {failed:?}")
        },
        sim / wall.max(1e-9),
    );
    if !nondeterministic.is_empty() {
        println!("nondeterministic seeds: {nondeterministic:?}");
    }
}

fn replay_seed(seed: u64, options: &Options) -> anyhow::Result<ExitCode> {
    let first = run_seed(seed, options);
    let second = run_seed(seed, options);
    println!("{}", first.explain(options));
    println!("  {}", first.stats);
    if first.trace_hash == second.trace_hash {
        println!("  replayed: same trace {} both times", first.trace_hash);
    } else {
        println!(
            "  NONDETERMINISTIC: trace {} then {}",
            first.trace_hash, second.trace_hash
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(if first.failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_bench(args: &Args, options: &Options) -> anyhow::Result<ExitCode> {
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    println!(
        "ferrocore sim --bench: {} seeds x {} steps; peer: real time (1 s per s); FoundationDB reports ~10x; goal >= {:.0}x",
        args.bench_seeds,
        options.steps,
        bench::COMPRESSION_GOAL
    );
    let one = bench::measure(args.bench_seeds, options, 1);
    println!("  {one}");
    let all = bench::measure(args.bench_seeds, options, jobs);
    println!("  {all}");
    let failed = one.failures + all.failures > 0;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn seed_ranges_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_range("1..201").unwrap(), 1..201);
        assert_eq!(parse_range(" 7 .. 8 ").unwrap(), 7..8);
        for bad in ["", "5", "5..5", "9..3", "a..b", "1..", "..4", "-1..3"] {
            assert!(parse_range(bad).is_err(), "{bad:?} is refused");
        }
    }
}
