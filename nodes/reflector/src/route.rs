//! The route model: what a metalbond route is and how it is keyed.
//!
//! A route's identity is `(VNI, destination, next hop)`; the destination prefix is kept exactly
//! as announced (not masked), because metalbond keys `10.0.0.5/24` and `10.0.0.0/24` apart.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A virtual network identifier: the overlay network a route belongs to.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
#[serde(transparent)]
pub struct Vni(pub u32);

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An overlay destination: an address and a prefix length, unmasked.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Destination {
    addr: IpAddr,
    len: u8,
}

impl Destination {
    /// The smallest destination in the route order (used as a range bound).
    pub(crate) const MIN: Self = Self {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        len: 0,
    };

    /// `addr/len`; fails if `len` is longer than the address.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, RouteError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(RouteError::PrefixLength { len, max });
        }
        Ok(Self { addr, len })
    }

    /// The address as announced (host bits are kept).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is a zero-length (default) prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Destination {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Self, RouteError> {
        let bad = || RouteError::Syntax(s.to_owned());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Self::new(addr, len)
    }
}

/// An inclusive range of NAT ports owned by one next hop.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct PortRange {
    /// First port of the range.
    pub from: u16,
    /// Last port of the range.
    pub to: u16,
}

/// What a next hop is: the metalbond `NextHopType` with its NAT port range.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum NextHopKind {
    /// An interface, alias prefix, VIP or public address.
    Standard,
    /// A NAT address whose ports in the range belong to this next hop.
    Nat(PortRange),
    /// A load balancer target.
    LoadBalancerTarget,
}

/// Where a destination is reached: an underlay address (IPv6 in practice) and its kind.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct NextHop {
    /// The underlay address packets are tunnelled to.
    pub target: IpAddr,
    /// The target VNI (metalnet always sends 0).
    pub target_vni: Vni,
    /// The next hop's type.
    pub kind: NextHopKind,
}

impl NextHop {
    /// A STANDARD next hop with target VNI 0.
    pub fn standard(target: IpAddr) -> Self {
        Self {
            target,
            target_vni: Vni(0),
            kind: NextHopKind::Standard,
        }
    }

    const MIN: Self = Self {
        target: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        target_vni: Vni(0),
        kind: NextHopKind::Standard,
    };
}

/// One route: a destination in a VNI reached through a next hop. This triple is the key.
///
/// Ordered exactly as a derived `Ord` would order it (VNI, then destination with IPv4 before
/// IPv6, then next hop), but compared through integers: tables of 100,000 routes spend most
/// of their time comparing keys.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Route {
    /// The overlay network (first in the order, so one VNI is one contiguous range).
    pub vni: Vni,
    /// The overlay destination.
    pub destination: Destination,
    /// The underlay next hop.
    pub next_hop: NextHop,
}

/// An address as (family, value): IPv4 sorts before IPv6, then by value, as `IpAddr` does.
fn addr_key(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v4) => (4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (6, u128::from(v6)),
    }
}

impl Route {
    /// The smallest route of `vni` in the route order.
    pub(crate) fn first_in(vni: Vni) -> Self {
        Self {
            vni,
            destination: Destination::MIN,
            next_hop: NextHop::MIN,
        }
    }
}

fn kind_key(k: NextHopKind) -> (u8, u16, u16) {
    match k {
        NextHopKind::Standard => (0, 0, 0),
        NextHopKind::Nat(r) => (1, r.from, r.to),
        NextHopKind::LoadBalancerTarget => (2, 0, 0),
    }
}

impl Ord for Route {
    /// Field by field with early exits: most comparisons end at the destination address.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        let (a, b) = (&self.next_hop, &o.next_hop);
        self.vni
            .0
            .cmp(&o.vni.0)
            .then_with(|| addr_key(self.destination.addr).cmp(&addr_key(o.destination.addr)))
            .then_with(|| self.destination.len.cmp(&o.destination.len))
            .then_with(|| addr_key(a.target).cmp(&addr_key(b.target)))
            .then_with(|| a.target_vni.0.cmp(&b.target_vni.0))
            .then_with(|| kind_key(a.kind).cmp(&kind_key(b.kind)))
    }
}

impl PartialOrd for Route {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Route {
    /// The metalbond CLI's form: `VNI#PREFIX#NEXTHOP[#STD|#LB|#NAT#FROM#TO]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}#{}",
            self.vni, self.destination, self.next_hop.target
        )?;
        match self.next_hop.kind {
            NextHopKind::Standard => Ok(()),
            NextHopKind::LoadBalancerTarget => f.write_str("#LB"),
            NextHopKind::Nat(r) => write!(f, "#NAT#{}#{}", r.from, r.to),
        }
    }
}

impl FromStr for Route {
    type Err = RouteError;

    fn from_str(s: &str) -> Result<Self, RouteError> {
        let bad = || RouteError::Syntax(s.to_owned());
        let parts: Vec<&str> = s.split('#').collect();
        if parts.len() < 3 {
            return Err(bad());
        }
        let vni = Vni(parts[0].parse().map_err(|_| bad())?);
        let destination: Destination = parts[1].parse()?;
        let target: IpAddr = parts[2].parse().map_err(|_| bad())?;
        let kind = match parts[3..] {
            [] | ["STD"] => NextHopKind::Standard,
            ["LB"] => NextHopKind::LoadBalancerTarget,
            ["NAT", from, to] => NextHopKind::Nat(PortRange {
                from: from.parse().map_err(|_| bad())?,
                to: to.parse().map_err(|_| bad())?,
            }),
            _ => return Err(bad()),
        };
        Ok(Self {
            vni,
            destination,
            next_hop: NextHop {
                target,
                target_vni: Vni(0),
                kind,
            },
        })
    }
}

/// Why a route could not be built or parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    /// The prefix length exceeds the address length.
    #[error("Prefix length {len} is longer than {max}")]
    PrefixLength {
        /// The length given.
        len: u8,
        /// The address family's maximum.
        max: u8,
    },
    /// The text is not `VNI#PREFIX#NEXTHOP[#STD|#LB|#NAT#FROM#TO]`.
    #[error("Not a route (VNI#PREFIX#NEXTHOP[#STD|#LB|#NAT#FROM#TO]): {0}")]
    Syntax(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        for s in [
            "23#10.0.23.0/24#2001:db8::1",
            "7#10.0.0.5/32#2001:db8::2#LB",
            "7#10.0.0.5/32#2001:db8::3#NAT#1024#3071",
            "1#2001:db8:1::/64#2001:db8::4",
        ] {
            let r: Route = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        let std: Route = "1#0.0.0.0/0#::1#STD".parse().unwrap();
        assert_eq!(std.next_hop.kind, NextHopKind::Standard);
    }

    #[test]
    fn bad_text_is_an_error() {
        for s in [
            "",
            "1#10.0.0.0/33#::1",
            "x#1.2.3.4/32#::1",
            "1#1.2.3.4/32#::1#NAT#1",
            "1#1/2#::1",
        ] {
            assert!(s.parse::<Route>().is_err(), "{s}");
        }
    }

    #[test]
    fn prefix_is_not_masked() {
        let a: Destination = "10.0.0.5/24".parse().unwrap();
        let b: Destination = "10.0.0.0/24".parse().unwrap();
        assert_ne!(a, b);
    }

    /// The hand-written order is the order `derive(Ord)` gives the same fields.
    #[test]
    fn order_matches_the_derived_order() {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Derived(Vni, Destination, NextHop);
        let texts = [
            "1#10.0.0.0/24#2001:db8::1",
            "1#10.0.0.0/24#2001:db8::1#LB",
            "1#10.0.0.0/24#10.1.1.1",
            "1#10.0.0.0/25#2001:db8::1",
            "1#10.0.0.0/24#2001:db8::1#NAT#5#6",
            "1#10.0.0.0/24#2001:db8::1#NAT#5#7",
            "1#10.0.0.0/24#2001:db8::1#NAT#4#9",
            "1#2001:db8::/64#2001:db8::1",
            "1#255.255.255.255/32#::",
            "0#::/0#::",
            "2#0.0.0.0/0#0.0.0.0",
        ];
        let routes: Vec<Route> = texts.iter().map(|t| t.parse().unwrap()).collect();
        for a in &routes {
            for b in &routes {
                let da = Derived(a.vni, a.destination, a.next_hop);
                let db = Derived(b.vni, b.destination, b.next_hop);
                assert_eq!(a.cmp(b), da.cmp(&db), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn first_in_is_the_smallest_route_of_its_vni() {
        let r: Route = "5#0.0.0.0/0#0.0.0.0".parse().unwrap();
        assert_eq!(Route::first_in(Vni(5)), r);
        let later: Route = "5#0.0.0.0/0#::".parse().unwrap();
        assert!(Route::first_in(Vni(5)) < later);
        assert!(Route::first_in(Vni(6)) > later);
    }
}
