//! The five metalbond messages as typed values, and their proto3 payload encoding.
//!
//! Decoding is strict where the Go implementation is silently lossy: a prefix whose length does
//! not match its IP version, a prefix length past the address, a NAT port above 65535 or ports
//! on a non-NAT next hop are errors (the Go side would truncate or mis-key them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use prost::Message as _;

use crate::proto;
use crate::route::{Destination, NextHop, NextHopKind, PortRange, Route, Vni};

/// The message type byte of a frame header.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[repr(u8)]
pub enum MessageType {
    /// Opens a session and proposes a keepalive interval.
    Hello = 1,
    /// Liveness; an empty payload.
    Keepalive = 2,
    /// Asks for a VNI's routes.
    Subscribe = 3,
    /// Stops a VNI's routes (and withdraws the sender's own routes in it).
    Unsubscribe = 4,
    /// Adds or removes one route.
    Update = 5,
}

impl MessageType {
    /// The type for a header byte, if it is one of the five.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Hello,
            2 => Self::Keepalive,
            3 => Self::Subscribe,
            4 => Self::Unsubscribe,
            5 => Self::Update,
            _ => return None,
        })
    }
}

/// A keepalive interval in whole seconds, as HELLO carries it.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub struct KeepaliveInterval(pub u32);

impl KeepaliveInterval {
    /// The interval as a duration.
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }

    /// When a silent peer is declared dead: 2.5 × the interval, as metalbond does.
    pub fn timeout(self) -> Duration {
        Duration::from_millis(u64::from(self.0) * 2_500)
    }
}

/// Whether an UPDATE adds or removes its route.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Action {
    /// The sender now provides the route.
    Add,
    /// The sender no longer provides the route.
    Remove,
}

/// One protocol message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Message {
    /// HELLO: the sender's keepalive interval and whether it is a server.
    Hello {
        /// The proposed interval; the session uses the smaller of both sides'.
        keepalive: KeepaliveInterval,
        /// Set by servers (Go receivers ignore it).
        is_server: bool,
    },
    /// KEEPALIVE.
    Keepalive,
    /// SUBSCRIBE to a VNI.
    Subscribe(Vni),
    /// UNSUBSCRIBE from a VNI.
    Unsubscribe(Vni),
    /// UPDATE: add or remove a route.
    Update(Action, Route),
}

impl Message {
    /// The header type byte of this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Hello { .. } => MessageType::Hello,
            Self::Keepalive => MessageType::Keepalive,
            Self::Subscribe(_) => MessageType::Subscribe,
            Self::Unsubscribe(_) => MessageType::Unsubscribe,
            Self::Update(..) => MessageType::Update,
        }
    }

    /// Appends the proto3 payload (no header) to `out`.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        // Encoding into a Vec cannot run out of space, so prost's error cannot happen.
        let _ = match self {
            Self::Hello {
                keepalive,
                is_server,
            } => proto::Hello {
                keepalive_interval: keepalive.0,
                is_server: *is_server,
            }
            .encode(out),
            Self::Keepalive => Ok(()),
            Self::Subscribe(vni) | Self::Unsubscribe(vni) => {
                proto::Subscription { vni: vni.0 }.encode(out)
            }
            Self::Update(action, route) => update_to_proto(*action, route).encode(out),
        };
    }

    /// Decodes a payload of type `ty`.
    ///
    /// # Errors
    /// [`DecodeError`] if the bytes are not valid proto3 for the type or break a field rule.
    pub fn decode_payload(ty: MessageType, payload: &[u8]) -> Result<Self, DecodeError> {
        Ok(match ty {
            MessageType::Hello => {
                let h = proto::Hello::decode(payload)?;
                Self::Hello {
                    keepalive: KeepaliveInterval(h.keepalive_interval),
                    is_server: h.is_server,
                }
            }
            // metalbond sends KEEPALIVE with length 0 and never looks at a payload.
            MessageType::Keepalive => Self::Keepalive,
            MessageType::Subscribe => {
                Self::Subscribe(Vni(proto::Subscription::decode(payload)?.vni))
            }
            MessageType::Unsubscribe => {
                Self::Unsubscribe(Vni(proto::Subscription::decode(payload)?.vni))
            }
            MessageType::Update => {
                let (action, route) = update_from_proto(proto::Update::decode(payload)?)?;
                Self::Update(action, route)
            }
        })
    }
}

fn ip_bytes(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn update_to_proto(action: Action, route: &Route) -> proto::Update {
    let ip_version = if route.destination.addr().is_ipv4() {
        proto::IpVersion::Ipv4
    } else {
        proto::IpVersion::Ipv6
    };
    let hop = &route.next_hop;
    // Ports are written only for NAT, as metalbond does; otherwise they stay 0 (omitted).
    let (r#type, from, to) = match hop.kind {
        NextHopKind::Standard => (proto::NextHopType::Standard, 0, 0),
        NextHopKind::Nat(r) => (proto::NextHopType::Nat, r.from, r.to),
        NextHopKind::LoadBalancerTarget => (proto::NextHopType::LoadbalancerTarget, 0, 0),
    };
    proto::Update {
        action: match action {
            Action::Add => proto::Action::Add,
            Action::Remove => proto::Action::Remove,
        } as i32,
        vni: route.vni.0,
        destination: Some(proto::Destination {
            ip_version: ip_version as i32,
            prefix: ip_bytes(route.destination.addr()),
            prefix_length: u32::from(route.destination.len()),
        }),
        next_hop: Some(proto::NextHop {
            target_address: ip_bytes(hop.target),
            target_vni: hop.target_vni.0,
            r#type: r#type as i32,
            nat_port_range_from: u32::from(from),
            nat_port_range_to: u32::from(to),
        }),
    }
}

fn update_from_proto(u: proto::Update) -> Result<(Action, Route), DecodeError> {
    let action = match proto::Action::try_from(u.action) {
        Ok(proto::Action::Add) => Action::Add,
        Ok(proto::Action::Remove) => Action::Remove,
        Err(_) => return Err(DecodeError::Field("action")),
    };
    let d = u.destination.ok_or(DecodeError::Field("destination"))?;
    // Go reads anything but IPv4 (0) as IPv6.
    let addr = if d.ip_version == proto::IpVersion::Ipv4 as i32 {
        let o: [u8; 4] = d
            .prefix
            .try_into()
            .map_err(|_| DecodeError::Field("prefix"))?;
        IpAddr::V4(Ipv4Addr::from(o))
    } else {
        let o: [u8; 16] = d
            .prefix
            .try_into()
            .map_err(|_| DecodeError::Field("prefix"))?;
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let len = u8::try_from(d.prefix_length).map_err(|_| DecodeError::Field("prefixLength"))?;
    let destination =
        Destination::new(addr, len).map_err(|_| DecodeError::Field("prefixLength"))?;
    let h = u.next_hop.ok_or(DecodeError::Field("nextHop"))?;
    let target = if let Ok(o) = <[u8; 16]>::try_from(&h.target_address[..]) {
        IpAddr::V6(Ipv6Addr::from(o))
    } else if let Ok(o) = <[u8; 4]>::try_from(&h.target_address[..]) {
        IpAddr::V4(Ipv4Addr::from(o))
    } else {
        return Err(DecodeError::Field("targetAddress"));
    };
    let port = |p: u32| u16::try_from(p).map_err(|_| DecodeError::Field("natPortRange"));
    let kind = match proto::NextHopType::try_from(h.r#type) {
        Ok(proto::NextHopType::Nat) => NextHopKind::Nat(PortRange {
            from: port(h.nat_port_range_from)?,
            to: port(h.nat_port_range_to)?,
        }),
        Ok(other) => {
            if h.nat_port_range_from != 0 || h.nat_port_range_to != 0 {
                return Err(DecodeError::Field("natPortRange"));
            }
            if other == proto::NextHopType::Standard {
                NextHopKind::Standard
            } else {
                NextHopKind::LoadBalancerTarget
            }
        }
        Err(_) => return Err(DecodeError::Field("type")),
    };
    let next_hop = NextHop {
        target,
        target_vni: Vni(h.target_vni),
        kind,
    };
    Ok((
        action,
        Route {
            vni: Vni(u.vni),
            destination,
            next_hop,
        },
    ))
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not valid proto3 for the message.
    #[error("Invalid protobuf payload")]
    Protobuf(#[from] prost::DecodeError),
    /// A field is missing or out of range.
    #[error("Invalid field {0}")]
    Field(&'static str),
}
