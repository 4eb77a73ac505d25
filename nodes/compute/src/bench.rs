//! `ferrocore bench vm`: time from apply (`CreateMachine`) to `Running`, and machines started
//! per minute with N concurrent creates, next to the floor: the same domain XML started with
//! `virsh create` (N concurrent processes), measured in the same run on the same host.
//!
//! "Running" is the libvirt domain running (QEMU started), for both sides; guest boot time is
//! not part of either (it is the same guest).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::machine::{
    CreateMachineRequest, LocalDisk, Machine, MachineClassName, MachineId, MachineState, Volume,
};
use ferrocore_runtime::{Clock, Rng};

use crate::config::{ClassConfig, ComputeConfig};
use crate::host::Host;
use crate::images::{BootImport, ImageSource};
use crate::libvirt::LibvirtHost;
use crate::model::{DomainType, MachineRecord};
use crate::prepare;
use crate::runtime::MachineRuntime;

/// Most concurrent creates a run accepts (each guest takes 256 MiB and a share of the CPU).
pub const MAX_CONCURRENCY: usize = 64;

/// Image name the benchmark imports the test guest under.
const BENCH_IMAGE: &str = "ferrocore-bench-guest:latest";

/// Options.
#[derive(Clone, Debug)]
pub struct VmBenchOptions {
    /// Concurrent creates per side.
    pub concurrency: usize,
    /// Scratch state directory (removed afterwards).
    pub state_dir: PathBuf,
    /// The test guest (`scripts/guest-build.sh` output).
    pub guest_dir: PathBuf,
    /// libvirt URI.
    pub libvirt_uri: String,
    /// Domain type.
    pub domain_type: DomainType,
}

/// Figures of one side.
#[derive(Clone, Debug, Default)]
pub struct SideFigures {
    /// apply → Running per machine, sorted.
    pub latencies: Vec<Duration>,
    /// First apply to last Running.
    pub wall: Duration,
}

impl SideFigures {
    fn percentile(&self, p: usize) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = (self.latencies.len() * p / 100).min(self.latencies.len() - 1);
        self.latencies[i]
    }

    /// Machines started per minute.
    pub fn per_minute(&self) -> f64 {
        if self.wall.is_zero() {
            return 0.0;
        }
        self.latencies.len() as f64 * 60.0 / self.wall.as_secs_f64()
    }
}

/// The result.
#[derive(Clone, Debug)]
pub struct VmBenchReport {
    /// Concurrency used.
    pub concurrency: usize,
    /// ferrocore's MachineRuntime.
    pub ferrocore: SideFigures,
    /// `virsh create` of the same XML.
    pub virsh: SideFigures,
}

impl fmt::Display for VmBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench vm: {} concurrent creates per side (apply -> domain running)",
            self.concurrency
        )?;
        writeln!(
            f,
            "{:<22} {:>10} {:>10} {:>10} {:>12}",
            "", "p50", "p90", "max", "machines/min"
        )?;
        for (name, s) in [
            ("ferrocore CreateMachine", &self.ferrocore),
            ("virsh create (floor)", &self.virsh),
        ] {
            writeln!(
                f,
                "{name:<22} {:>9.2}s {:>9.2}s {:>9.2}s {:>12.1}",
                s.percentile(50).as_secs_f64(),
                s.percentile(90).as_secs_f64(),
                s.percentile(100).as_secs_f64(),
                s.per_minute()
            )?;
        }
        let ratio = self.ferrocore.wall.as_secs_f64() / self.virsh.wall.as_secs_f64().max(1e-9);
        write!(
            f,
            "ferrocore wall time / floor wall time: {ratio:.2} (goal: <= 1.10)"
        )
    }
}

/// Benchmark failures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setup (libvirt, image import, runtime) failed.
    #[error("Benchmark setup: {0}")]
    Setup(String),
    /// A create failed or a machine did not reach Running.
    #[error("Benchmark run: {0}")]
    Run(String),
}

fn setup<E: fmt::Display>(e: E) -> BenchError {
    BenchError::Setup(e.to_string())
}

fn config(opts: &VmBenchOptions) -> ComputeConfig {
    ComputeConfig {
        state_dir: opts.state_dir.clone(),
        libvirt_uri: opts.libvirt_uri.clone(),
        shutdown_grace_seconds: 0,
        volume_cache: "writeback".into(),
        reserved_memory_mib: 0,
        classes: vec![ClassConfig {
            name: "bench".into(),
            cpu: 1,
            memory_mib: 256,
        }],
        ..ComputeConfig::default()
    }
}

fn request(i: usize) -> CreateMachineRequest {
    let mut machine = Machine::default();
    machine.spec.class = MachineClassName("bench".into());
    machine
        .metadata
        .labels
        .insert("bench".into(), format!("vm-{i}"));
    machine.spec.volumes.push(Volume {
        name: "root".into(),
        device: "oda".into(),
        local_disk: Some(LocalDisk {
            size_bytes: 64 << 20,
            image: Some(BENCH_IMAGE.into()),
        }),
        connection: None,
    });
    CreateMachineRequest { machine }
}

/// Runs the benchmark: the floor first, then ferrocore, each with every guest destroyed in
/// between so neither side pays for the other's booting guests.
///
/// # Errors
/// [`BenchError`] when libvirt, the guest or a create fails.
pub fn vm(
    opts: &VmBenchOptions,
    clock: Arc<dyn Clock>,
    rng: Box<dyn Rng>,
) -> Result<VmBenchReport, BenchError> {
    if opts.concurrency == 0 || opts.concurrency > MAX_CONCURRENCY {
        return Err(BenchError::Setup(format!(
            "concurrency must be 1..={MAX_CONCURRENCY}"
        )));
    }
    let config = config(opts);
    let host = LibvirtHost::open(&config).map_err(setup)?;
    let boot = BootImport::Kernel {
        kernel: ImageSource::File(opts.guest_dir.join("vmlinuz")),
        initrd: ImageSource::File(opts.guest_dir.join("initrd.gz")),
        cmdline: None,
    };
    let disk = ImageSource::File(opts.guest_dir.join("rootdisk.raw"));
    host.images()
        .import(BENCH_IMAGE, &disk, &boot)
        .map_err(setup)?;
    let rt = MachineRuntime::new(host, &config, opts.domain_type, Arc::clone(&clock), rng)
        .map_err(setup)?;
    let virsh = floor(&rt, opts, &*clock)?;
    let ferrocore = ferrocore_side(&rt, opts.concurrency, &*clock)?;
    drop(rt);
    let _ = std::fs::remove_dir_all(&opts.state_dir);
    Ok(VmBenchReport {
        concurrency: opts.concurrency,
        ferrocore,
        virsh,
    })
}

fn ferrocore_side(
    rt: &MachineRuntime<LibvirtHost>,
    n: usize,
    clock: &dyn Clock,
) -> Result<SideFigures, BenchError> {
    let start = clock.now();
    let results: Vec<Result<(MachineId, Duration), BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                scope.spawn(move || {
                    let t0 = clock.now();
                    let m = rt
                        .create_machine(request(i))
                        .map_err(|e| BenchError::Run(e.to_string()))?;
                    if m.status.state != MachineState::Running {
                        return Err(BenchError::Run(format!(
                            "machine {i} is {:?}: {:?}",
                            m.status.state, m.status.conditions
                        )));
                    }
                    Ok((m.metadata.id, clock.now().saturating_since(t0)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Run("thread panicked".into())))
            })
            .collect()
    });
    let wall = clock.now().saturating_since(start);
    let mut figures = SideFigures {
        latencies: Vec::new(),
        wall,
    };
    let mut ids = Vec::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok((id, d)) => {
                ids.push(id);
                figures.latencies.push(d);
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    for id in &ids {
        let _ = rt.delete_machine(id);
    }
    for _ in 0..20 {
        rt.tick();
        if rt.list_machines(&Default::default()).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    figures.latencies.sort();
    Ok(figures)
}

/// The floor: the same domains (disks prepared beforehand, untimed) started by `virsh create`.
fn floor(
    rt: &MachineRuntime<LibvirtHost>,
    opts: &VmBenchOptions,
    clock: &dyn Clock,
) -> Result<SideFigures, BenchError> {
    let host = rt.host();
    let class = rt
        .classes
        .get(&MachineClassName("bench".into()))
        .cloned()
        .ok_or_else(|| setup("class"))?;
    let mut jobs = Vec::new();
    for i in 0..opts.concurrency {
        let id = MachineId(format!("00000000-0000-4000-8000-{:012}", i + 1));
        let mut machine = request(i).machine;
        machine.metadata.id = id.clone();
        let record = MachineRecord { machine };
        let (spec, _) =
            prepare::domain_spec(host, &rt.defaults, &record, class.cpu, class.memory_bytes())
                .map_err(setup)?;
        // A different owner: the runtime's garbage collector must not see these domains.
        let xml = crate::libvirt::xml::domain(&spec, "ferrocore-bench-floor");
        let path = opts.state_dir.join(format!("floor-{i}.xml"));
        std::fs::write(&path, xml).map_err(setup)?;
        jobs.push((id, path));
    }
    let start = clock.now();
    let results: Vec<Result<Duration, BenchError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(_, path)| scope.spawn(move || virsh_create(&opts.libvirt_uri, path, clock)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Run("thread panicked".into())))
            })
            .collect()
    });
    let wall = clock.now().saturating_since(start);
    for (id, _) in &jobs {
        let _ = Command::new("virsh")
            .args(["-c", &opts.libvirt_uri, "destroy", &id.0])
            .output();
        let _ = host.remove_machine(id);
    }
    let mut latencies = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    latencies.sort();
    Ok(SideFigures { latencies, wall })
}

fn virsh_create(uri: &str, xml: &Path, clock: &dyn Clock) -> Result<Duration, BenchError> {
    let t0 = clock.now();
    let out = Command::new("virsh")
        .args(["-c", uri, "create"])
        .arg(xml)
        .output()
        .map_err(|e| BenchError::Run(format!("virsh: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Run(format!(
            "virsh create: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(clock.now().saturating_since(t0))
}
