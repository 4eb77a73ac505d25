//! The data plane in network namespaces: two hypervisors running `ferrocore dataplane`, VMs
//! behind its TAP devices, an "internet" VM; VNI isolation, virtual IP, NAT with neighbour NAT,
//! Maglev load balancing over three targets, and the firewall. Every packet stays inside
//! namespaces this test creates; they are deleted at the end.

mod netns;
mod servers;
mod world;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, ensure};
use ferrocore_node_dataplane::api::proto::Request;
use ferrocore_node_dataplane::*;
use netns::in_ns;
use servers::{Answer, Servers, ask};
use world::{Backend, INET, LB_IP, NAT_IP, VIP, World};

/// Connections the load-balancer scenario opens.
const LB_CONNECTIONS: usize = 1_000;

/// Whether one ping from the VM gets an answer within a second (ping exits 0 for an answer,
/// 1 for none; anything else, such as a missing `ping`, is an error, not a "no").
fn ping(w: &World, from: &str, to: Ipv4Addr) -> anyhow::Result<bool> {
    let ns = &w.vm(from).ns;
    let status = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            &to.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    match status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        other => anyhow::bail!(
            "ping from {from} failed to run (exit {other:?}); is iputils-ping installed?"
        ),
    }
}

fn tcp(
    w: &World,
    from: &str,
    to: Ipv4Addr,
    port: u16,
    rounds: usize,
) -> anyhow::Result<Option<Vec<String>>> {
    let addr = SocketAddr::from((to, port));
    in_ns(&w.vm(from).ns, move || {
        ask(addr, rounds, Duration::from_secs(2))
    })
}

fn start_servers(w: &World) -> anyhow::Result<Servers> {
    let mut s = Servers::default();
    for (_, vm) in &w.vms {
        if vm.port == "tap-inet" {
            s.start(&vm.ns, 8000, Answer::Peer)?;
            continue;
        }
        let name = vm.port.trim_start_matches("tap-").to_owned();
        for port in [7000, 7001, 9000] {
            s.start(&vm.ns, port, Answer::Name(name.clone()))?;
        }
    }
    Ok(s)
}

fn same_vni_and_isolation(w: &World) -> anyhow::Result<()> {
    ensure!(
        ping(w, "tap-a", Ipv4Addr::new(10, 100, 0, 3))?,
        "A cannot ping C across hypervisors"
    );
    ensure!(
        ping(w, "tap-c", Ipv4Addr::new(10, 100, 0, 1))?,
        "C cannot ping A"
    );
    ensure!(
        ping(w, "tap-a", Ipv4Addr::new(10, 100, 0, 2))?,
        "A cannot ping B on the same hypervisor"
    );
    let got = tcp(w, "tap-a", Ipv4Addr::new(10, 100, 0, 3), 7000, 2)?;
    ensure!(
        got == Some(vec!["c".into(), "c".into()]),
        "A→C TCP: {got:?}"
    );
    ensure!(
        !ping(w, "tap-a", Ipv4Addr::new(10, 200, 0, 4))?,
        "A (VNI 100) reached D (VNI 200)"
    );
    ensure!(
        !ping(w, "tap-d", Ipv4Addr::new(10, 100, 0, 1))?,
        "D (VNI 200) reached A (VNI 100)"
    );
    ensure!(
        tcp(w, "tap-d", Ipv4Addr::new(10, 100, 0, 3), 7000, 1)?.is_none(),
        "D reached C over TCP"
    );
    Ok(())
}

fn virtual_ip_and_nat(w: &World) -> anyhow::Result<()> {
    let got = tcp(w, "tap-inet", VIP, 7000, 1)?;
    ensure!(got == Some(vec!["a".into()]), "internet → VIP: {got:?}");
    let seen = tcp(w, "tap-a", INET, 8000, 1)?.context("A → internet failed")?;
    ensure!(
        seen[0].starts_with(&format!("{VIP}:")),
        "A left through {seen:?}, not its VIP"
    );
    for (vm, slot) in [("tap-b", 1024..1088), ("tap-c", 1088..1152)] {
        let seen = tcp(w, vm, INET, 8000, 2)?
            .with_context(|| format!("{vm} → internet through NAT failed"))?;
        let addr: SocketAddr = seen[0].parse()?;
        ensure!(addr.ip() == NAT_IP, "{vm} left as {addr}, not the NAT IP");
        ensure!(
            slot.contains(&addr.port()),
            "{vm} used port {} outside its slot {slot:?}",
            addr.port()
        );
    }
    ensure!(
        ping(w, "tap-inet", NAT_IP)?,
        "the NAT IP does not answer pings"
    );
    Ok(())
}

fn load_balancer(w: &World) -> anyhow::Result<()> {
    let ns = w.vm("tap-inet").ns.clone();
    let counts = in_ns(&ns, || {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut failures = 0;
        for _ in 0..LB_CONNECTIONS {
            match ask(SocketAddr::from((LB_IP, 9000)), 2, Duration::from_secs(2)) {
                Some(a) if a[0] == a[1] => *counts.entry(a[0].clone()).or_default() += 1,
                Some(a) => *counts.entry(format!("moved {a:?}")).or_default() += 1,
                None => failures += 1,
            }
        }
        (counts, failures)
    })?;
    let (counts, failures) = counts;
    ensure!(
        failures == 0,
        "{failures} load-balanced connections failed ({counts:?})"
    );
    ensure!(counts.len() == 3, "targets used: {counts:?}");
    // Maglev gives each of 3 targets a third of the table (within 1%); 1,000 flows then land
    // binomially: 333 ± 15 (1σ). ±85 is over 5σ.
    for (t, n) in &counts {
        ensure!(
            (248..=418).contains(n),
            "target {t} got {n} of {LB_CONNECTIONS}: {counts:?}"
        );
    }
    Ok(())
}

fn firewall(w: &mut World) -> anyhow::Result<()> {
    let c = Ipv4Addr::new(10, 100, 0, 3);
    let rule = FirewallRuleSpec {
        interface: InterfaceId::new("c")?,
        id: RuleId::new("only-7000")?,
        direction: Direction::Ingress,
        action: FirewallAction::Accept,
        priority: 100,
        source: "0.0.0.0/0".parse()?,
        destination: "0.0.0.0/0".parse()?,
        protocol: ProtocolFilter::L4 {
            proto: L4Proto::Tcp,
            src_ports: FirewallPorts::ANY,
            dst_ports: FirewallPorts {
                first: 7000,
                last: 7000,
            },
        },
    };
    w.clients[1].apply(&Request::CreateFirewallRule(rule))?;
    ensure!(
        tcp(w, "tap-a", c, 7000, 1)?.is_some(),
        "allowed port 7000 blocked"
    );
    ensure!(
        tcp(w, "tap-a", c, 7001, 1)?.is_none(),
        "port 7001 not blocked by the ingress rule"
    );
    ensure!(
        !ping(w, "tap-a", c)?,
        "ICMP not blocked by the ingress rule"
    );
    ensure!(
        tcp(w, "tap-c", Ipv4Addr::new(10, 100, 0, 1), 7001, 1)?.is_some(),
        "C's egress (no rules) blocked"
    );
    let drops = w.clients[1]
        .stats()?
        .ports
        .iter()
        .map(|(_, s)| s.drops_for(DropReason::Firewall))
        .sum::<u64>();
    ensure!(drops > 0, "no firewall drops counted");
    w.clients[1].apply(&Request::DeleteFirewallRule {
        interface: InterfaceId::new("c")?,
        id: RuleId::new("only-7000")?,
    })?;
    ensure!(
        tcp(w, "tap-a", c, 7001, 1)?.is_some(),
        "port 7001 still blocked after the rule was deleted"
    );
    Ok(())
}

fn scenarios(backend: Backend, tag: &str) -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!(
            "skipping data plane namespace scenarios: cannot create network namespaces (need root and iproute2)"
        );
        return Ok(());
    }
    let mut w = World::start(backend, tag)?;
    let want = format!(
        "(backend {})",
        if backend == Backend::Dpdk {
            "dpdk"
        } else {
            "kernel"
        }
    );
    ensure!(
        w.logs().matches(&want).count() == 2,
        "both data planes should run {want}:\n{}",
        w.logs()
    );
    let servers = start_servers(&w)?;
    let result = same_vni_and_isolation(&w)
        .and_then(|()| virtual_ip_and_nat(&w))
        .and_then(|()| load_balancer(&w))
        .and_then(|()| firewall(&mut w));
    if let (Err(_), Some(secs)) = (
        &result,
        std::env::var("FCDP_HOLD_SECS")
            .ok()
            .and_then(|s| s.parse().ok()),
    ) {
        eprintln!(
            "holding the failed topology for {secs} s (namespaces {:?})",
            w.hv
        );
        std::thread::sleep(Duration::from_secs(secs));
    }
    drop(servers);
    let stats: Vec<String> = (0..2)
        .map(|i| {
            w.clients[i]
                .stats()
                .map_or_else(|e| e.to_string(), |s| format!("{s:?}"))
        })
        .collect();
    result.with_context(|| {
        format!(
            "data plane logs:\n{}\nstats:\n{}",
            w.logs(),
            stats.join("\n")
        )
    })
}

#[test]
fn kernel_backend_scenarios() -> anyhow::Result<()> {
    scenarios(Backend::Kernel, "k")
}

#[test]
fn dpdk_backend_scenarios() -> anyhow::Result<()> {
    scenarios(Backend::Dpdk, "d")
}
