//! The `networking.ironcore.dev/v1alpha1` kinds: Network, NetworkInterface, NetworkPolicy,
//! VirtualIP, LoadBalancer, LoadBalancerRouting, NATGateway.

mod load_balancer;
mod nat_gateway;
mod network;
mod network_interface;
mod network_policy;
mod virtual_ip;

pub use load_balancer::{
    LoadBalancer, LoadBalancerDestination, LoadBalancerPort, LoadBalancerRouting, LoadBalancerSpec,
    LoadBalancerStatus, LoadBalancerTargetRef, LoadBalancerType, lb_ip_prefix_name,
};
pub use nat_gateway::{
    DEFAULT_PORTS_PER_NETWORK_INTERFACE, NATGateway, NatGatewayIpRequest, NatGatewaySpec,
    NatGatewayStatus, NatGatewayType,
};
pub use network::{
    Network, NetworkPeering, NetworkPeeringClaimRef, NetworkPeeringStatus, NetworkSpec,
    NetworkState, NetworkStatus, PeeringNetworkRef, PeeringPrefix, PeeringPrefixStatus,
    PeeringState,
};
pub use network_interface::{
    EphemeralPrefixSource, EphemeralVirtualIpSource, IpSource, NetworkInterface,
    NetworkInterfaceSpec, NetworkInterfaceState, NetworkInterfaceStatus,
    NetworkInterfaceTemplateSpec, PrefixSource, VirtualIpSource, nic_ip_prefix_name,
    nic_prefix_prefix_name, nic_virtual_ip_name, validate_network_interface_spec,
};
pub use network_policy::{
    IpBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec, NetworkPolicyStatus, ObjectSelector, ObjectSelectorKind,
    PolicyType,
};
pub use virtual_ip::{
    EphemeralVirtualIpSpec, ReclaimPolicy, VirtualIP, VirtualIpSpec, VirtualIpStatus,
    VirtualIpTemplateSpec, VirtualIpType,
};
