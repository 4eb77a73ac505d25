//! The objects the network agent programs: what a client sends to create each one. These are
//! the data plane API's nouns (dpservice's gRPC messages, reshaped as Rust types).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::types::{Cidr, InterfaceId, LbId, PortRange, RuleId, Vni};

/// A VM network interface bound to one of the data plane's VM ports.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct InterfaceSpec {
    /// The interface's identifier.
    pub id: InterfaceId,
    /// Its virtual network.
    pub vni: Vni,
    /// Its IPv4 address (handed out by DHCP as a /32).
    pub ipv4: Option<Ipv4Addr>,
    /// Its IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// The VM port (device name) it is attached to.
    pub device: String,
    /// The underlay address to use instead of a generated one (HA pairs need stable ones).
    pub preferred_underlay: Option<Ipv6Addr>,
    /// The host name DHCP hands out.
    pub hostname: Option<String>,
}

/// A route in a VNI.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct RouteSpec {
    /// The VNI the route belongs to.
    pub vni: Vni,
    /// The overlay prefix.
    pub prefix: Cidr,
    /// The VNI of the next hop (differs from `vni` when networks are peered).
    pub nexthop_vni: Vni,
    /// The next hop's underlay address.
    pub nexthop_underlay: Ipv6Addr,
}

/// What a prefix attached to an interface is for.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub enum PrefixKind {
    /// An alias prefix (e.g. a pod CIDR) routed to the interface.
    Alias,
    /// A load balancer's IP held by a target interface: load-balanced packets arrive on it
    /// undisturbed (direct server return).
    LoadBalancer,
}

/// A prefix routed to an interface, with its own underlay address.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct PrefixSpec {
    /// The interface the prefix is delivered to.
    pub interface: InterfaceId,
    /// The prefix.
    pub prefix: Cidr,
    /// Alias or load-balancer prefix.
    pub kind: PrefixKind,
    /// The underlay address to use instead of a generated one.
    pub preferred_underlay: Option<Ipv6Addr>,
}

/// A virtual (public) IPv4 address mapped 1:1 to an interface.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct VipSpec {
    /// The interface.
    pub interface: InterfaceId,
    /// The public address.
    pub ip: Ipv4Addr,
    /// The underlay address to use instead of a generated one.
    pub preferred_underlay: Option<Ipv6Addr>,
}

/// An interface's share of a NAT gateway: its IP and its half-open port slot.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct NatSpec {
    /// The interface.
    pub interface: InterfaceId,
    /// The NAT gateway's public address.
    pub ip: Ipv4Addr,
    /// The interface's ports `[from, to)`.
    pub ports: PortRange,
    /// The underlay address to use instead of a generated one.
    pub preferred_underlay: Option<Ipv6Addr>,
}

/// Another hypervisor's share of a NAT gateway, for relaying return traffic to it.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub struct NeighborNatSpec {
    /// The NAT gateway's public address.
    pub ip: Ipv4Addr,
    /// The VNI of the interface that owns the slot.
    pub vni: Vni,
    /// The slot `[from, to)`.
    pub ports: PortRange,
    /// The owning hypervisor's NAT underlay address.
    pub underlay: Ipv6Addr,
}

/// A transport protocol a load balancer or firewall rule names.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub enum L4Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl L4Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }
}

/// A load-balanced port.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub struct LbPort {
    /// TCP or UDP.
    pub proto: L4Proto,
    /// The port.
    pub port: u16,
}

/// A load balancer: an IP in a VNI whose listed ports are spread over targets.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct LoadBalancerSpec {
    /// The load balancer's identifier.
    pub id: LbId,
    /// The VNI it serves.
    pub vni: Vni,
    /// The load-balanced address.
    pub ip: IpAddr,
    /// The load-balanced ports (at most 16).
    pub ports: Vec<LbPort>,
    /// The underlay address to use instead of a generated one.
    pub preferred_underlay: Option<Ipv6Addr>,
}

/// Which way a firewall rule looks.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub enum Direction {
    /// Traffic to the interface.
    Ingress,
    /// Traffic from the interface.
    Egress,
}

/// What a firewall rule does with matching traffic.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub enum FirewallAction {
    /// Let the flow through.
    Accept,
    /// Drop the flow.
    Drop,
}

/// An inclusive port range `first..=last` in a firewall rule (inclusive, unlike NAT slots,
/// so that a rule can name port 65535).
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub struct FirewallPorts {
    /// First port matched.
    pub first: u16,
    /// Last port matched.
    pub last: u16,
}

impl FirewallPorts {
    /// Every port.
    pub const ANY: Self = Self {
        first: 0,
        last: u16::MAX,
    };

    /// Whether `port` is matched.
    pub fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

/// The protocol part of a firewall rule.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
pub enum ProtocolFilter {
    /// Any protocol.
    Any,
    /// ICMP or ICMPv6, optionally of one type and code.
    Icmp {
        /// The type, or any.
        icmp_type: Option<u8>,
        /// The code, or any.
        icmp_code: Option<u8>,
    },
    /// TCP or UDP with source and destination port ranges.
    L4 {
        /// TCP or UDP.
        proto: L4Proto,
        /// Source ports.
        src_ports: FirewallPorts,
        /// Destination ports.
        dst_ports: FirewallPorts,
    },
}

/// A firewall rule of one interface.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct FirewallRuleSpec {
    /// The interface the rule belongs to.
    pub interface: InterfaceId,
    /// The rule's identifier (unique per interface).
    pub id: RuleId,
    /// Ingress or egress.
    pub direction: Direction,
    /// Accept or drop.
    pub action: FirewallAction,
    /// Lower values are evaluated first; ties go by rule id.
    pub priority: u32,
    /// Source prefix matched (`0.0.0.0/0` or `::/0` for any; a rule matches one family).
    pub source: Cidr,
    /// Destination prefix matched.
    pub destination: Cidr,
    /// Protocol and ports matched.
    pub protocol: ProtocolFilter,
}
