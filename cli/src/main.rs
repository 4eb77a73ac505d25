//! `ferrocore`: one binary for every role (controller, node, reflector, data plane, simulator)
//! and the client verbs. This crate parses arguments and wires the roles; it holds no logic.

use clap::Parser;

/// ferrocore: the IronCore IaaS API on one Raft-replicated runtime.
#[derive(Debug, Parser)]
#[command(name = "ferrocore", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
