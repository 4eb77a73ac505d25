//! `ferrocore bench store`: writes/s and p50/p99 latency of 1 KiB object creates against a
//! 3-controller cluster on loopback (real processes from `cluster bootstrap`, fsync on), next to
//! a 3-member etcd on loopback (Debian's etcd-server via `scripts/etcd-up.sh`, fsync on) driven
//! with puts of the same bytes at the same concurrency, measured in the same run.
//!
//! etcd is driven with the `etcd-client` crate (gRPC over HTTP/2, what etcd's own clients and
//! its `benchmark` tool use), not the JSON gateway: the gateway adds an HTTP/1.1 + JSON
//! translation hop inside etcd that would make etcd look slower than it is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferrocore_runtime::SystemClock;

#[path = "bench_store_cluster.rs"]
mod cluster;
#[path = "bench_store_load.rs"]
mod load;

use load::{Level, Writer};

/// Arguments of `ferrocore bench store`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Concurrent clients per level, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    clients: Vec<usize>,
    /// Seconds of load per level and system (after a short warm-up).
    #[arg(long, default_value = "5")]
    seconds: u64,
    /// Payload bytes per object (the stored object is this plus metadata).
    #[arg(long, default_value = "1024")]
    object_bytes: usize,
    /// First UDP port of the 3 controllers.
    #[arg(long, default_value = "17700")]
    port: u16,
    /// First TCP port of the 3 etcd members (6 ports: client and peer per member).
    #[arg(long, default_value = "23790")]
    etcd_port: u16,
    /// Measure ferrocore only.
    #[arg(long)]
    no_etcd: bool,
    /// Working directory (default: a fresh directory under the system temp dir, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Runs the benchmark and prints the comparison table.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        anyhow::bail!("--clients needs positive numbers, e.g. 1,16,256");
    }
    let (dir, remove) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ferrocore-bench-store-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let result = crate::client::block_on(measure_both(args, &dir));
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (ours, etcd) = result??;
    print!("{}", render(args, &ours, etcd.as_deref()));
    Ok(ExitCode::SUCCESS)
}

async fn measure_both(args: &Args, dir: &Path) -> anyhow::Result<(Vec<Level>, Option<Vec<Level>>)> {
    let ours = {
        eprintln!(
            "bench store: starting 3 controllers on 127.0.0.1:{}..",
            args.port
        );
        let procs = cluster::Controllers::start(&dir.join("ferrocore"), args.port).await?;
        let writer = Writer::ferrocore(procs.admin_config(), max_conns(&args.clients)).await?;
        let levels = run_levels(&writer, args, "ferrocore").await;
        drop(writer);
        procs.stop();
        levels?
    };
    if args.no_etcd {
        return Ok((ours, None));
    }
    eprintln!(
        "bench store: starting 3 etcd members on 127.0.0.1:{}..",
        args.etcd_port
    );
    let etcd = cluster::Etcd::start(&dir.join("etcd"), args.etcd_port)?;
    let levels = match Writer::etcd(&etcd.endpoints, max_conns(&args.clients)).await {
        Ok(writer) => run_levels(&writer, args, "etcd").await,
        Err(e) => Err(e),
    };
    etcd.stop();
    Ok((ours, Some(levels?)))
}

/// Connections per system: one per client up to this many, then clients share them (etcd's
/// benchmark tool does the same with `--conns`); both systems get the same number.
const MAX_CONNS: usize = 64;

fn max_conns(levels: &[usize]) -> usize {
    levels.iter().copied().max().unwrap_or(1).min(MAX_CONNS)
}

async fn run_levels(writer: &Writer, args: &Args, name: &str) -> anyhow::Result<Vec<Level>> {
    let clock: Arc<dyn ferrocore_runtime::Clock> = Arc::new(SystemClock::new());
    let payload = Arc::new(load::payload(args.object_bytes));
    let mut out = Vec::new();
    for &clients in &args.clients {
        eprintln!(
            "bench store: {name}, {clients} client(s), {} s",
            args.seconds
        );
        // Warm-up: connections open, leaders settled, caches warm; not measured.
        load::run(
            writer,
            &clock,
            &payload,
            clients,
            Duration::from_millis(500),
            &format!("w{clients}"),
        )
        .await?;
        let tag = format!("c{clients}");
        let level = load::run(
            writer,
            &clock,
            &payload,
            clients,
            Duration::from_secs(args.seconds.max(1)),
            &tag,
        )
        .await?;
        out.push(level);
    }
    Ok(out)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".to_owned()
    }
}

/// The comparison table.
fn render(args: &Args, ours: &[Level], etcd: Option<&[Level]>) -> String {
    use crate::client::table::Table;
    let mut t = Table::new([
        "CLIENTS",
        "FERROCORE W/S",
        "P50 MS",
        "P99 MS",
        "ETCD W/S",
        "P50 MS",
        "P99 MS",
        "W/S OURS/ETCD",
        "P99 OURS/ETCD",
    ]);
    for (i, o) in ours.iter().enumerate() {
        let e = etcd.and_then(|e| e.get(i));
        let dash = || "-".to_owned();
        t.row(vec![
            o.clients.to_string(),
            format!("{:.0}", o.writes_per_sec()),
            ms(o.p50),
            ms(o.p99),
            e.map_or_else(dash, |e| format!("{:.0}", e.writes_per_sec())),
            e.map_or_else(dash, |e| ms(e.p50)),
            e.map_or_else(dash, |e| ms(e.p99)),
            e.map_or_else(dash, |e| ratio(o.writes_per_sec(), e.writes_per_sec())),
            e.map_or_else(dash, |e| ratio(o.p99.as_secs_f64(), e.p99.as_secs_f64())),
        ]);
    }
    let errors: u64 = ours
        .iter()
        .chain(etcd.into_iter().flatten())
        .map(|l| l.errors)
        .sum();
    format!(
        "store: {} B payload creates (ferrocore object.create of a Secret; etcd put of the same \
         JSON bytes), 3 members on loopback, fsync on, {} s per level\n{}{}",
        args.object_bytes,
        args.seconds,
        t.render(),
        if errors > 0 {
            format!("failed writes (excluded from the figures): {errors}\n")
        } else {
            String::new()
        }
    )
}
