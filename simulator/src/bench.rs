//! `ferrocore sim --bench`: how fast the simulator runs on this machine — simulated seconds per
//! wall second (time compression) and seeds per minute — single-threaded and on every core.
//!
//! The peer is real time: a real cluster needs one wall second per second of its life, so the
//! compression *is* the comparison (FoundationDB reports about 10× for its simulator; the goal
//! here is at least 100×).

use std::fmt;

use ferrocore_runtime::{Clock, SystemClock};

use crate::batch::run_batch;
use crate::options::Options;

/// The compression the simulator aims at.
pub const COMPRESSION_GOAL: f64 = 100.0;

/// Measurements of one batch.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// Seeds run.
    pub seeds: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Simulated seconds over all seeds.
    pub sim_secs: f64,
    /// Wall seconds the batch took.
    pub wall_secs: f64,
    /// Seeds that failed (a benchmark of a broken build is not a benchmark).
    pub failures: usize,
}

impl BenchResult {
    /// Simulated seconds per wall second.
    pub fn compression(&self) -> f64 {
        self.sim_secs / self.wall_secs.max(1e-9)
    }

    /// Seeds per wall minute.
    pub fn seeds_per_minute(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a seed count is far below 2^52
        let seeds = self.seeds as f64;
        seeds * 60.0 / self.wall_secs.max(1e-9)
    }
}

impl fmt::Display for BenchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>3} thread(s): {} seeds, {:.1} s simulated in {:.2} s wall = {:.0}x real time, \
             {:.0} seeds/min{}",
            self.jobs,
            self.seeds,
            self.sim_secs,
            self.wall_secs,
            self.compression(),
            self.seeds_per_minute(),
            if self.failures > 0 {
                format!(" ({} FAILED)", self.failures)
            } else {
                String::new()
            }
        )
    }
}

/// Runs `seeds` seeds (from 1) on `jobs` threads and measures them.
pub fn measure(seeds: u64, options: &Options, jobs: usize) -> BenchResult {
    let clock = SystemClock::new();
    let start = clock.now();
    let reports = run_batch(1..seeds + 1, options, jobs, &|_| {});
    let wall_secs = (clock.now() - start).as_secs_f64();
    BenchResult {
        seeds,
        jobs,
        sim_secs: reports.iter().map(|r| r.stats.sim_time.as_secs_f64()).sum(),
        wall_secs,
        failures: reports.iter().filter(|r| r.failure.is_some()).count(),
    }
}
