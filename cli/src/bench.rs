//! `ferrocore bench ...`: each benchmark prints ferrocore's figures next to a peer's, measured in
//! the same run on the same machine.

use std::process::ExitCode;

use clap::Subcommand;

#[path = "bench_dataplane.rs"]
mod bench_dataplane;
#[path = "bench_schedule.rs"]
mod bench_schedule;
#[path = "bench_store.rs"]
mod bench_store;
#[path = "bench_vm.rs"]
mod bench_vm;
#[path = "bench_volume.rs"]
mod bench_volume;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Decode, default and validate the manifests in a directory, repeatedly (no peer: a baseline
    /// for the API layer's own cost).
    Validate(crate::cmd_validate::BenchArgs),
    /// Data plane: Mpps per core in memory (overlay, NAT, LB), cost as tables grow, and DPDK
    /// forwarding next to dpdk-testpmd io/mac on the same virtual device.
    Dataplane(bench_dataplane::Args),
    /// Route reflector: routes/s from one announcer to every subscriber through 2 reflectors,
    /// against a raw-TCP floor measured in the same run.
    Reflector(crate::cmd_reflector::BenchArgs),
    /// Storage node: volumes created per second and time to Available over Ceph, against
    /// `rbd create` / `rbd clone` of the same size in the same run.
    Volume(bench_volume::Args),
    /// Compute node: apply -> Running and machines/min with concurrent creates through libvirt,
    /// against `virsh create` of the same domain XML in the same run.
    Vm(bench_vm::Args),
    /// Object store: writes/s and p50/p99 of 1 KiB creates with 1, 16 and 256 clients on 3
    /// controllers, against a 3-member etcd's puts of the same bytes in the same run.
    Store(bench_store::Args),
    /// Control plane: placements/s of the machine scheduler on 5,000 pools and 50,000
    /// machines against an upstream-style scanning scheduler, and time until all are Running
    /// with every core over fake nodes.
    Schedule(bench_schedule::Args),
}

/// Runs one benchmark.
pub(crate) fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Validate(args) => crate::cmd_validate::bench(&args),
        BenchCommand::Dataplane(args) => bench_dataplane::run(&args),
        BenchCommand::Reflector(args) => crate::cmd_reflector::bench(&args),
        BenchCommand::Volume(args) => bench_volume::run(args),
        BenchCommand::Vm(args) => bench_vm::run(&args),
        BenchCommand::Store(args) => bench_store::run(&args),
        BenchCommand::Schedule(args) => bench_schedule::run(&args),
    }
}
