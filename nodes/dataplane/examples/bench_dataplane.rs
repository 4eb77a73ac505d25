//! The same report as `ferrocore bench dataplane`, without building the whole `ferrocore`
//! binary: `cargo run --release -p ferrocore-node-dataplane --example bench_dataplane -- [secs]`
//! (environment: `NO_MEMORY`, `NO_SCALE`, `NO_DPDK` skip those parts).

use std::time::Duration;

use ferrocore_node_dataplane::bench_report::{ReportOptions, run_report};

fn main() -> std::io::Result<()> {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let opts = ReportOptions {
        time: Duration::from_secs_f64(secs),
        memory: std::env::var_os("NO_MEMORY").is_none(),
        scale: std::env::var_os("NO_SCALE").is_none(),
        dpdk: std::env::var_os("NO_DPDK").is_none(),
        testpmd: "dpdk-testpmd".into(),
    };
    run_report(&opts, &mut std::io::stdout().lock())
}
