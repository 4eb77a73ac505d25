//! A small multiplicative hasher for the packet path's exact-match tables (conntrack, LPM
//! levels, underlay lookups). Keys there are fixed-size integers; SipHash's DoS resistance is
//! not needed because every table is bounded and the hash is not the only defence.

use std::hash::{BuildHasherDefault, Hasher};

/// An Fx-style hasher: rotate, xor, multiply per word.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so the low bits (which pick buckets) depend on every input bit.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation)] // splitting into two words on purpose
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// A `BuildHasher` for [`FastHasher`].
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

/// A hash map that is only ever looked up, never iterated: iteration order therefore cannot
/// leak into decisions, which is why the workspace's `HashMap` ban is lifted for it.
#[allow(clippy::disallowed_types)]
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

/// A 64-bit hash of a flow-like value, stable across runs and platforms (Maglev and NAT port
/// choice depend on it, so a restart picks the same ports and targets).
pub(crate) fn hash64(words: &[u64]) -> u64 {
    let mut h = FastHasher::default();
    for &w in words {
        h.add(w);
    }
    h.finish()
}
