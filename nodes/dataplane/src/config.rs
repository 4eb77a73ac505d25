//! The data plane daemon's TOML configuration: ports, backend, pipeline settings, and objects
//! to program at start (the same shapes as the API's create requests).

use std::net::Ipv6Addr;
use std::path::PathBuf;

use serde::Deserialize;
use thiserror::Error;

use crate::api::proto::Request;
use crate::api::server::DEFAULT_SOCKET;
use crate::pipeline::PipelineConfig;
use crate::spec::{
    FirewallRuleSpec, InterfaceSpec, LoadBalancerSpec, NatSpec, NeighborNatSpec, PrefixSpec,
    RouteSpec, VipSpec,
};
use crate::types::LbId;

/// Which I/O backend runs the pipeline.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// TAP devices and an AF_PACKET uplink (no DPDK needed): the default.
    #[default]
    Kernel,
    /// DPDK poll-mode drivers.
    Dpdk,
}

/// The uplink (underlay) port.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Kernel device (kernel backend: AF_PACKET on it; DPDK: the default `net_af_packet` vdev
    /// is built on it).
    pub device: String,
    /// DPDK device argument (a vdev string such as `net_af_packet0,iface=ul0`, or a PCI
    /// address); default: an af_packet vdev on `device`.
    pub dpdk: Option<String>,
}

/// A VM port.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortConfigToml {
    /// The port's name, which interfaces' `device` refers to; also the TAP device's name.
    pub name: String,
    /// DPDK device argument; default: a `net_tap` vdev named after the port.
    pub dpdk: Option<String>,
}

/// DPDK settings.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DpdkConfig {
    /// EAL arguments before the device list (e.g. `["--no-huge", "-m", "512", "--no-pci"]`).
    pub eal_args: Vec<String>,
    /// Mbufs in the pool.
    pub mbufs: Option<u32>,
    /// Microseconds to sleep after a run of empty polls (0: pure busy polling, for production
    /// on a dedicated core; tests and shared machines set it so idle data planes yield).
    pub idle_sleep_us: Option<u64>,
}

/// A load balancer target to add at start.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LbTargetConfig {
    /// The load balancer.
    pub lb: LbId,
    /// The target's underlay address.
    pub target: Ipv6Addr,
}

/// The whole daemon configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// API socket path.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// The backend.
    #[serde(default)]
    pub backend: BackendKind,
    /// Pipeline settings.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// The uplink.
    pub uplink: UplinkConfig,
    /// The VM ports.
    #[serde(default, rename = "port")]
    pub ports: Vec<PortConfigToml>,
    /// DPDK settings.
    #[serde(default)]
    pub dpdk: DpdkConfig,
    /// Interfaces to create at start.
    #[serde(default)]
    pub interface: Vec<InterfaceSpec>,
    /// Routes to create at start.
    #[serde(default)]
    pub route: Vec<RouteSpec>,
    /// Prefixes to create at start.
    #[serde(default)]
    pub prefix: Vec<PrefixSpec>,
    /// Virtual IPs to create at start.
    #[serde(default)]
    pub vip: Vec<VipSpec>,
    /// NAT slots to create at start.
    #[serde(default)]
    pub nat: Vec<NatSpec>,
    /// Neighbour NAT slots to create at start.
    #[serde(default)]
    pub neighbor_nat: Vec<NeighborNatSpec>,
    /// Load balancers to create at start.
    #[serde(default)]
    pub load_balancer: Vec<LoadBalancerSpec>,
    /// Load balancer targets to add at start.
    #[serde(default)]
    pub lb_target: Vec<LbTargetConfig>,
    /// Firewall rules to create at start.
    #[serde(default)]
    pub firewall_rule: Vec<FirewallRuleSpec>,
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

/// Why a configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("Cannot read data plane config {0}")]
    Read(String, #[source] std::io::Error),
    /// The TOML does not parse or names unknown fields.
    #[error("Invalid data plane config")]
    Parse(#[from] toml::de::Error),
    /// Two ports share a name.
    #[error("Port name {0:?} is used twice")]
    DuplicatePort(String),
    /// The conntrack capacity is outside what the data plane reserves memory for.
    #[error("conntrack_capacity {0} is not between 1 and {max}", max = MAX_CONNTRACK_CAPACITY)]
    ConntrackCapacity(usize),
}

/// Largest conntrack capacity a config may ask for: the index (32 to 64 bytes per flow) is
/// allocated up front and the flow slab (up to 256 bytes per flow) reserved, so a typo must
/// not ask for terabytes.
pub const MAX_CONNTRACK_CAPACITY: usize = 1 << 24;

impl DaemonConfig {
    /// Parses a configuration.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text)?;
        let mut names: Vec<&str> = cfg.ports.iter().map(|p| p.name.as_str()).collect();
        names.push("uplink");
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::DuplicatePort(w[0].to_owned()));
        }
        let capacity = cfg.pipeline.conntrack_capacity;
        if !(1..=MAX_CONNTRACK_CAPACITY).contains(&capacity) {
            return Err(ConfigError::ConntrackCapacity(capacity));
        }
        Ok(cfg)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        Self::parse(&text)
    }

    /// The objects to program at start, in dependency order.
    pub fn initial_requests(&self) -> Vec<Request> {
        let mut r: Vec<Request> = Vec::new();
        r.extend(self.interface.iter().cloned().map(Request::CreateInterface));
        r.extend(self.prefix.iter().cloned().map(Request::CreatePrefix));
        r.extend(self.route.iter().copied().map(Request::CreateRoute));
        r.extend(self.vip.iter().cloned().map(Request::CreateVip));
        r.extend(self.nat.iter().cloned().map(Request::CreateNat));
        r.extend(
            self.neighbor_nat
                .iter()
                .copied()
                .map(Request::CreateNeighborNat),
        );
        r.extend(
            self.load_balancer
                .iter()
                .cloned()
                .map(Request::CreateLoadBalancer),
        );
        r.extend(self.lb_target.iter().map(|t| Request::CreateLbTarget {
            lb: t.lb.clone(),
            target: t.target,
        }));
        r.extend(
            self.firewall_rule
                .iter()
                .cloned()
                .map(Request::CreateFirewallRule),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let cfg = DaemonConfig::parse(
            r#"
            socket = "/tmp/dp.sock"
            [pipeline]
            underlay_prefix = "fd00:1::"
            underlay_mtu = 1600
            [uplink]
            device = "ul0"
            [[port]]
            name = "tap-a"
            [[interface]]
            id = "a"
            vni = 100
            ipv4 = "10.0.0.1"
            device = "tap-a"
            [[route]]
            vni = 100
            prefix = "0.0.0.0/0"
            nexthop_vni = 1
            nexthop_underlay = "fd00:2::1"
            [[nat]]
            interface = "a"
            ip = "203.0.113.7"
            ports = [1024, 1088]
            [[firewall_rule]]
            interface = "a"
            id = "ssh"
            direction = "Ingress"
            action = "Accept"
            priority = 10
            source = "0.0.0.0/0"
            destination = "0.0.0.0/0"
            protocol = { L4 = { proto = "Tcp", src_ports = { first = 0, last = 65535 }, dst_ports = { first = 22, last = 22 } } }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.pipeline.underlay_mtu, 1600);
        assert_eq!(cfg.initial_requests().len(), 4);
        assert!(DaemonConfig::parse("[uplink]\ndevice = \"x\"\nbogus = 1\n").is_err());
        assert!(DaemonConfig::parse("[uplink]\ndevice = \"x\"\n[[nat]]\ninterface = \"a\"\nip = \"1.2.3.4\"\nports = [5, 5]\n").is_err());
        for bad in [0, MAX_CONNTRACK_CAPACITY + 1] {
            let text =
                format!("[uplink]\ndevice = \"x\"\n[pipeline]\nconntrack_capacity = {bad}\n");
            assert!(matches!(
                DaemonConfig::parse(&text),
                Err(ConfigError::ConntrackCapacity(n)) if n == bad
            ));
        }
    }
}
