//! Newtypes for the identifiers and quantities the data plane deals in.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest identifier (interface, load balancer, firewall rule) the API accepts: bounds the
/// memory a client can make us hold per object.
pub const MAX_ID_LEN: usize = 128;

/// A virtual network identifier. It is never carried in packets: each network object owns an
/// underlay address, and the VNI is looked up from that address.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub struct Vni(pub u32);

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An index into the backend's port list (VM interfaces and the uplink).
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub struct PortId(pub u16);

impl PortId {
    /// The port as a vector index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Why an identifier was refused.
#[derive(Debug, Error, Eq, PartialEq)]
pub enum IdError {
    /// Identifiers are 1 to [`MAX_ID_LEN`] bytes of `[A-Za-z0-9._:-]`.
    #[error("Identifier {0:?} is empty, too long or has characters outside [A-Za-z0-9._:-]")]
    Invalid(String),
}

fn check_id(s: &str) -> Result<(), IdError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(IdError::Invalid(s.chars().take(MAX_ID_LEN).collect()))
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The identifier, checked.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A VM network interface's identifier (metalnet's NetworkInterface UID).
    InterfaceId
);
string_id!(
    /// A load balancer's identifier.
    LbId
);
string_id!(
    /// A firewall rule's identifier, unique per interface.
    RuleId
);

/// A half-open port range `[from, to)`, as everywhere in ferrocore: it holds `to - from` ports.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(try_from = "(u16, u16)", into = "(u16, u16)")]
pub struct PortRange {
    from: u16,
    to: u16,
}

/// Why a port range was refused.
#[derive(Debug, Error, Eq, PartialEq)]
pub enum PortRangeError {
    /// `from` must be below `to` (the range is half-open and may not be empty).
    #[error("Port range [{0}, {1}) is empty or reversed")]
    Empty(u16, u16),
}

impl PortRange {
    /// The range `[from, to)`; it must hold at least one port.
    pub fn new(from: u16, to: u16) -> Result<Self, PortRangeError> {
        if from < to {
            Ok(Self { from, to })
        } else {
            Err(PortRangeError::Empty(from, to))
        }
    }

    /// The first port in the range.
    pub fn from(self) -> u16 {
        self.from
    }

    /// One past the last port in the range.
    pub fn to(self) -> u16 {
        self.to
    }

    /// How many ports the range holds.
    pub fn len(self) -> u16 {
        self.to - self.from
    }

    /// Never true: an empty range cannot be built. Present for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        self.from == self.to
    }

    /// Whether `port` is in `[from, to)`.
    pub fn contains(self, port: u16) -> bool {
        self.from <= port && port < self.to
    }

    /// Whether the two ranges share a port.
    pub fn overlaps(self, other: Self) -> bool {
        self.from < other.to && other.from < self.to
    }
}

impl TryFrom<(u16, u16)> for PortRange {
    type Error = PortRangeError;
    fn try_from((from, to): (u16, u16)) -> Result<Self, PortRangeError> {
        Self::new(from, to)
    }
}

impl From<PortRange> for (u16, u16) {
    fn from(r: PortRange) -> (u16, u16) {
        (r.from, r.to)
    }
}

/// An IPv4 or IPv6 prefix with its host bits zeroed.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix was refused.
#[derive(Debug, Error, Eq, PartialEq)]
pub enum CidrError {
    /// Not of the form `address/length`, or the length is too long for the family.
    #[error("Invalid prefix {0:?}: want address/length")]
    Syntax(String),
    /// Bits are set past the prefix length.
    #[error("Prefix {0} has host bits set")]
    HostBits(String),
}

impl Cidr {
    /// The prefix `addr/len`; host bits must be zero.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(CidrError::Syntax(format!("{addr}/{len}")));
        }
        let cidr = Self { addr, len };
        if cidr.masked(addr) != addr {
            return Err(CidrError::HostBits(format!("{addr}/{len}")));
        }
        Ok(cidr)
    }

    /// The single-address prefix of `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// The all-addresses prefix of `addr`'s family (0.0.0.0/0 or ::/0).
    pub fn any_of(v6: bool) -> Self {
        let addr = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Self { addr, len: 0 }
    }

    /// The network address.
    pub fn addr(self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn len(self) -> u8 {
        self.len
    }

    /// Whether this is a /0.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Whether `ip` falls inside the prefix (false across families).
    pub fn contains(self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == self.addr
    }

    fn masked(self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let m = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError::Syntax(s.chars().take(64).collect());
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        Self::new(addr, len)
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;
    fn try_from(s: String) -> Result<Self, CidrError> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> Self {
        c.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An Ethernet MAC address.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// Whether the group bit is set (broadcast or multicast).
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_is_half_open() {
        let r = PortRange::new(1024, 1088).unwrap();
        assert_eq!(r.len(), 64);
        assert!(r.contains(1024) && r.contains(1087) && !r.contains(1088));
        assert!(!r.overlaps(PortRange::new(1088, 2000).unwrap()));
        assert!(r.overlaps(PortRange::new(1087, 2000).unwrap()));
        assert!(PortRange::new(5, 5).is_err());
    }

    #[test]
    fn cidr_parses_and_rejects_host_bits() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!("10.1.0.1/16".parse::<Cidr>().is_err());
        assert!("10.1.0.0/33".parse::<Cidr>().is_err());
        let any: Cidr = "::/0".parse().unwrap();
        assert!(any.contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn ids_are_checked() {
        assert!(InterfaceId::new("vm-1").is_ok());
        assert!(InterfaceId::new("").is_err());
        assert!(InterfaceId::new("a b").is_err());
        assert!(InterfaceId::new("x".repeat(129)).is_err());
    }
}
