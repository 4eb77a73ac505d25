//! `ferrocore cluster ...`: bootstrap a new cluster (server side) and show its status
//! (client side, `cmd_client_status`).

use std::process::ExitCode;

use crate::{cmd_bootstrap, cmd_client_status};

/// The `cluster` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClusterCommand {
    /// Write a new cluster: CA, per-controller certificates, configs and data directories, the
    /// secrets-at-rest key, a bearer token and the admin client config.
    Bootstrap(cmd_bootstrap::Args),
    /// Show the members, leader, term, commit index and lag.
    Status(cmd_client_status::Args),
}

/// Runs one `cluster` subcommand.
pub(crate) fn run(command: &ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::Bootstrap(args) => cmd_bootstrap::run(args),
        ClusterCommand::Status(args) => cmd_client_status::run(args),
    }
}
