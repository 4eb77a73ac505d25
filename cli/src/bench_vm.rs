//! `ferrocore bench vm`: apply → Running and machines/min with N concurrent creates through the
//! compute node's MachineRuntime, next to `virsh create` of the same domain XML (the floor),
//! in the same run. Needs libvirtd (`scripts/libvirt-up.sh`) and the test guest
//! (`scripts/guest-build.sh`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ferrocore_node_compute::bench::{self, VmBenchOptions};
use ferrocore_node_compute::{DomainTypeSetting, choose_domain_type};
use ferrocore_runtime::{OsSeededRng, SystemClock};

/// Arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Concurrent creates per side.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Scratch state directory (removed afterwards; must be reachable by libvirt-qemu).
    #[arg(long, default_value = "/var/tmp/ferrocore-bench-vm")]
    state_dir: PathBuf,
    /// The test guest built by scripts/guest-build.sh.
    #[arg(long, default_value = "/var/cache/ferrocore/guest")]
    guest_dir: PathBuf,
    /// libvirt URI.
    #[arg(long, default_value = "qemu:///system")]
    libvirt_uri: String,
    /// Domain type: kvm, qemu (TCG), or auto (KVM only with vmx/svm in /proc/cpuinfo).
    #[arg(long, default_value = "auto")]
    domain_type: String,
}

/// Runs the benchmark and prints the comparison.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let setting = match args.domain_type.as_str() {
        "kvm" => DomainTypeSetting::Kvm,
        "qemu" => DomainTypeSetting::Qemu,
        "auto" => DomainTypeSetting::Auto,
        other => anyhow::bail!("unknown domain type {other:?} (kvm, qemu, auto)"),
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // The benchmark measures start-up, not guest speed: without a probe, auto means "flags say
    // KVM"; pass --domain-type qemu where KVM is present but unusable.
    let domain_type = choose_domain_type(setting, &cpuinfo, || true);
    let opts = VmBenchOptions {
        concurrency: args.concurrency,
        state_dir: args.state_dir.clone(),
        guest_dir: args.guest_dir.clone(),
        libvirt_uri: args.libvirt_uri.clone(),
        domain_type,
    };
    let rng = OsSeededRng::new().map_err(|e| anyhow::anyhow!("seed the RNG: {e}"))?;
    let report = bench::vm(&opts, Arc::new(SystemClock::new()), Box::new(rng))?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
