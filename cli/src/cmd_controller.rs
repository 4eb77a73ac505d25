//! `ferrocore controller --config FILE`: runs one controller until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ferrocore controller`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The controller's TOML config (from `ferrocore cluster bootstrap`; docs/controller.md).
    #[arg(long, env = "FERROCORE_CONTROLLER_CONFIG")]
    config: PathBuf,
}

/// Runs the controller; returns after a graceful shutdown.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    ferrocore_actors::init_logging();
    ferrocore_actors::run_controller(&args.config)?;
    Ok(ExitCode::SUCCESS)
}
