//! `ferrocore dataplane`: runs the packet pipeline on the configured backend and serves its
//! programming API on a unix socket.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ferrocore_node_dataplane::config::DaemonConfig;
use ferrocore_node_dataplane::{backend, daemon};
use ferrocore_runtime::{OsSeededRng, SystemClock};

/// Arguments of `ferrocore dataplane`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The data plane's TOML configuration.
    #[arg(long, short)]
    config: PathBuf,
    /// API socket path (overrides the config's `socket`).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Parse the configuration and exit.
    #[arg(long)]
    check: bool,
}

/// Runs the data plane until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut cfg = DaemonConfig::load(&args.config)?;
    if let Some(s) = &args.socket {
        cfg.socket.clone_from(s);
    }
    if args.check {
        println!(
            "config ok: {} VM ports, {} objects",
            cfg.ports.len(),
            cfg.initial_requests().len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let stop = backend::kernel::stop_on_signals();
    let clock = SystemClock::new();
    let mut rng = OsSeededRng::new().map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let socket = cfg.socket.display().to_string();
    let backend = format!("{:?}", cfg.backend).to_lowercase();
    let ready = || eprintln!("dataplane: serving {socket} (backend {backend})");
    daemon::run(&cfg, &clock, &mut rng, stop, &ready).context("data plane stopped")?;
    Ok(ExitCode::SUCCESS)
}
