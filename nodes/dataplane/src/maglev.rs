//! Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table in which each target
//! owns a near-equal share of slots, and adding or removing a target moves few flows.

use std::net::Ipv6Addr;

/// Slots in every load balancer's table: a prime much larger than [`MAX_TARGETS`], so each
/// target's share is within about 1% of `M / N` (the paper recommends M ≫ 100·N).
pub(crate) const TABLE_SIZE: usize = 65_537;

/// Most targets one load balancer may have (bounds the table build's work and memory).
pub(crate) const MAX_TARGETS: usize = 64;

/// A built Maglev table over a list of targets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Maglev {
    targets: Vec<Ipv6Addr>,
    /// Slot → index into `targets`; empty when there are no targets.
    table: Vec<u8>,
}

fn h1(t: &Ipv6Addr) -> u64 {
    // FNV-1a: a fixed, documented hash, so every hypervisor builds the same table.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in t.octets() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn h2(t: &Ipv6Addr) -> u64 {
    // djb2.
    let mut h: u64 = 5381;
    for b in t.octets() {
        h = h.wrapping_mul(33) ^ u64::from(b);
    }
    h
}

impl Maglev {
    /// Builds the table for `targets` (sorted and deduplicated first, so the table depends only
    /// on the set). At most [`MAX_TARGETS`] are used.
    pub(crate) fn new(targets: &[Ipv6Addr]) -> Self {
        let mut targets = targets.to_vec();
        targets.sort();
        targets.dedup();
        targets.truncate(MAX_TARGETS);
        if targets.is_empty() {
            return Self::default();
        }
        let m = TABLE_SIZE as u64;
        let perms: Vec<(u64, u64)> = targets
            .iter()
            .map(|t| (h1(t) % m, h2(t) % (m - 1) + 1))
            .collect();
        let mut next = vec![0u64; targets.len()];
        let mut table = vec![u8::MAX; TABLE_SIZE];
        let mut filled = 0;
        // Each round gives every target one slot: TABLE_SIZE rounds at most, since each
        // permutation visits every slot (skip and M are coprime because M is prime).
        'fill: loop {
            for (i, &(offset, skip)) in perms.iter().enumerate() {
                let mut c = (offset + next[i] * skip) % m;
                while table[usize::try_from(c).unwrap_or(0)] != u8::MAX {
                    next[i] += 1;
                    c = (offset + next[i] * skip) % m;
                }
                #[allow(clippy::cast_possible_truncation)] // i < MAX_TARGETS = 64
                let idx = i as u8;
                table[usize::try_from(c).unwrap_or(0)] = idx;
                next[i] += 1;
                filled += 1;
                if filled == TABLE_SIZE {
                    break 'fill;
                }
            }
        }
        Self { targets, table }
    }

    /// The target for a flow hash, or `None` without targets.
    #[inline]
    pub(crate) fn pick(&self, hash: u64) -> Option<Ipv6Addr> {
        if self.table.is_empty() {
            return None;
        }
        let slot = usize::try_from(hash % TABLE_SIZE as u64).unwrap_or(0);
        self.targets.get(usize::from(self.table[slot])).copied()
    }

    /// The targets, sorted.
    pub(crate) fn targets(&self) -> &[Ipv6Addr] {
        &self.targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fasthash::hash64;

    fn t(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n)
    }

    #[test]
    fn shares_are_even_and_moves_are_few() {
        let three = Maglev::new(&[t(1), t(2), t(3)]);
        let mut counts = [0usize; 3];
        for &s in &three.table {
            counts[usize::from(s)] += 1;
        }
        for c in counts {
            let share = c as f64 / TABLE_SIZE as f64;
            assert!((share - 1.0 / 3.0).abs() < 0.01, "share {share}");
        }
        let four = Maglev::new(&[t(1), t(2), t(3), t(4)]);
        let mut moved = 0;
        for i in 0..10_000u64 {
            let h = hash64(&[i]);
            let (a, b) = (three.pick(h).unwrap(), four.pick(h).unwrap());
            if a != b && b != t(4) {
                moved += 1;
            }
        }
        assert!(moved < 500, "{moved} flows moved between unchanged targets");
        assert_eq!(Maglev::new(&[]).pick(1), None);
    }
}
