//! Runs the consensus store benchmark (in-process 3-node cluster, real disk, fsync on) for 1, 16
//! and 256 concurrent clients: `cargo run --release -p ferrocore-consensus --example store_bench`.
//! Optional arguments: creates per row (default 2000) and a data directory (default: temp).

use std::path::PathBuf;

use ferrocore_consensus::bench::{StoreBench, run_store_bench};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let creates: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let base = args.next().map_or_else(
        || std::env::temp_dir().join("ferrocore-store-bench"),
        PathBuf::from,
    );
    println!("| clients | creates | writes/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for clients in [1, 16, 256] {
        let bench = StoreBench {
            creates,
            clients,
            object_bytes: 1024,
            dir: base.join(format!("c{clients}")),
        };
        let r = run_store_bench(&bench)?;
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} |",
            r.clients,
            r.creates,
            r.writes_per_sec,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
