//! The packet pipeline: one sans-IO state machine that takes a frame from a port and says
//! where it goes (or why it is dropped), and takes programming requests.
//!
//! ```text
//!  VM port ─► classify ─┬─ ARP / ND / DHCP / echo to gateway ─► answer on the same port
//!                       └─ conntrack ─(new flow: route, VIP/NAT SNAT, firewall)─► translate
//!                              ─► TTL ─► route ─┬─ local interface ─► VM port
//!                                               ├─ local underlay (VIP, LB) ─► recirculate
//!                                               └─ remote ─► IP-in-IPv6 ─► uplink
//!  uplink ─► classify ─┬─ NS for our underlay ─► NA
//!                      └─ IP-in-IPv6 ─► VNF of outer dst ─┬─ interface / prefix ─┐
//!                                                         ├─ VIP (DNAT) ─────────┤─► conntrack,
//!                                                         ├─ NAT (reverse, relay)┘   firewall ─► VM
//!                                                         └─ LB (Maglev) ─► re-encap ─► uplink
//! ```
//!
//! Every call to [`Dataplane::process`] ends in exactly one [`Verdict`], and the counters
//! record it, so the counters account for every packet.

mod burst;
mod flow;
mod program;
mod uplink;
mod vm;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use ferrocore_runtime::{MonoTime, Rng};

pub use self::burst::BURST_MAX;
use crate::api::proto::Stats;
use crate::conntrack::{Conntrack, HashSeed, Timeouts};
use crate::counters::{DropReason, PortStats};
use crate::fasthash::FastMap;
use crate::packet::dhcp::DhcpConfig;
use crate::packet::frame::Frame;
use crate::packet::parse::{L3, ParseError};
use crate::packet::respond::{IcmpError, icmp_error};
use crate::tables::{Limits, Port, PortKind, Tables, UnderlayAlloc};
use crate::types::{Mac, PortId};

/// Underlay neighbours (IPv6 → MAC) remembered from received frames: bounds the table a
/// flood of spoofed sources could grow.
const MAX_NEIGHBORS: usize = 4_096;

/// How many times one packet may be fed back into the pipeline (VM → local VIP or load
/// balancer → local target): two covers VM → LB → target; more would be a loop.
const MAX_RECIRC: u8 = 2;

/// Where a packet goes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of this port.
    Tx(PortId),
    /// Drop it, for this reason.
    Drop(DropReason),
}

/// The pipeline's settings.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// This hypervisor's underlay /64: generated underlay addresses come from it.
    pub underlay_prefix: Ipv6Addr,
    /// Largest IPv6 packet the underlay carries (outer header included).
    pub underlay_mtu: u16,
    /// Most flows tracked at once.
    pub conntrack_capacity: usize,
    /// Idle lifetime of flows other than established TCP, in seconds.
    pub flow_timeout_secs: u64,
    /// Idle lifetime of established TCP connections, in seconds.
    pub tcp_established_timeout_secs: u64,
    /// Lifetime of a TCP connection after FIN or RST, in seconds.
    pub tcp_closing_timeout_secs: u64,
    /// Table limits.
    pub limits: Limits,
    /// MAC of the underlay router, used until a neighbour's own MAC is learned.
    pub underlay_gateway_mac: Option<Mac>,
    /// DHCP settings.
    pub dhcp: DhcpConfig,
    /// ICMP errors sent per second at most (the rest are dropped and counted).
    pub icmp_errors_per_sec: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            underlay_prefix: Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, 0),
            underlay_mtu: 1500,
            conntrack_capacity: 262_144,
            flow_timeout_secs: 30,
            tcp_established_timeout_secs: 24 * 3600,
            tcp_closing_timeout_secs: 10,
            limits: Limits::default(),
            underlay_gateway_mac: None,
            dhcp: DhcpConfig::default(),
            icmp_errors_per_sec: 1_000,
        }
    }
}

/// A backend port handed to the pipeline.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PortConfig {
    /// The device name interfaces refer to.
    pub name: String,
    /// VM port or uplink.
    pub kind: PortKind,
    /// Our MAC on the port.
    pub mac: Mac,
}

/// The data plane: tables, conntrack and counters, driven by packets and programming calls.
#[derive(Debug)]
pub struct Dataplane {
    tables: Tables,
    ct: Conntrack,
    stats: Vec<PortStats>,
    neighbors: FastMap<Ipv6Addr, Mac>,
    cfg: PipelineConfig,
    initialized: bool,
    instance: u64,
    icmp_window: (u64, u32),
    /// Moves on with every programming call and learned-neighbour change: flows' cached
    /// forwarding decisions ([`crate::conntrack::Egress`]) from an older generation are
    /// recomputed.
    route_gen: u64,
}

impl Dataplane {
    /// A data plane over `ports` (at most one uplink), drawing its instance id and underlay
    /// randomness from `rng`.
    pub fn new(cfg: PipelineConfig, ports: &[PortConfig], rng: &mut dyn Rng) -> Self {
        let instance = rng.next_u64();
        let random = instance.to_le_bytes()[0];
        let ports: Vec<Port> = ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                kind: p.kind,
                mac: p.mac,
            })
            .collect();
        let timeouts = Timeouts {
            flow: Duration::from_secs(cfg.flow_timeout_secs),
            tcp_established: Duration::from_secs(cfg.tcp_established_timeout_secs),
            tcp_closing: Duration::from_secs(cfg.tcp_closing_timeout_secs),
        };
        Self {
            stats: vec![PortStats::new(); ports.len()],
            tables: Tables::new(
                ports,
                UnderlayAlloc::new(cfg.underlay_prefix, random),
                cfg.limits,
            ),
            ct: Conntrack::new(
                cfg.conntrack_capacity,
                timeouts,
                HashSeed::new(rng.next_u64()),
            ),
            neighbors: FastMap::default(),
            cfg,
            initialized: false,
            instance,
            icmp_window: (0, 0),
            route_gen: 0,
        }
    }

    /// Handles one frame received on `port`, rewriting it in place. On `Tx`, the backend sends
    /// the frame's current bytes out of the returned port.
    pub fn process(&mut self, now: MonoTime, port: PortId, frame: &mut Frame<'_>) -> Verdict {
        let Some(kind) = self.tables.ports.get(port.index()).map(|p| p.kind) else {
            return Verdict::Drop(DropReason::NoInterface);
        };
        let rx = &mut self.stats[port.index()];
        rx.rx_packets += 1;
        rx.rx_bytes += frame.len() as u64;
        let verdict = match kind {
            PortKind::Vm => self.handle_vm(now, port, frame),
            PortKind::Uplink => self.handle_uplink(now, port, frame),
        };
        match verdict {
            Verdict::Tx(out) => {
                let s = &mut self.stats[out.index()];
                s.tx_packets += 1;
                s.tx_bytes += frame.len() as u64;
            }
            Verdict::Drop(r) => self.stats[port.index()].drops[r as usize] += 1,
        }
        verdict
    }

    /// Periodic housekeeping (conntrack aging, a bounded batch per call).
    pub fn tick(&mut self, now: MonoTime) {
        self.ct.age(now);
    }

    /// Counters of every port, conntrack and the other tables.
    pub fn stats(&self) -> Stats {
        let t = &self.tables;
        let lim = t.limits;
        Stats {
            ports: t
                .ports
                .iter()
                .map(|p| p.name.clone())
                .zip(self.stats.iter().cloned())
                .collect(),
            conntrack: self.ct.stats(),
            tables: vec![
                ("routes".into(), t.lpm.len() as u64, lim.routes as u64),
                (
                    "load_balancers".into(),
                    t.lb_ids.len() as u64,
                    lim.load_balancers as u64,
                ),
                (
                    "underlay_neighbors".into(),
                    self.neighbors.len() as u64,
                    MAX_NEIGHBORS as u64,
                ),
                ("vnfs".into(), t.vnf_count as u64, u64::MAX),
            ],
        }
    }

    /// Whether an underlay address belongs to one of this data plane's objects.
    pub fn owns_underlay(&self, ip: Ipv6Addr) -> bool {
        self.tables.vnf(ip).is_some()
    }

    /// The ports, in order.
    pub fn port_names(&self) -> Vec<String> {
        self.tables.ports.iter().map(|p| p.name.clone()).collect()
    }

    /// Checks internal consistency; panics on a broken invariant (tests and the simulator).
    pub fn check_invariants(&self) {
        self.tables.check_invariants();
        self.ct.check_invariants();
        let rx: u64 = self.stats.iter().map(|s| s.rx_packets).sum();
        let out: u64 = self.stats.iter().map(|s| s.tx_packets + s.dropped()).sum();
        assert_eq!(rx, out, "counters do not account for every packet");
    }

    fn uplink_macs(&self, next_hop: Ipv6Addr) -> Option<(PortId, (Mac, Mac))> {
        let up = self.tables.uplink?;
        let ours = self.tables.ports[up.index()].mac;
        let theirs = self
            .neighbors
            .get(&next_hop)
            .copied()
            .or(self.cfg.underlay_gateway_mac)
            .unwrap_or(Mac([0x33, 0x33, 0, 0, 0, 1]));
        Some((up, (ours, theirs)))
    }

    fn learn_neighbor(&mut self, ip: IpAddr, mac: Mac) {
        let IpAddr::V6(ip) = ip else { return };
        if mac.is_multicast() {
            return;
        }
        let full = self.neighbors.len() >= MAX_NEIGHBORS;
        match self.neighbors.get_mut(&ip) {
            Some(known) if *known == mac => {}
            Some(known) => {
                *known = mac;
                self.route_gen += 1;
            }
            None if full => {}
            None => {
                self.neighbors.insert(ip, mac);
                self.route_gen += 1;
            }
        }
    }

    /// Answers with an ICMP error on `port` if the rate limit allows.
    fn icmp(
        &mut self,
        now: MonoTime,
        port: PortId,
        frame: &mut Frame<'_>,
        l: &L3,
        err: IcmpError,
    ) -> Verdict {
        let second = now.as_nanos() / 1_000_000_000;
        if self.icmp_window.0 != second {
            self.icmp_window = (second, 0);
        }
        if self.icmp_window.1 >= self.cfg.icmp_errors_per_sec {
            return Verdict::Drop(DropReason::IcmpRateLimited);
        }
        self.icmp_window.1 += 1;
        let from = if l.v6 {
            IpAddr::V6(crate::packet::respond::GATEWAY_V6)
        } else {
            IpAddr::V4(crate::packet::respond::GATEWAY_V4)
        };
        let mac = self.tables.ports[port.index()].mac;
        if icmp_error(frame, l, err, mac, from) {
            Verdict::Tx(port)
        } else {
            Verdict::Drop(match err {
                IcmpError::NoRoute => DropReason::NoRoute,
                IcmpError::TimeExceeded | IcmpError::TooBig(_) => DropReason::NoRoom,
            })
        }
    }
}

fn parse_drop(e: ParseError) -> Verdict {
    Verdict::Drop(match e {
        ParseError::Malformed => DropReason::Malformed,
        ParseError::UnknownEtherType => DropReason::UnknownEtherType,
        ParseError::Fragment => DropReason::Fragment,
    })
}

#[cfg(test)]
mod tests;
