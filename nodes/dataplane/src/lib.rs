//! ferrocore's data plane (dpservice's job): an L3 virtual router for VM interfaces with an
//! IPv6 underlay. A sans-IO packet pipeline ([`Dataplane`]) takes frames and programming
//! requests and says where each frame goes; thin I/O backends feed it: in memory (tests, the
//! simulator, the benchmark), kernel (TAP and AF_PACKET, the embedded default) and DPDK.
//!
//! It is not the network agent: it holds no view of the cluster, only what it is programmed
//! with over its local API (a unix socket with bincode frames).

mod bench_testpmd;
mod conntrack;
mod counters;
mod fasthash;
mod firewall;
mod lpm;
mod maglev;
mod pipeline;
mod spec;
mod tables;
mod types;

pub mod api;
pub mod backend;
pub mod bench;
pub mod bench_report;
pub mod config;
pub mod daemon;
pub mod packet;

pub use conntrack::ConntrackStats;
pub use counters::{DropReason, PortStats};
pub use packet::dhcp::DhcpConfig;
pub use packet::respond::{GATEWAY_V4, GATEWAY_V6};
pub use pipeline::{BURST_MAX, Dataplane, PipelineConfig, PortConfig, Verdict};
pub use spec::{
    Direction, FirewallAction, FirewallPorts, FirewallRuleSpec, InterfaceSpec, L4Proto, LbPort,
    LoadBalancerSpec, NatSpec, NeighborNatSpec, PrefixKind, PrefixSpec, ProtocolFilter, RouteSpec,
    VipSpec,
};
pub use tables::{Limits, PortKind};
pub use types::{
    Cidr, IdError, InterfaceId, LbId, MAX_ID_LEN, Mac, PortId, PortRange, RuleId, Vni,
};
