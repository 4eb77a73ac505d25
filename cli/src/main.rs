//! `ferrocore`: one binary for every role (controller, node, reflector, data plane, simulator)
//! and the client verbs. This crate parses arguments and wires the roles; it holds no logic.
//!
//! Each subcommand lives in its own module (`cmd_<name>.rs`) with an `Args` struct and a
//! `run(args) -> anyhow::Result<ExitCode>` function; `bench` groups the benchmarks the same way.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod client;
mod cmd_apply;
mod cmd_bootstrap;
// Called by `cluster status` in cmd_cluster.rs (the server-side verbs).
#[allow(dead_code)]
mod cmd_client_status;
mod cmd_cluster;
mod cmd_controller;
mod cmd_dataplane;
mod cmd_delete;
mod cmd_describe;
mod cmd_get;
mod cmd_node;
mod cmd_reflector;
mod cmd_sim;
mod cmd_validate;
mod cmd_watch;

/// ferrocore: the IronCore IaaS API on one Raft-replicated runtime.
#[derive(Debug, Parser)]
#[command(name = "ferrocore", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests against the IronCore v1alpha1 schema, defaults and validation rules.
    Validate(cmd_validate::Args),
    /// Create or update objects from manifests (per object: created, configured, unchanged).
    Apply(cmd_apply::Args),
    /// List or fetch objects: `get machines`, `get ma web-1 -o yaml`, `get nic -A -l app=web`.
    Get(cmd_get::Args),
    /// Show every field of objects, with their conditions.
    Describe(cmd_describe::Args),
    /// Delete objects by name or by manifest.
    Delete(cmd_delete::Args),
    /// Stream changes to objects (ADDED, MODIFIED, DELETED).
    Watch(cmd_watch::Args),
    /// Run the data plane (packet pipeline and its programming API).
    Dataplane(cmd_dataplane::Args),
    /// Run a controller (Raft member and API server) from its config.
    Controller(cmd_controller::Args),
    /// Run a node agent (compute, storage and bucket pools) from its config.
    Node(cmd_node::Args),
    /// Bootstrap a new cluster, or show its status.
    #[command(subcommand)]
    Cluster(cmd_cluster::ClusterCommand),
    /// Run the metalbond-compatible route reflector (or, with `client`, a reflector client).
    Reflector(cmd_reflector::Args),
    /// Run the deterministic simulator: seeds, swarm mode, replay, benchmark.
    Sim(cmd_sim::Args),
    /// Benchmarks that compare ferrocore with a peer measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => cmd_validate::run(&args),
        Command::Apply(args) => cmd_apply::run(&args),
        Command::Get(args) => cmd_get::run(&args),
        Command::Describe(args) => cmd_describe::run(&args),
        Command::Delete(args) => cmd_delete::run(&args),
        Command::Watch(args) => cmd_watch::run(&args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Reflector(args) => cmd_reflector::run(&args),
        Command::Dataplane(args) => cmd_dataplane::run(&args),
        Command::Controller(args) => cmd_controller::run(&args),
        Command::Node(args) => cmd_node::run(&args),
        Command::Cluster(cmd) => cmd_cluster::run(&cmd),
        Command::Sim(args) => cmd_sim::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
