//! The programming API's messages: what the network agent sends over the unix socket and what
//! it gets back. Encoded with bincode 2 (serde) in length-prefixed frames (see `codec`).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::conntrack::ConntrackStats;
use crate::counters::PortStats;
use crate::spec::{
    FirewallRuleSpec, InterfaceSpec, LoadBalancerSpec, NatSpec, NeighborNatSpec, PrefixKind,
    PrefixSpec, RouteSpec, VipSpec,
};
use crate::types::{Cidr, InterfaceId, LbId, PortId, PortRange, RuleId, Vni};

/// The API's protocol version; bumped on any incompatible change to these types.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request to the data plane.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum Request {
    /// The service's protocol and version.
    Version,
    /// Whether `Init` has been called since the data plane started, and its instance id.
    CheckInitialized,
    /// Marks the data plane initialized (idempotent); returns its instance id.
    Init,
    /// Creates an interface; returns its underlay address.
    CreateInterface(InterfaceSpec),
    /// Deletes an interface and everything attached to it.
    DeleteInterface(InterfaceId),
    /// One interface.
    GetInterface(InterfaceId),
    /// Every interface.
    ListInterfaces,
    /// Creates a route.
    CreateRoute(RouteSpec),
    /// Deletes a route.
    DeleteRoute {
        /// The route's VNI.
        vni: Vni,
        /// The route's prefix.
        prefix: Cidr,
    },
    /// The routes of one VNI, or of all.
    ListRoutes(Option<Vni>),
    /// Routes a prefix to an interface; returns its underlay address.
    CreatePrefix(PrefixSpec),
    /// Removes a prefix from an interface.
    DeletePrefix {
        /// The interface.
        interface: InterfaceId,
        /// The prefix.
        prefix: Cidr,
    },
    /// The prefixes of an interface.
    ListPrefixes(InterfaceId),
    /// Gives an interface a virtual IP; returns its underlay address.
    CreateVip(VipSpec),
    /// Removes an interface's virtual IP.
    DeleteVip(InterfaceId),
    /// An interface's virtual IP.
    GetVip(InterfaceId),
    /// Gives an interface a NAT gateway slot; returns its underlay address.
    CreateNat(NatSpec),
    /// Removes an interface's NAT slot.
    DeleteNat(InterfaceId),
    /// An interface's NAT slot.
    GetNat(InterfaceId),
    /// The local NAT slots (of one NAT IP, or all).
    ListNats(Option<Ipv4Addr>),
    /// Records another hypervisor's NAT slot.
    CreateNeighborNat(NeighborNatSpec),
    /// Forgets another hypervisor's NAT slot.
    DeleteNeighborNat {
        /// The NAT IP.
        ip: Ipv4Addr,
        /// The VNI.
        vni: Vni,
        /// The slot.
        ports: PortRange,
    },
    /// The neighbour NAT slots (of one NAT IP, or all).
    ListNeighborNats(Option<Ipv4Addr>),
    /// Creates a load balancer; returns its underlay address.
    CreateLoadBalancer(LoadBalancerSpec),
    /// Deletes a load balancer.
    DeleteLoadBalancer(LbId),
    /// One load balancer.
    GetLoadBalancer(LbId),
    /// Every load balancer.
    ListLoadBalancers,
    /// Adds a target (the underlay address of a target interface's load-balancer prefix).
    CreateLbTarget {
        /// The load balancer.
        lb: LbId,
        /// The target's underlay address.
        target: Ipv6Addr,
    },
    /// Removes a target.
    DeleteLbTarget {
        /// The load balancer.
        lb: LbId,
        /// The target's underlay address.
        target: Ipv6Addr,
    },
    /// A load balancer's targets.
    ListLbTargets(LbId),
    /// Adds a firewall rule to an interface.
    CreateFirewallRule(FirewallRuleSpec),
    /// Removes a firewall rule.
    DeleteFirewallRule {
        /// The interface.
        interface: InterfaceId,
        /// The rule.
        id: RuleId,
    },
    /// One firewall rule.
    GetFirewallRule {
        /// The interface.
        interface: InterfaceId,
        /// The rule.
        id: RuleId,
    },
    /// An interface's firewall rules in evaluation order.
    ListFirewallRules(InterfaceId),
    /// Counters.
    Stats,
}

/// An interface as the data plane holds it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct InterfaceInfo {
    /// What was asked for.
    pub spec: InterfaceSpec,
    /// Its underlay address.
    pub underlay: Ipv6Addr,
    /// The port it is bound to.
    pub port: PortId,
}

/// A prefix as the data plane holds it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct PrefixInfo {
    /// The prefix.
    pub prefix: Cidr,
    /// Alias or load-balancer prefix.
    pub kind: PrefixKind,
    /// Its underlay address.
    pub underlay: Ipv6Addr,
}

/// A virtual IP as the data plane holds it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct VipInfo {
    /// The interface.
    pub interface: InterfaceId,
    /// The public address.
    pub ip: Ipv4Addr,
    /// Its underlay address.
    pub underlay: Ipv6Addr,
}

/// A local NAT slot as the data plane holds it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct NatInfo {
    /// What was asked for.
    pub spec: NatSpec,
    /// Its underlay address.
    pub underlay: Ipv6Addr,
}

/// A load balancer as the data plane holds it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct LoadBalancerInfo {
    /// What was asked for.
    pub spec: LoadBalancerSpec,
    /// Its underlay address.
    pub underlay: Ipv6Addr,
    /// Its targets, sorted.
    pub targets: Vec<Ipv6Addr>,
}

/// Counters of the whole data plane.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Stats {
    /// Per port, in port order, with the port's device name.
    pub ports: Vec<(String, PortStats)>,
    /// The flow table.
    pub conntrack: ConntrackStats,
    /// Entries of the other bounded tables, with their limits.
    pub tables: Vec<(String, u64, u64)>,
}

/// A successful answer.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum Reply {
    /// The service's protocol and version.
    Version {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The crate version.
        version: String,
    },
    /// Whether `Init` was called, and this instance's id (new on every start).
    Initialized {
        /// Whether `Init` was called.
        initialized: bool,
        /// The instance id.
        instance: u64,
    },
    /// The request was applied (or was already in effect).
    Done,
    /// The object's underlay address (creates are idempotent: the same answer every time).
    Underlay(Ipv6Addr),
    /// The delete was applied; `existed` is false if there was nothing to delete.
    Deleted {
        /// Whether the object existed.
        existed: bool,
    },
    /// One interface.
    Interface(InterfaceInfo),
    /// Interfaces.
    Interfaces(Vec<InterfaceInfo>),
    /// Routes.
    Routes(Vec<RouteSpec>),
    /// Prefixes.
    Prefixes(Vec<PrefixInfo>),
    /// A virtual IP.
    Vip(VipInfo),
    /// A NAT slot.
    Nat(NatInfo),
    /// NAT slots.
    Nats(Vec<NatInfo>),
    /// Neighbour NAT slots.
    NeighborNats(Vec<NeighborNatSpec>),
    /// A load balancer.
    LoadBalancer(LoadBalancerInfo),
    /// Load balancers.
    LoadBalancers(Vec<LoadBalancerInfo>),
    /// Load balancer targets.
    LbTargets(Vec<Ipv6Addr>),
    /// A firewall rule.
    FirewallRule(FirewallRuleSpec),
    /// Firewall rules.
    FirewallRules(Vec<FirewallRuleSpec>),
    /// Counters.
    Stats(Stats),
}

/// Why a request was refused. The message names the object and the clash.
#[derive(Clone, Debug, Deserialize, Eq, Error, PartialEq, Serialize)]
pub enum ApiError {
    /// The request is malformed or names something impossible.
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// The object does not exist.
    #[error("Not found: {0}")]
    NotFound(String),
    /// The request conflicts with existing state (different spec under the same id, an IP
    /// already used in the VNI, an overlapping port range).
    #[error("Conflict: {0}")]
    Conflict(String),
    /// A bounded table is full.
    #[error("Table full: {0}")]
    TableFull(String),
}

/// What every request gets back.
pub type Response = Result<Reply, ApiError>;
