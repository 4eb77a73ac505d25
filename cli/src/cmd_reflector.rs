//! `ferrocore reflector`: the metalbond-compatible route reflector, its client mode, and
//! `ferrocore bench reflector`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ferrocore_node_reflector::{
    BenchOptions, ClientRun, KeepaliveInterval, ReflectorConfig, Route, TableMap, Vni,
    init_logging, run_bench, run_client, run_server,
};

/// Arguments of `ferrocore reflector`. Flags override the config file field by field.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// TOML config (listen, status, keepalive, send_pause_ms, log).
    #[arg(long, env = "FERROCORE_REFLECTOR_CONFIG")]
    config: Option<PathBuf>,
    /// metalbond listen address; repeat for several (default [::]:4711).
    #[arg(long)]
    listen: Vec<String>,
    /// JSON status address (default [::1]:4712; "" for none).
    #[arg(long)]
    status: Option<String>,
    /// Keepalive interval in seconds proposed to peers (default 5).
    #[arg(long)]
    keepalive: Option<u32>,
    /// Pause in ms after each 32 KiB batch to one peer (default 0; 1 is gentle on Go peers).
    #[arg(long)]
    send_pause_ms: Option<u64>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long)]
    log: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// Connect to reflectors as a client: subscribe, announce, print (and optionally install)
    /// the merged table.
    Client(ClientArgs),
}

/// Arguments of `ferrocore reflector client`.
#[derive(Debug, clap::Args)]
struct ClientArgs {
    /// A reflector address; repeat for HA.
    #[arg(long = "server", required = true)]
    servers: Vec<SocketAddr>,
    /// A VNI to subscribe to; repeatable.
    #[arg(long)]
    subscribe: Vec<u32>,
    /// A route to announce: VNI#PREFIX#NEXTHOP[#STD|#LB|#NAT#FROM#TO]; repeatable.
    #[arg(long)]
    announce: Vec<Route>,
    /// Install received routes into the kernel: VNI#TABLE[,VNI#TABLE...].
    #[arg(long)]
    install_routes: Option<TableMap>,
    /// The ip6tnl device used for installed routes.
    #[arg(long, default_value = "overlay-tun")]
    tun: String,
    /// Install only IPv4 destinations.
    #[arg(long)]
    ipv4_only: bool,
    /// Keepalive interval in seconds.
    #[arg(long, default_value_t = 5)]
    keepalive: u32,
}

/// Arguments of `ferrocore bench reflector`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Routes announced.
    #[arg(long, default_value_t = 100_000)]
    routes: usize,
    /// Subscribing clients.
    #[arg(long, default_value_t = 50)]
    subscribers: usize,
    /// Reflectors (every client connects to all of them).
    #[arg(long, default_value_t = 2)]
    reflectors: usize,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut cfg = match &args.config {
        Some(path) => ReflectorConfig::load(path)?,
        None => ReflectorConfig::default(),
    };
    if !args.listen.is_empty() {
        cfg.listen.clone_from(&args.listen);
    }
    if let Some(s) = &args.status {
        cfg.status.clone_from(s);
    }
    cfg.keepalive = args.keepalive.unwrap_or(cfg.keepalive);
    cfg.send_pause_ms = args.send_pause_ms.unwrap_or(cfg.send_pause_ms);
    if let Some(l) = &args.log {
        cfg.log.clone_from(l);
    }
    init_logging(&cfg.log);
    match &args.mode {
        None => run_server(&cfg.to_options()?)?,
        Some(Mode::Client(c)) => {
            let run = ClientRun {
                servers: c.servers.clone(),
                subscribe: c.subscribe.iter().copied().map(Vni).collect(),
                announce: c.announce.clone(),
                install: c
                    .install_routes
                    .clone()
                    .map(|t| (c.tun.clone(), t, c.ipv4_only)),
                keepalive: KeepaliveInterval(c.keepalive),
            };
            run_client(&run)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    init_logging("error");
    let o = BenchOptions {
        routes: args.routes,
        subscribers: args.subscribers,
        reflectors: args.reflectors,
    };
    println!(
        "reflector: {} routes announced by one client, {} subscribers, {} reflectors \
         (every client connected to every reflector), loopback TCP",
        o.routes, o.subscribers, o.reflectors
    );
    let r = run_bench(o)?;
    let deliveries = r.routes_per_s() * (o.subscribers * o.reflectors) as f64;
    println!(
        "  ferrocore reflector : converged in {:>8.3} s  {:>10.0} routes/s to every subscriber \
         ({deliveries:.0} route messages/s delivered)",
        r.converge.as_secs_f64(),
        r.routes_per_s()
    );
    println!(
        "  floor (same run)    : {:>8.3} s  {:>10.0} routes/s: the same UPDATE frames over {} raw \
         TCP connections, decoded only (no protocol, table or fan-out work)",
        r.floor.as_secs_f64(),
        r.floor_routes_per_s(),
        o.subscribers * o.reflectors
    );
    println!(
        "  CPU time used       : reflector phase {:.1} s, floor {:.1} s (wall time above depends \
         on machine load; CPU time does not)",
        r.converge_cpu.as_secs_f64(),
        r.floor_cpu.as_secs_f64()
    );
    println!(
        "  ferrocore / floor   : {:.2}x the floor's time. No Go metalbond is available here to \
         compare with; the floor is the cost of moving and parsing the same bytes.",
        r.converge.as_secs_f64() / r.floor.as_secs_f64().max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
