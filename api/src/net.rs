//! IP addresses, prefixes, ranges, families and protocols, written as upstream writes them
//! (`10.0.0.1`, `10.0.0.0/8`, `IPv4`, `TCP`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::enums::string_enum;

string_enum! {
    /// An IP family.
    IpFamily { Ipv4 => "IPv4", Ipv6 => "IPv6" }
}

string_enum! {
    /// A transport protocol.
    Protocol { Tcp => "TCP", Udp => "UDP", Sctp => "SCTP" }
}

impl IpFamily {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() {
            Self::Ipv4
        } else {
            Self::Ipv6
        }
    }

    /// Address bits of the family (32 or 128); `None` for an unknown family.
    pub fn bits(&self) -> Option<u8> {
        match self {
            Self::Ipv4 => Some(32),
            Self::Ipv6 => Some(128),
            Self::Unknown(_) => None,
        }
    }
}

/// An IP address (`10.0.0.1`, `2001:db8::1`).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct IpAddress(pub IpAddr);

impl IpAddress {
    /// The address's family.
    pub fn family(self) -> IpFamily {
        IpFamily::of(self.0)
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for IpAddress {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl Serialize for IpAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a valid IP address")))
    }
}

/// An IP prefix (`10.0.0.0/8`). Host bits may be set, as Go's `netip.Prefix` allows.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

/// Text that is not `<address>/<length>` with a length the family allows.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{0:?} is not a valid IP prefix (expected e.g. 10.0.0.0/8 or 2001:db8::/64)")]
pub struct PrefixParseError(String);

impl IpPrefix {
    /// The prefix `addr/len`, if `len` fits the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        (len <= IpFamily::of(addr).bits().unwrap_or(0)).then_some(Self { addr, len })
    }

    /// The address as written.
    pub fn addr(self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn len(self) -> u8 {
        self.len
    }

    /// Whether the prefix is `/0`.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The family.
    pub fn family(self) -> IpFamily {
        IpFamily::of(self.addr)
    }

    /// Whether the prefix covers exactly one address (`/32` or `/128`).
    pub fn is_single_ip(self) -> bool {
        Some(self.len) == self.family().bits()
    }

    fn bounds(self) -> (u128, u128) {
        let (value, bits) = match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
            IpAddr::V6(a) => (u128::from(a), 128u32),
        };
        let host_bits = bits - u32::from(self.len);
        let mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        (value & !mask, value | mask)
    }

    /// Whether `other` lies entirely inside this prefix (same family).
    pub fn contains_prefix(self, other: Self) -> bool {
        if self.family() != other.family() || other.len < self.len {
            return false;
        }
        let (lo, hi) = self.bounds();
        let (olo, ohi) = other.bounds();
        lo <= olo && ohi <= hi
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(self, addr: IpAddr) -> bool {
        Self::new(addr, IpFamily::of(addr).bits().unwrap_or(0))
            .is_some_and(|single| self.contains_prefix(single))
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(self, other: Self) -> bool {
        self.contains_prefix(other) || other.contains_prefix(self)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for IpPrefix {
    type Err = PrefixParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PrefixParseError(s.to_owned());
        let (addr, len) = s.split_once('/').ok_or_else(err)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let len: u8 = len.parse().map_err(|_| err())?;
        Self::new(addr, len).ok_or_else(err)
    }
}

impl Serialize for IpPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of addresses.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct IpRange {
    /// The first address.
    pub from: IpAddress,
    /// The last address.
    pub to: IpAddress,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_contain() {
        let p: IpPrefix = "10.0.0.0/8".parse().unwrap();
        assert_eq!(p.family(), IpFamily::Ipv4);
        assert!(p.contains_prefix("10.1.0.0/16".parse().unwrap()));
        assert!(!p.contains_prefix("11.0.0.0/16".parse().unwrap()));
        assert!(!p.contains_prefix("0.0.0.0/0".parse().unwrap()));
        assert!(p.contains("10.255.0.1".parse().unwrap()));
        assert!("10.0.0.1/32".parse::<IpPrefix>().unwrap().is_single_ip());
        let v6: IpPrefix = "2000::/8".parse().unwrap();
        assert!(v6.contains_prefix("2001:db8::/32".parse().unwrap()));
        assert!("::/0".parse::<IpPrefix>().unwrap().contains_prefix(v6));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/",
            "x/8",
            "::/129",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<IpPrefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn families_and_protocols_use_upstream_spellings() {
        assert_eq!(serde_json::to_string(&IpFamily::Ipv6).unwrap(), "\"IPv6\"");
        let p: Protocol = serde_json::from_str("\"UDP\"").unwrap();
        assert_eq!(p, Protocol::Udp);
    }
}
