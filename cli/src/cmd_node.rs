//! `ferrocore node --config FILE [--backend real|sim]`: runs a node agent until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use ferrocore_node_agent::Backend;

/// Arguments of `ferrocore node`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The node's TOML config (template: `node.toml.example` from `ferrocore cluster
    /// bootstrap`; docs/node-agent.md).
    #[arg(long, env = "FERROCORE_NODE_CONFIG")]
    config: PathBuf,
    /// The backend the pools run on (overrides the config): `real` runs them on libvirt, local
    /// files or Ceph, and RGW (per-pool tables in the config); `sim` on the compute and storage
    /// crates' fakes.
    #[arg(long)]
    backend: Option<Backend>,
}

/// Runs the node; returns after SIGTERM or SIGINT.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    ferrocore_actors::init_logging();
    ferrocore_node_agent::run_node(&args.config, args.backend)?;
    Ok(ExitCode::SUCCESS)
}
