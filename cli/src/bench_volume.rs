//! `ferrocore bench volume`: volumes created per second and time to Available through the
//! storage node's VolumeRuntime over real Ceph, next to the floor measured in the same run on
//! the same cluster: `rbd create` / `rbd clone` of the same size, both as the `rbd` CLI and as
//! direct librbd calls (our safe wrapper, no runtime around it).
//!
//! Needs a running cluster (`scripts/ceph-up.sh`); works in a pool of its own, deleted after.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use ferrocore_api::iri::volume::{VolumeDataSource, VolumeId, VolumeState};
use ferrocore_node_storage::ceph::{CEPH_TIMEOUT_SECS, CephBackend, CephConfig, rbd};
use ferrocore_node_storage::conformance::{classes, request};
use ferrocore_node_storage::{VolumeConfig, VolumeService, Workers};
use ferrocore_runtime::{Clock, MonoTime, OsSeededRng, SystemClock};

/// Arguments of `ferrocore bench volume`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Volumes per measured series.
    #[arg(long, default_value_t = 50)]
    count: usize,
    /// Size of each volume in MiB.
    #[arg(long, default_value_t = 64)]
    size_mib: u64,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = ferrocore_node_storage::DEFAULT_WORKERS)]
    workers: usize,
    /// The cluster's ceph.conf.
    #[arg(long, default_value = "/var/lib/ferrocore-ceph/ceph.conf")]
    ceph_conf: String,
}

/// Longest the benchmark waits for one series to become Available.
const SERIES_TIMEOUT: Duration = Duration::from_secs(600);

struct Bench {
    args: Args,
    pool: String,
    clock: SystemClock,
}

/// Runs the benchmark and prints the comparison.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    ensure!(
        args.count > 0 && args.size_mib > 0,
        "--count and --size-mib must be positive"
    );
    let pool = format!("fc-bench-{}", std::process::id());
    let bench = Bench {
        args,
        pool,
        clock: SystemClock::new(),
    };
    bench.ceph(&["osd", "pool", "create", &bench.pool, "8", "8"])?;
    bench.rbd(&["pool", "init", &bench.pool])?;
    let result = bench.all();
    let _ = bench.ceph(&[
        "osd",
        "pool",
        "delete",
        &bench.pool,
        &bench.pool,
        "--yes-i-really-really-mean-it",
    ]);
    result?;
    Ok(ExitCode::SUCCESS)
}

impl Bench {
    fn all(&self) -> anyhow::Result<()> {
        let (n, size) = (self.args.count, self.args.size_mib);
        println!(
            "bench volume: {n} volumes of {size} MiB, pool {}, {} workers",
            self.pool, self.args.workers
        );
        let base = self.make_base()?;
        let svc = self.service()?;
        let empty = self.series(&svc, None)?;
        let from_image = self.series(&svc, Some(base.clone()))?;
        drop(svc);
        let cli_create = self.timed(|i| {
            self.rbd(&[
                "create",
                "--size",
                &format!("{size}M"),
                &format!("{}/cli-{i}", self.pool),
            ])
        })?;
        self.rbd(&[
            "create",
            "--size",
            &format!("{size}M"),
            &format!("{}/parent", self.pool),
        ])?;
        self.rbd(&["snap", "create", &format!("{}/parent@v1", self.pool)])?;
        self.rbd(&["snap", "protect", &format!("{}/parent@v1", self.pool)])?;
        let cli_clone = self.timed(|i| {
            self.rbd(&[
                "clone",
                &format!("{}/parent@v1", self.pool),
                &format!("{}/cliclone-{i}", self.pool),
            ])
        })?;
        let io = ferrocore_node_storage::ceph::rados::Cluster::connect(
            &self.args.ceph_conf,
            "admin",
            10,
        )?
        .ioctx(&self.pool)?;
        let lib_create = self.timed(|i| Ok(rbd::create(&io, &format!("lib-{i}"), size << 20)?))?;
        let lib_clone =
            self.timed(|i| Ok(rbd::clone(&io, "parent", "v1", &format!("libclone-{i}"))?))?;
        println!();
        println!(
            "{:<44} {:>10} {:>12} {:>12} {:>12}",
            "series", "per s", "p50 ms", "p99 ms", "max ms"
        );
        empty.print("ferrocore CreateVolume → Available (empty)");
        from_image.print("ferrocore CreateVolume → Available (OS image)");
        cli_create.print("floor: `rbd create` (CLI, sequential)");
        cli_clone.print("floor: `rbd clone` (CLI, sequential)");
        lib_create.print("floor: librbd create (in-process, sequential)");
        lib_clone.print("floor: librbd clone (in-process, sequential)");
        println!(
            "ferrocore acknowledged creates at {:.0}/s (empty) and {:.0}/s (OS image)",
            empty.acks_per_s, from_image.acks_per_s
        );
        let _ = std::fs::remove_file(&base);
        Ok(())
    }

    fn service(&self) -> anyhow::Result<Arc<VolumeService>> {
        let backend = CephBackend::new(CephConfig {
            conf: self.args.ceph_conf.clone(),
            user: "admin".into(),
            pool: self.pool.clone(),
            client_user: "volumes".into(),
            monitors: "127.0.0.1:6789".into(),
            timeout_secs: CEPH_TIMEOUT_SECS,
        });
        let config = VolumeConfig {
            classes: classes(),
            kek: None,
        };
        let rng =
            OsSeededRng::new().map_err(|e| anyhow::anyhow!("seeding the id generator: {e}"))?;
        let svc = VolumeService::open(
            backend.clone(),
            backend.store(),
            config,
            Arc::new(self.clock.clone()),
            Box::new(rng),
        )?;
        Ok(Arc::new(svc))
    }

    /// An OS image file of the benchmark size, imported once by the first volume of the series.
    fn make_base(&self) -> anyhow::Result<String> {
        let path = std::env::temp_dir().join(format!("fc-bench-{}.raw", std::process::id()));
        std::fs::write(&path, b"FERROCORE-BENCH-BASE")?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)?
            .set_len(self.args.size_mib << 20)?;
        Ok(path.display().to_string())
    }

    fn series(&self, svc: &Arc<VolumeService>, image: Option<String>) -> anyhow::Result<Series> {
        let workers = Workers::start(svc.clone(), None, self.args.workers)?;
        let start = self.clock.now();
        let mut issued: BTreeMap<VolumeId, MonoTime> = BTreeMap::new();
        for _ in 0..self.args.count {
            let mut req = request("standard", self.args.size_mib, "bench");
            if let Some(image) = &image {
                req.spec.data_source = Some(VolumeDataSource::Image {
                    image: image.clone(),
                    architecture: None,
                });
            }
            let id = svc.create_volume(req)?.volume.id;
            issued.insert(id, self.clock.now());
        }
        let acked = self.clock.now() - start;
        let mut latencies = Vec::new();
        let mut waiting = issued.clone();
        while !waiting.is_empty() {
            ensure!(
                self.clock.now() - start < SERIES_TIMEOUT,
                "volumes did not become Available"
            );
            waiting.retain(|id, at| match svc.volume_state(id) {
                Some(VolumeState::Available) => {
                    latencies.push(self.clock.now() - *at);
                    false
                }
                _ => true,
            });
            std::thread::sleep(Duration::from_millis(2));
        }
        let total = self.clock.now() - start;
        drop(workers);
        Ok(Series::new(
            latencies,
            total,
            Some(self.args.count as f64 / acked.as_secs_f64().max(1e-9)),
        ))
    }

    fn timed(&self, f: impl Fn(usize) -> anyhow::Result<()>) -> anyhow::Result<Series> {
        let start = self.clock.now();
        let mut latencies = Vec::new();
        for i in 0..self.args.count {
            let t = self.clock.now();
            f(i)?;
            latencies.push(self.clock.now() - t);
        }
        Ok(Series::new(latencies, self.clock.now() - start, None))
    }

    fn ceph(&self, args: &[&str]) -> anyhow::Result<()> {
        cli("ceph", &self.args.ceph_conf, args)
    }

    fn rbd(&self, args: &[&str]) -> anyhow::Result<()> {
        cli("rbd", &self.args.ceph_conf, args)
    }
}

fn cli(tool: &str, conf: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(tool)
        .env("CEPH_CONF", conf)
        .args(args)
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !out.status.success() {
        bail!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One measured series: per-item latencies and the wall time of the whole series.
struct Series {
    latencies: Vec<Duration>,
    total: Duration,
    acks_per_s: f64,
}

impl Series {
    fn new(mut latencies: Vec<Duration>, total: Duration, acks_per_s: Option<f64>) -> Self {
        latencies.sort();
        Self {
            latencies,
            total,
            acks_per_s: acks_per_s.unwrap_or(0.0),
        }
    }

    fn pct(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((n as f64 - 1.0) * p).round() as usize;
        self.latencies
            .get(i.min(n.saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    fn print(&self, name: &str) {
        #[allow(clippy::cast_precision_loss)]
        let rate = self.latencies.len() as f64 / self.total.as_secs_f64().max(1e-9);
        println!(
            "{name:<44} {rate:>10.1} {:>12.1} {:>12.1} {:>12.1}",
            self.pct(0.5),
            self.pct(0.99),
            self.pct(1.0)
        );
    }
}
