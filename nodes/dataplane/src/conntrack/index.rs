//! The conntrack index: an open-addressing hash table (linear probing, backward-shift
//! deletion) from a flow key's hash to the flow's slot and direction.
//!
//! An entry is 8 bytes: 32 bits of the key's hash and the slot and direction. Keys are not
//! stored here; the caller compares them in the flow itself. So a million flows' index is
//! 16 to 32 MiB instead of hundreds, a lookup usually reads one cache line of the index and
//! then the flow, and both can be prefetched for a burst of packets before it is processed.
//! The table never grows: it is sized for the conntrack capacity at a load of at most one
//! half, so every probe sequence ends at an empty bucket soon.

use super::Dir;

/// Most flows a table can hold: slot numbers must fit in 30 bits (with the direction bit and
/// the empty marker, an entry's low word).
pub(crate) const MAX_FLOWS: usize = 1 << 30;

/// The index.
#[derive(Debug)]
pub(crate) struct FlowIndex {
    /// `hash32 << 32 | ((slot + 1) << 1 | dir)`; 0 is an empty bucket.
    buckets: Box<[u64]>,
    mask: usize,
    len: usize,
}

fn entry(hash32: u32, slot: u32, dir: Dir) -> u64 {
    let low = ((slot + 1) << 1) | u32::from(dir == Dir::Reply);
    (u64::from(hash32) << 32) | u64::from(low)
}

#[allow(clippy::cast_possible_truncation)] // the halves of an entry, on purpose
fn split(e: u64) -> (u32, u32, Dir) {
    let low = e as u32;
    let dir = if low & 1 == 1 { Dir::Reply } else { Dir::Orig };
    ((e >> 32) as u32, (low >> 1) - 1, dir)
}

/// The 32 bits of a 64-bit hash the index keeps (and places by).
#[allow(clippy::cast_possible_truncation)] // the high half, on purpose
pub(crate) fn hash32(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl FlowIndex {
    /// An empty index for up to `flows` flows (two entries each), at most [`MAX_FLOWS`].
    pub(crate) fn new(flows: usize) -> Self {
        let entries = flows.clamp(1, MAX_FLOWS) * 2;
        let n = (entries * 2).next_power_of_two();
        // Zeroed memory is taken lazily from the OS: untouched buckets cost nothing.
        let buckets = vec![0u64; n].into_boxed_slice();
        super::advise_huge_pages(buckets.as_ptr().cast(), n * 8);
        Self {
            buckets,
            mask: n - 1,
            len: 0,
        }
    }

    fn home(&self, h: u32) -> usize {
        h as usize & self.mask
    }

    /// The entry for `hash` whose slot and direction `is_key` accepts.
    #[inline]
    pub(crate) fn find(
        &self,
        hash: u64,
        mut is_key: impl FnMut(u32, Dir) -> bool,
    ) -> Option<(u32, Dir)> {
        let h = hash32(hash);
        let mut i = self.home(h);
        loop {
            let e = self.buckets[i];
            if e == 0 {
                return None;
            }
            let (eh, slot, dir) = split(e);
            if eh == h && is_key(slot, dir) {
                return Some((slot, dir));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds an entry; the caller makes sure no entry for the same key exists.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32, dir: Dir) {
        assert!((slot as usize) < MAX_FLOWS, "slot {slot} out of range");
        assert!(
            self.len < self.buckets.len() / 2,
            "conntrack index over its load"
        );
        let h = hash32(hash);
        let mut i = self.home(h);
        while self.buckets[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = entry(h, slot, dir);
        self.len += 1;
    }

    /// Removes the entry for `hash` pointing at `slot` in direction `dir`; false if absent.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32, dir: Dir) -> bool {
        let want = entry(hash32(hash), slot, dir);
        let mut i = self.home(hash32(hash));
        loop {
            match self.buckets[i] {
                0 => return false,
                e if e == want => break,
                _ => i = (i + 1) & self.mask,
            }
        }
        // Backward shift: pull later entries of the cluster into the hole when their home
        // bucket allows it, so no tombstones are needed.
        self.buckets[i] = 0;
        self.len -= 1;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let e = self.buckets[j];
            if e == 0 {
                return true;
            }
            let k = self.home(split(e).0);
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.buckets[i] = e;
                self.buckets[j] = 0;
                i = j;
            }
        }
    }

    /// Hints the CPU to load the bucket `hash` starts at.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        super::prefetch(&self.buckets[self.home(hash32(hash))]);
    }

    /// Every entry: (hash32, slot, direction), in bucket order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, u32, Dir)> + '_ {
        self.buckets.iter().filter(|&&e| e != 0).map(|&e| split(e))
    }

    /// Entries in the index.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The index agrees with a map under any mix of inserts and removes, including
        /// colliding hashes (few distinct hash values) and wrap-around at the table's end.
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u64..16), 0..400)) {
            let mut idx = FlowIndex::new(64);
            let mut model: BTreeMap<u32, u64> = BTreeMap::new();
            for (insert, slot, h) in ops {
                // Hashes that land on the last buckets, to exercise wrap-around.
                let hash = (u64::MAX - h) << 32;
                match (insert, model.get(&slot)) {
                    (true, None) => {
                        idx.insert(hash, slot, Dir::Orig);
                        model.insert(slot, hash);
                    }
                    (false, Some(&old)) => {
                        prop_assert!(idx.remove(old, slot, Dir::Orig));
                        model.remove(&slot);
                    }
                    _ => {}
                }
                prop_assert_eq!(idx.len(), model.len());
                for (&s, &hh) in &model {
                    prop_assert_eq!(idx.find(hh, |x, _| x == s), Some((s, Dir::Orig)));
                }
            }
            prop_assert_eq!(idx.find(1 << 32, |_, _| true), None);
        }
    }
}
