//! The programmed state: interfaces, routes, virtual functions (every local object that owns an
//! underlay address), NAT slots, load balancers and firewall rules; and the checks that keep it
//! consistent when the network agent changes it.
//!
//! Lookups here are what the packet path uses; the `program*` files hold the API operations.

mod program;
mod program_lb;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::fasthash::FastMap;
use crate::firewall::RuleSet;
use crate::lpm::Lpm;
use crate::maglev::Maglev;
use crate::spec::{InterfaceSpec, LoadBalancerSpec, NatSpec, NeighborNatSpec, PrefixKind};
use crate::types::{Cidr, InterfaceId, LbId, Mac, PortId, Vni};

/// Bounds on every table, so a client cannot make the data plane grow without limit.
#[derive(Clone, Copy, Debug, serde::Deserialize, serde::Serialize)]
pub struct Limits {
    /// Routes in all VNIs together.
    pub routes: usize,
    /// Load balancers.
    pub load_balancers: usize,
    /// Firewall rules per interface.
    pub firewall_rules: usize,
    /// Neighbour NAT slots.
    pub neighbor_nats: usize,
    /// Prefixes per interface.
    pub prefixes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            routes: 1_000_000,
            load_balancers: 256,
            firewall_rules: 1_024,
            neighbor_nats: 65_536,
            prefixes: 64,
        }
    }
}

/// What kind of port a backend device is.
#[derive(Clone, Copy, Debug, Eq, PartialEq, serde::Deserialize, serde::Serialize)]
pub enum PortKind {
    /// A VM-facing port (TAP, veth, virtual function).
    Vm,
    /// The underlay (physical function) port.
    Uplink,
}

/// A backend port as the pipeline knows it.
#[derive(Clone, Debug)]
pub(crate) struct Port {
    pub(crate) name: String,
    pub(crate) kind: PortKind,
    /// Our own MAC on this port (the VM's gateway, or the uplink's source MAC).
    pub(crate) mac: Mac,
}

/// A local object that owns an underlay address: what decapsulated traffic to it means.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Vnf {
    /// An interface's own addresses, or a prefix routed to it: deliver to the port.
    Interface(PortId),
    /// An interface's virtual IP: DNAT to the interface, then deliver.
    Vip(PortId),
    /// An interface's NAT slot: reverse-translate replies, relay other slots' traffic.
    Nat(PortId),
    /// A load balancer (its slot in `Tables::lbs`).
    Lb(u32),
}

/// A VNF and the VNI it belongs to.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct VnfEntry {
    pub(crate) vnf: Vnf,
    pub(crate) vni: Vni,
}

/// An interface as the pipeline holds it.
#[derive(Clone, Debug)]
pub(crate) struct Iface {
    pub(crate) spec: InterfaceSpec,
    pub(crate) underlay: Ipv6Addr,
    /// The VM's MAC, learned from its frames.
    pub(crate) vm_mac: Option<Mac>,
    pub(crate) vip: Option<(Ipv4Addr, Ipv6Addr)>,
    pub(crate) nat: Option<(NatSpec, Ipv6Addr)>,
    pub(crate) prefixes: BTreeMap<Cidr, (PrefixKind, Ipv6Addr)>,
    pub(crate) firewall: RuleSet,
}

impl Iface {
    /// Whether the VM may use `ip` as a source address.
    pub(crate) fn owns(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) if self.spec.ipv4 == Some(a) => true,
            IpAddr::V6(a) if self.spec.ipv6 == Some(a) => true,
            _ => self.prefixes.keys().any(|p| p.contains(ip)),
        }
    }
}

/// A load balancer.
#[derive(Clone, Debug)]
pub(crate) struct Lb {
    pub(crate) spec: LoadBalancerSpec,
    pub(crate) underlay: Ipv6Addr,
    pub(crate) maglev: Maglev,
}

/// Underlay address generation: `host /64 | 0xd0 | subtype | flags | random | counter`.
#[derive(Clone, Debug)]
pub(crate) struct UnderlayAlloc {
    prefix: u128,
    random: u8,
    counter: u32,
}

impl UnderlayAlloc {
    /// Addresses under `prefix` (its upper 64 bits are used), with `random` as the per-instance
    /// byte that keeps two restarts from reusing each other's addresses.
    pub(crate) fn new(prefix: Ipv6Addr, random: u8) -> Self {
        let p = u128::from(prefix) & (u128::MAX << 64);
        Self {
            prefix: p,
            random,
            counter: 0,
        }
    }

    fn next(&mut self, subtype: u8) -> Ipv6Addr {
        self.counter = self.counter.wrapping_add(1);
        let low = (0xd0u64 << 56)
            | (u64::from(subtype) << 48)
            | (u64::from(self.random) << 32)
            | u64::from(self.counter);
        Ipv6Addr::from(self.prefix | u128::from(low))
    }
}

/// The whole programmed state.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) ports: Vec<Port>,
    pub(crate) uplink: Option<PortId>,
    /// Interface by port index.
    pub(crate) by_port: Vec<Option<Iface>>,
    pub(crate) ids: BTreeMap<InterfaceId, PortId>,
    pub(crate) vnfs: FastMap<Ipv6Addr, VnfEntry>,
    pub(crate) vnf_count: usize,
    pub(crate) lpm: Lpm,
    pub(crate) lbs: Vec<Option<Lb>>,
    pub(crate) lb_ids: BTreeMap<LbId, u32>,
    /// Neighbour NAT slots by NAT IP (a short list each; looked up on relay only).
    pub(crate) neighbor_nats: BTreeMap<Ipv4Addr, Vec<NeighborNatSpec>>,
    /// Which addresses are taken in which VNI, and by whom (conflict checks).
    pub(crate) vni_ips: BTreeMap<(Vni, IpAddr), String>,
    pub(crate) underlay: UnderlayAlloc,
    /// Bumped on every firewall change: flows re-check their cached verdict when it moves.
    pub(crate) fw_gen: u64,
    pub(crate) limits: Limits,
}

impl Tables {
    /// Empty tables over the backend's ports.
    pub(crate) fn new(ports: Vec<Port>, underlay: UnderlayAlloc, limits: Limits) -> Self {
        let uplink = ports
            .iter()
            .position(|p| p.kind == PortKind::Uplink)
            .and_then(|i| u16::try_from(i).ok())
            .map(PortId);
        let n = ports.len();
        Self {
            ports,
            uplink,
            by_port: vec![None; n],
            ids: BTreeMap::new(),
            vnfs: FastMap::default(),
            vnf_count: 0,
            lpm: Lpm::default(),
            lbs: Vec::new(),
            lb_ids: BTreeMap::new(),
            neighbor_nats: BTreeMap::new(),
            vni_ips: BTreeMap::new(),
            underlay,
            fw_gen: 0,
            limits,
        }
    }

    /// The interface on a port.
    #[inline]
    pub(crate) fn iface(&self, port: PortId) -> Option<&Iface> {
        self.by_port.get(port.index())?.as_ref()
    }

    /// The interface on a port, writable.
    pub(crate) fn iface_mut(&mut self, port: PortId) -> Option<&mut Iface> {
        self.by_port.get_mut(port.index())?.as_mut()
    }

    /// The VNF that owns an underlay address.
    #[inline]
    pub(crate) fn vnf(&self, underlay: Ipv6Addr) -> Option<VnfEntry> {
        self.vnfs.get(&underlay).copied()
    }

    /// A load balancer by slot.
    pub(crate) fn lb(&self, slot: u32) -> Option<&Lb> {
        self.lbs.get(slot as usize)?.as_ref()
    }

    /// The neighbour slot (another hypervisor's) holding `port` of NAT IP `ip` in `vni`.
    pub(crate) fn neighbor_nat(&self, ip: Ipv4Addr, vni: Vni, port: u16) -> Option<Ipv6Addr> {
        self.neighbor_nats
            .get(&ip)?
            .iter()
            .find(|n| n.vni == vni && n.ports.contains(port))
            .map(|n| n.underlay)
    }

    fn add_vnf(&mut self, underlay: Ipv6Addr, entry: VnfEntry) {
        if self.vnfs.insert(underlay, entry).is_none() {
            self.vnf_count += 1;
        }
    }

    fn remove_vnf(&mut self, underlay: Ipv6Addr) {
        if self.vnfs.remove(&underlay).is_some() {
            self.vnf_count -= 1;
        }
    }

    /// Checks cross-table consistency (tests and the simulator).
    pub(crate) fn check_invariants(&self) {
        for (id, port) in &self.ids {
            let iface = self.iface(*port).expect("id maps to an empty port");
            assert_eq!(&iface.spec.id, id);
            assert_eq!(
                self.vnf(iface.underlay).map(|e| e.vnf),
                Some(Vnf::Interface(*port))
            );
        }
        assert_eq!(self.by_port.iter().flatten().count(), self.ids.len());
        assert_eq!(self.vnfs.len(), self.vnf_count);
    }
}
