//! Per-VNI longest-prefix-match route tables for IPv4 and IPv6.
//!
//! Lookups cost one hash probe per distinct prefix length present in the VNI (longest first),
//! independent of how many routes there are: 100,000 /32 routes cost what 10 do. A `BTreeMap`
//! beside the hash index keeps listing ordered and deterministic.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::fasthash::FastMap;
use crate::types::{Cidr, Vni};

/// Where a matched prefix sends a packet.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum NextHop {
    /// A local interface's own address or prefix: deliver on this port.
    Local(crate::types::PortId),
    /// A remote (or local virtual) destination reached through its underlay address.
    Remote {
        /// The VNI the next hop belongs to (differs from the route's VNI when peering).
        vni: Vni,
        /// The next hop's underlay IPv6 address.
        underlay: std::net::Ipv6Addr,
    },
}

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
struct Key {
    vni: Vni,
    v6: bool,
    len: u8,
    net: u128,
}

/// Which prefix lengths exist in one VNI and family: bit `len` of a 129-bit set.
#[derive(Clone, Copy, Debug, Default)]
struct Lengths([u64; 3]);

impl Lengths {
    fn set(&mut self, len: u8, on: bool) {
        let (w, b) = (usize::from(len / 64), len % 64);
        if on {
            self.0[w] |= 1 << b;
        } else {
            self.0[w] &= !(1 << b);
        }
    }

    /// Lengths present, longest first.
    fn longest_first(self) -> impl Iterator<Item = u8> {
        let mut words = self.0;
        std::iter::from_fn(move || {
            for w in (0..3).rev() {
                if words[w] != 0 {
                    let b = 63 - words[w].leading_zeros();
                    words[w] &= !(1u64 << b);
                    #[allow(clippy::cast_possible_truncation)] // w < 3, b < 64
                    return Some((w as u32 * 64 + b) as u8);
                }
            }
            None
        })
    }
}

/// All VNIs' route tables.
#[derive(Debug, Default)]
pub(crate) struct Lpm {
    index: FastMap<Key, NextHop>,
    lengths: FastMap<(Vni, bool), Lengths>,
    /// Routes per prefix length count, to clear a length bit when its last route goes.
    per_len: BTreeMap<(Vni, bool, u8), u32>,
    routes: BTreeMap<(Vni, Cidr), NextHop>,
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn mask(v6: bool, len: u8, x: u128) -> u128 {
    let width = if v6 { 128 } else { 32 };
    if len == 0 {
        0
    } else {
        x & (u128::MAX << (width - u32::from(len))) & width_mask(v6)
    }
}

fn width_mask(v6: bool) -> u128 {
    if v6 { u128::MAX } else { u128::from(u32::MAX) }
}

impl Lpm {
    /// Adds or replaces a route; returns the previous next hop.
    pub(crate) fn insert(&mut self, vni: Vni, prefix: Cidr, hop: NextHop) -> Option<NextHop> {
        let (v6, net) = bits(prefix.addr());
        let key = Key {
            vni,
            v6,
            len: prefix.len(),
            net,
        };
        let old = self.index.insert(key, hop);
        self.routes.insert((vni, prefix), hop);
        if old.is_none() {
            *self.per_len.entry((vni, v6, prefix.len())).or_insert(0) += 1;
            self.lengths
                .entry((vni, v6))
                .or_default()
                .set(prefix.len(), true);
        }
        old
    }

    /// Removes a route; returns its next hop if it existed.
    pub(crate) fn remove(&mut self, vni: Vni, prefix: Cidr) -> Option<NextHop> {
        let (v6, net) = bits(prefix.addr());
        let old = self.index.remove(&Key {
            vni,
            v6,
            len: prefix.len(),
            net,
        })?;
        self.routes.remove(&(vni, prefix));
        let k = (vni, v6, prefix.len());
        let n = self.per_len.get_mut(&k).map_or(0, |n| {
            *n -= 1;
            *n
        });
        if n == 0 {
            self.per_len.remove(&k);
            if let Some(l) = self.lengths.get_mut(&(vni, v6)) {
                l.set(prefix.len(), false);
            }
        }
        Some(old)
    }

    /// The exact route for a prefix.
    pub(crate) fn get(&self, vni: Vni, prefix: Cidr) -> Option<NextHop> {
        self.routes.get(&(vni, prefix)).copied()
    }

    /// The longest prefix in `vni` containing `ip`, with its length.
    #[inline]
    pub(crate) fn lookup(&self, vni: Vni, ip: IpAddr) -> Option<(u8, NextHop)> {
        let (v6, x) = bits(ip);
        let lengths = *self.lengths.get(&(vni, v6))?;
        for len in lengths.longest_first() {
            let key = Key {
                vni,
                v6,
                len,
                net: mask(v6, len, x),
            };
            if let Some(hop) = self.index.get(&key) {
                return Some((len, *hop));
            }
        }
        None
    }

    /// Every route of `vni` (or of every VNI), in order.
    pub(crate) fn list(&self, vni: Option<Vni>) -> Vec<(Vni, Cidr, NextHop)> {
        self.routes
            .iter()
            .filter(|((v, _), _)| vni.is_none_or(|want| *v == want))
            .map(|((v, c), h)| (*v, *c, *h))
            .collect()
    }

    /// How many routes there are in all.
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PortId;
    use proptest::prelude::*;

    fn hop(n: u16) -> NextHop {
        NextHop::Local(PortId(n))
    }

    #[test]
    fn longest_prefix_wins_per_vni() {
        let mut t = Lpm::default();
        let v = Vni(7);
        t.insert(v, "0.0.0.0/0".parse().unwrap(), hop(1));
        t.insert(v, "10.0.0.0/8".parse().unwrap(), hop(2));
        t.insert(v, "10.1.0.0/16".parse().unwrap(), hop(3));
        t.insert(Vni(8), "10.1.2.0/24".parse().unwrap(), hop(4));
        assert_eq!(t.lookup(v, "10.1.2.3".parse().unwrap()), Some((16, hop(3))));
        assert_eq!(t.lookup(v, "10.9.2.3".parse().unwrap()), Some((8, hop(2))));
        assert_eq!(t.lookup(v, "192.0.2.1".parse().unwrap()), Some((0, hop(1))));
        assert_eq!(t.lookup(v, "2001:db8::1".parse().unwrap()), None);
        t.remove(v, "10.1.0.0/16".parse().unwrap());
        assert_eq!(t.lookup(v, "10.1.2.3".parse().unwrap()), Some((8, hop(2))));
        t.insert(v, "2001:db8::/32".parse().unwrap(), hop(5));
        t.insert(v, "2001:db8::1/128".parse().unwrap(), hop(6));
        assert_eq!(
            t.lookup(v, "2001:db8::1".parse().unwrap()),
            Some((128, hop(6)))
        );
        assert_eq!(
            t.lookup(v, "2001:db8::2".parse().unwrap()),
            Some((32, hop(5)))
        );
    }

    proptest! {
        #[test]
        fn lookup_matches_a_linear_scan(
            routes in proptest::collection::vec((any::<u32>(), 0u8..=32, 0u16..4), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let mut t = Lpm::default();
            let mut all = Vec::new();
            for (a, len, h) in routes {
                let m = if len == 0 { 0 } else { a & (u32::MAX << (32 - u32::from(len))) };
                let c = Cidr::new(IpAddr::V4(m.into()), len).unwrap();
                t.insert(Vni(1), c, hop(h));
                all.retain(|(x, _): &(Cidr, NextHop)| *x != c);
                all.push((c, hop(h)));
            }
            for p in probes {
                let ip = IpAddr::V4(p.into());
                let want = all.iter().filter(|(c, _)| c.contains(ip)).max_by_key(|(c, _)| c.len())
                    .map(|(c, h)| (c.len(), *h));
                prop_assert_eq!(t.lookup(Vni(1), ip), want);
            }
        }
    }
}
