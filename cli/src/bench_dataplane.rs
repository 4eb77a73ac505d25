//! `ferrocore bench dataplane`: the packet pipeline's rate per core in memory (overlay, NAT and
//! load-balancer paths; 64 and 1500-byte frames), its cost as tables grow, and forwarding
//! through the DPDK backend next to `dpdk-testpmd` (io and mac modes) on the same virtual
//! device, measured in the same run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ferrocore_node_dataplane::bench_report::{ReportOptions, run_report};

/// Arguments of `ferrocore bench dataplane`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds per measured case.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Skip the in-memory cases (paths and frame sizes).
    #[arg(long)]
    no_memory: bool,
    /// Skip the table-growth cases (100,000 routes, 1,048,576 flows).
    #[arg(long)]
    no_scale: bool,
    /// Skip the DPDK and testpmd comparison.
    #[arg(long)]
    no_dpdk: bool,
    /// The testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: PathBuf,
}

/// Runs the benchmark and prints its tables.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let opts = ReportOptions {
        time: Duration::from_secs_f64(args.seconds.max(0.1)),
        memory: !args.no_memory,
        scale: !args.no_scale,
        dpdk: !args.no_dpdk,
        testpmd: args.testpmd.clone(),
    };
    run_report(&opts, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
