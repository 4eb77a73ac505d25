//! The proto3 payloads of the metalbond protocol (package `metalbond`), written out as prost
//! structs so no `protoc` is needed at build time. Field numbers, types and enum values follow
//! the upstream `.proto` exactly; prost, like Go's protobuf, writes fields in field-number order
//! and omits proto3 defaults, which is what makes the bytes identical.

/// `enum IPVersion { IPv4 = 0; IPv6 = 1; }`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum IpVersion {
    Ipv4 = 0,
    Ipv6 = 1,
}

/// `enum Action { ADD = 0; REMOVE = 1; }`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum Action {
    Add = 0,
    Remove = 1,
}

/// `enum NextHopType { STANDARD = 0; NAT = 1; LOADBALANCER_TARGET = 2; }`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum NextHopType {
    Standard = 0,
    Nat = 1,
    LoadbalancerTarget = 2,
}

/// `message Hello { uint32 keepaliveInterval = 1; bool isServer = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Hello {
    #[prost(uint32, tag = "1")]
    pub(crate) keepalive_interval: u32,
    #[prost(bool, tag = "2")]
    pub(crate) is_server: bool,
}

/// `message Subscription { uint32 vni = 1; }` (SUBSCRIBE and UNSUBSCRIBE).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Subscription {
    #[prost(uint32, tag = "1")]
    pub(crate) vni: u32,
}

/// `message Update { Action action = 1; uint32 vni = 2; Destination destination = 3;
/// NextHop nextHop = 4; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Update {
    #[prost(enumeration = "Action", tag = "1")]
    pub(crate) action: i32,
    #[prost(uint32, tag = "2")]
    pub(crate) vni: u32,
    #[prost(message, optional, tag = "3")]
    pub(crate) destination: Option<Destination>,
    #[prost(message, optional, tag = "4")]
    pub(crate) next_hop: Option<NextHop>,
}

/// `message Destination { IPVersion ipVersion = 1; bytes prefix = 2; uint32 prefixLength = 3; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Destination {
    #[prost(enumeration = "IpVersion", tag = "1")]
    pub(crate) ip_version: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) prefix: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub(crate) prefix_length: u32,
}

/// `message NextHop { bytes targetAddress = 1; uint32 targetVNI = 2; NextHopType type = 3;
/// uint32 natPortRangeFrom = 4; uint32 natPortRangeTo = 5; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NextHop {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) target_address: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub(crate) target_vni: u32,
    #[prost(enumeration = "NextHopType", tag = "3")]
    pub(crate) r#type: i32,
    #[prost(uint32, tag = "4")]
    pub(crate) nat_port_range_from: u32,
    #[prost(uint32, tag = "5")]
    pub(crate) nat_port_range_to: u32,
}
