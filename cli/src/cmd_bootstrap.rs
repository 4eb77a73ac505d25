//! `ferrocore cluster bootstrap`: writes a new cluster's CA, controller directories and admin
//! client config, and prints what to run next.

use std::path::PathBuf;
use std::process::ExitCode;

use ferrocore_actors::{BootstrapPlan, bootstrap};
use ferrocore_runtime::{Clock, SystemClock};

/// Arguments of `ferrocore cluster bootstrap`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many controllers to write (3 or 5 for a Raft majority; ids 1..=N).
    #[arg(long, default_value_t = 3)]
    controllers: u64,
    /// The output directory (created; must not hold a cluster already).
    #[arg(long)]
    dir: PathBuf,
    /// Controller N listens on UDP BASE_PORT + N - 1.
    #[arg(long, default_value_t = ferrocore_runtime::DEFAULT_PORT)]
    base_port: u16,
    /// The IP address or DNS name the controllers are reached at.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The cluster name (also the admin config's context).
    #[arg(long, default_value = "ferrocore")]
    name: String,
    /// How many controllers (ids 1..=K) form the cluster on first start; the others are spares
    /// to add later with `cluster.add_member` (default: all).
    #[arg(long)]
    voters: Option<u64>,
}

/// Writes the files and prints the next steps.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let plan = BootstrapPlan {
        controllers: args.controllers,
        voters: args.voters,
        dir: args.dir.clone(),
        base_port: args.base_port,
        host: args.host.clone(),
        name: args.name.clone(),
    };
    let out = bootstrap(&plan, SystemClock::new().wall())?;
    println!(
        "Cluster {:?} written to {} (CA {}).",
        args.name,
        args.dir.display(),
        out.ca_fingerprint
    );
    println!("Start each controller (one per host, or all here on loopback):");
    for config in &out.controller_configs {
        println!("  ferrocore controller --config {}", config.display());
    }
    println!("Nodes join with the template (copy and edit it per node):");
    println!("  ferrocore node --config {}", out.node_template.display());
    println!("Then point the CLI at the cluster:");
    println!("  export FERROCORE_CONFIG={}", out.admin_config.display());
    println!("  ferrocore cluster status");
    Ok(ExitCode::SUCCESS)
}
