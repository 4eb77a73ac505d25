//! The free space of one parent prefix: disjoint address ranges, first-fit allocation of
//! aligned blocks (as `netipx.IPSet.RemoveFreePrefix`), exact removal of explicit prefixes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrocore_api::{IpFamily, IpPrefix};

/// An address family's width and numeric form.
fn bits(family: &IpFamily) -> u32 {
    u32::from(family.bits().unwrap_or(0))
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The last offset of a block of `host_bits` host bits (`2^host_bits - 1`).
fn span(host_bits: u32) -> u128 {
    if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

/// The first and last address of `p` as numbers.
pub fn bounds(p: IpPrefix) -> (u128, u128) {
    let host = bits(&p.family()) - u32::from(p.len());
    let lo = to_u128(p.addr()) & !span(host);
    (lo, lo | span(host))
}

/// The prefix of `len` starting at `lo` in `family`.
fn prefix_at(family: &IpFamily, lo: u128, len: u8) -> Option<IpPrefix> {
    let addr = match family {
        IpFamily::Ipv4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(lo).ok()?)),
        IpFamily::Ipv6 => IpAddr::V6(Ipv6Addr::from(lo)),
        IpFamily::Unknown(_) => return None,
    };
    IpPrefix::new(addr, len)
}

/// Free address ranges of one family, keyed by first address (value: last address).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct FreeSet {
    family: IpFamily,
    free: BTreeMap<u128, u128>,
}

impl FreeSet {
    /// All of `parent` free.
    pub fn new(parent: IpPrefix) -> Self {
        let (lo, hi) = bounds(parent);
        Self {
            family: parent.family(),
            free: BTreeMap::from([(lo, hi)]),
        }
    }

    /// The address family.
    pub fn family(&self) -> &IpFamily {
        &self.family
    }

    /// Takes exactly `p` if all of it is free; false otherwise (taken, outside, other family).
    pub fn take(&mut self, p: IpPrefix) -> bool {
        if p.family() != self.family {
            return false;
        }
        let (lo, hi) = bounds(p);
        let Some((&start, &end)) = self.free.range(..=lo).next_back() else {
            return false;
        };
        if end < hi {
            return false;
        }
        self.free.remove(&start);
        if start < lo {
            self.free.insert(start, lo - 1);
        }
        if hi < end {
            self.free.insert(hi + 1, end);
        }
        true
    }

    /// Takes the first free aligned block of prefix length `len`, if any.
    pub fn take_first(&mut self, len: u8) -> Option<IpPrefix> {
        let width = bits(&self.family);
        let host = width.checked_sub(u32::from(len))?;
        let size_minus_one = span(host);
        let found = self.free.iter().find_map(|(&lo, &hi)| {
            // The first block boundary at or after `lo`.
            let start = if lo & size_minus_one == 0 {
                lo
            } else {
                (lo | size_minus_one).checked_add(1)?
            };
            let end = start.checked_add(size_minus_one)?;
            (end <= hi).then_some(start)
        })?;
        let p = prefix_at(&self.family, found, len)?;
        let taken = self.take(p);
        debug_assert!(taken, "a block found free must be takeable");
        Some(p)
    }

    /// Whether some aligned block of `len` is free.
    pub fn has_room(&self, len: u8) -> bool {
        self.clone().take_first(len).is_some()
    }

    /// Number of free addresses (saturating).
    pub fn free_addresses(&self) -> u128 {
        self.free.iter().fold(0u128, |acc, (lo, hi)| {
            acc.saturating_add(hi - lo).saturating_add(1)
        })
    }

    /// Checks that ranges are ordered, disjoint and not adjacent-overlapping.
    pub fn check_invariants(&self) {
        let mut prev: Option<u128> = None;
        for (&lo, &hi) in &self.free {
            assert!(lo <= hi, "range {lo}..{hi} is reversed");
            if let Some(p) = prev {
                assert!(p < lo, "ranges overlap at {lo}");
            }
            prev = Some(hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn p(s: &str) -> IpPrefix {
        s.parse().unwrap()
    }

    #[test]
    fn first_fit_and_explicit() {
        let mut s = FreeSet::new(p("10.0.0.0/24"));
        assert!(s.take(p("10.0.0.0/26")));
        assert!(!s.take(p("10.0.0.0/32")), "already taken");
        assert_eq!(s.take_first(32), Some(p("10.0.0.64/32")));
        assert_eq!(s.take_first(26), Some(p("10.0.0.128/26")));
        assert_eq!(s.take_first(25), None, "no aligned /25 left");
        assert!(!s.take(p("10.0.1.0/32")), "outside");
        assert!(!s.take(p("2001:db8::/128")), "other family");
        assert_eq!(s.free_addresses(), 256 - 64 - 1 - 64);
    }

    #[test]
    fn whole_v6_space() {
        let mut s = FreeSet::new(p("::/0"));
        assert_eq!(s.take_first(64), Some(p("::/64")));
        let mut s = FreeSet::new(p("::/0"));
        assert_eq!(s.take_first(0), Some(p("::/0")));
        assert_eq!(s.take_first(128), None);
    }

    proptest! {
        /// Whatever is asked, handed-out blocks never overlap, stay inside the parent, and the
        /// free count drops by exactly their sizes.
        #[test]
        fn allocations_never_overlap(lens in proptest::collection::vec(20u8..=32, 1..60)) {
            let parent = p("10.8.0.0/20");
            let mut s = FreeSet::new(parent);
            let mut got: Vec<IpPrefix> = Vec::new();
            let mut used = 0u128;
            for len in lens {
                if let Some(b) = s.take_first(len) {
                    prop_assert!(parent.contains_prefix(b));
                    prop_assert!(got.iter().all(|g| !g.overlaps(b)), "{b} overlaps");
                    used += 1u128 << (32 - u32::from(len));
                    got.push(b);
                } else {
                    prop_assert!(!s.has_room(len));
                }
                s.check_invariants();
                prop_assert_eq!(s.free_addresses() + used, 4096);
            }
        }
    }
}
