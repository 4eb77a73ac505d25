//! `ferrocore bench schedule`: the machine scheduler at cloud scale, in two parts.
//!
//! 1. The scheduler core alone: `--pools` pools in 10 zones and `--machines` machines, every
//!    bind confirmed as the watch would confirm it, over-commit counted independently of the
//!    scheduler's own books. The peer, measured in the same run on the same pools, is the same
//!    scheduler picking upstream's way (every pool scanned per machine, as ironcore's
//!    machinepoollet-side scheduler does); a property test proves both make the same choices.
//! 2. Every control-plane core together (the mini cluster: schedulers, reconcile cores, pool
//!    health, fake nodes that hold what they are told and report it): `--e2e-pools` pools spread
//!    over fake nodes, `--e2e-machines` machines applied at once; wall time until every machine
//!    is Running on its fake node, and how many pools ended over capacity (must be 0). Smaller
//!    than part 1 by default: the harness is not built for scale (see the argument's doc).
//!
//! It runs in process (no Raft, no QUIC): it measures the decisions, not the transport, which
//! `ferrocore bench store` measures.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use ferrocore_actors::cores::{FakeNode, MiniCluster};
use ferrocore_actors::health::HealthConfig;
use ferrocore_actors::reconcile::ViewExt;
use ferrocore_actors::scheduler::bench::{run_naive_schedule_bench, run_schedule_bench};
use ferrocore_api::compute::{Machine, MachineState};
use ferrocore_api::iri::machine::{MachineClass, MachineClassName, MachineClassStatus};
use ferrocore_api::iri::protocol::{PoolCapacity, PoolRegistration};
use ferrocore_api::{Object, decode::decode_object};
use ferrocore_runtime::{Clock, SystemClock};

/// Pools per fake node in the end-to-end part (a hypervisor usually offers one pool; grouping
/// keeps the node count, which costs nothing but memory, moderate).
const POOLS_PER_NODE: usize = 10;
/// Zones the pools are spread over.
const ZONES: usize = 10;

/// Arguments of `ferrocore bench schedule`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Simulated machine pools.
    #[arg(long, default_value_t = 5_000)]
    pools: usize,
    /// Machines to place.
    #[arg(long, default_value_t = 50_000)]
    machines: usize,
    /// Machines the scanning peer places (it is slow: 5,000 take it seconds to minutes).
    #[arg(long, default_value_t = 5_000)]
    peer_machines: usize,
    /// Pools in the end-to-end part (every core over fake nodes).
    #[arg(long, default_value_t = 500)]
    e2e_pools: usize,
    /// Machines in the end-to-end part. The mini cluster runs every core over every object in
    /// each round (it is the cores' test harness, not the event-driven supervisor), so its cost
    /// grows faster than linearly: 5,000 machines take it tens of seconds.
    #[arg(long, default_value_t = 5_000)]
    e2e_machines: usize,
    /// Skip the end-to-end part.
    #[arg(long)]
    no_e2e: bool,
}

/// Runs the benchmark and prints its table.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.pools == 0 || args.machines == 0 || args.e2e_pools == 0 || args.e2e_machines == 0 {
        bail!("--pools, --machines, --e2e-pools and --e2e-machines must be at least 1");
    }
    eprintln!(
        "scheduler core: {} pools, {} machines ...",
        args.pools, args.machines
    );
    let (ours, over) = run_schedule_bench(args.pools, args.machines);
    eprintln!(
        "scanning peer: {} pools, {} machines ...",
        args.pools, args.peer_machines
    );
    let peer = run_naive_schedule_bench(args.pools, args.peer_machines.max(1));
    println!("part                                   placements/s   max over-commit");
    println!("scheduler core (ferrocore, indexed)    {ours:>12.0}   {over:>15}");
    println!(
        "scheduler core (peer: scan all pools)  {peer:>12.0}   {:>15}",
        "-"
    );
    println!("ratio ferrocore / peer: {:.1}x", ours / peer.max(1e-9));
    if args.no_e2e {
        return Ok(ExitCode::SUCCESS);
    }
    let e2e = end_to_end(args.e2e_pools, args.e2e_machines)?;
    println!(
        "all cores over {} fake nodes: {} of {} machines Running in {:.2} s wall ({} rounds), \
         {:.0} machines/s to Running, {} pools over capacity",
        e2e.nodes,
        e2e.running,
        args.e2e_machines,
        e2e.seconds,
        e2e.rounds,
        e2e.per_second(args.e2e_machines),
        e2e.over_capacity
    );
    println!(
        "goal: >= 1,000 placements/s with no pool over-committed (kube-scheduler's CI gate: \
         680-810 pods/s at 5,000 nodes; not measured here)"
    );
    if over > 0 || e2e.over_capacity > 0 || e2e.running != args.e2e_machines {
        eprintln!("FAILED: over-commit or machines left unplaced");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the end-to-end part measured.
struct EndToEnd {
    nodes: usize,
    running: usize,
    seconds: f64,
    rounds: usize,
    over_capacity: usize,
}

impl EndToEnd {
    fn per_second(&self, machines: usize) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a count of machines, far below 2^52
        let n = machines as f64;
        n / self.seconds.max(1e-9)
    }
}

/// Room per pool: every machine fits, with one slot of slack per pool.
fn per_pool(pools: usize, machines: usize) -> i64 {
    i64::try_from(machines.div_ceil(pools) + 1).unwrap_or(i64::MAX)
}

fn end_to_end(pools: usize, machines: usize) -> anyhow::Result<EndToEnd> {
    let mut cluster = MiniCluster::new(HealthConfig::default());
    let class = object(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass\n\
         metadata: {name: bench-small}\ncapabilities: {cpu: 1, memory: 1Gi}",
    )?;
    let refused = cluster.apply([class]);
    if !refused.is_empty() {
        bail!("the bench's MachineClass was refused: {refused:?}");
    }
    let room = per_pool(pools, machines);
    let names: Vec<String> = (0..pools).map(|i| format!("pool-{i:05}")).collect();
    for (n, chunk) in names.chunks(POOLS_PER_NODE).enumerate() {
        let regs = chunk
            .iter()
            .enumerate()
            .map(|(j, p)| registration(p, (n * POOLS_PER_NODE + j) % ZONES, room))
            .collect();
        cluster.add_node(FakeNode::new(&format!("node-{n:04}"), regs));
    }
    let nodes = cluster.nodes().len();
    eprintln!("all cores: {pools} pools on {nodes} fake nodes, {machines} machines ...");
    let objects: Vec<Object> = (0..machines).map(machine).collect::<anyhow::Result<_>>()?;
    let clock = SystemClock::new();
    let start = clock.now();
    let refused = cluster.apply(objects);
    if !refused.is_empty() {
        bail!(
            "{} machines were refused, first: {:?}",
            refused.len(),
            refused[0]
        );
    }
    let rounds = cluster
        .run()
        .map_err(|r| anyhow::anyhow!("no fixpoint after {r} rounds"))?;
    let seconds = clock.now().saturating_since(start).as_secs_f64();
    let view = cluster.objects();
    let mut per_pool_count: BTreeMap<String, i64> = BTreeMap::new();
    let mut running = 0;
    for m in view.all::<Machine>(Some("bench")) {
        if m.status.state == Some(MachineState::Running) {
            running += 1;
        }
        if let Some(p) = &m.spec.machine_pool_ref {
            *per_pool_count.entry(p.name.clone()).or_default() += 1;
        }
    }
    let over_capacity = per_pool_count.values().filter(|n| **n > room).count();
    Ok(EndToEnd {
        nodes,
        running,
        seconds,
        rounds,
        over_capacity,
    })
}

fn object(yaml: &str) -> anyhow::Result<Object> {
    decode_object(yaml).map_err(|e| anyhow::anyhow!("{e}"))
}

fn machine(i: usize) -> anyhow::Result<Object> {
    object(&format!(
        "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine\n\
         metadata: {{name: m-{i:06}, namespace: bench}}\n\
         spec: {{machineClassRef: {{name: bench-small}}}}"
    ))
    .with_context(|| format!("machine {i}"))
}

fn registration(name: &str, zone: usize, room: i64) -> PoolRegistration {
    PoolRegistration {
        name: name.to_owned(),
        provider_id: format!("sim://{name}"),
        labels: BTreeMap::from([(
            "topology.ironcore.dev/zone".to_owned(),
            format!("zone-{zone}"),
        )]),
        capacity: PoolCapacity::Machine(vec![MachineClassStatus {
            machine_class: MachineClass {
                name: MachineClassName("bench-small".to_owned()),
                capabilities: BTreeMap::from([("cpu".into(), 1), ("memory".into(), 1 << 30)]),
            },
            quantity: room,
        }]),
    }
}
