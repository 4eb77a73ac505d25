//! Running many seeds: each seed is its own single-threaded simulation, so a batch spreads
//! seeds over worker threads and collects the reports in seed order.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::options::Options;
use crate::report::SeedReport;
use crate::run::run_seed;

/// Runs `seeds` on `jobs` threads (at least one) and returns the reports in seed order.
/// `progress` is called (from the worker threads) after each seed.
pub fn run_batch(
    seeds: Range<u64>,
    options: &Options,
    jobs: usize,
    progress: &(dyn Fn(&SeedReport) + Sync),
) -> Vec<SeedReport> {
    let next = AtomicU64::new(seeds.start);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let report = run_seed(seed, options);
                    progress(&report);
                    reports
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(report);
                }
            });
        }
    });
    let mut reports = reports
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reports.sort_by_key(|r| r.seed);
    reports
}

/// The worker threads a batch should use on this machine.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
