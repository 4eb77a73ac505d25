//! The route table: every route with the set of peers announcing it, and each peer's routes.
//!
//! Sans-IO and generic over the announcer id, so the reflector keys it by connection and the
//! client by reflector. A route stays in the table while at least one announcer remains; the
//! caller learns from each change whether that was the first or the last announcer.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::route::{Route, Vni};

/// Routes by key with their announcers, plus the reverse index by announcer.
#[derive(Debug)]
pub(crate) struct RouteTable<P> {
    routes: BTreeMap<Route, BTreeSet<P>>,
    by_peer: BTreeMap<P, BTreeSet<Route>>,
}

impl<P: Ord + Copy> Default for RouteTable<P> {
    fn default() -> Self {
        Self {
            routes: BTreeMap::new(),
            by_peer: BTreeMap::new(),
        }
    }
}

/// The key range of one VNI.
pub(crate) fn vni_range(vni: Vni) -> (Bound<Route>, Bound<Route>) {
    let end = vni.0.checked_add(1).map_or(Bound::Unbounded, |n| {
        Bound::Excluded(Route::first_in(Vni(n)))
    });
    (Bound::Included(Route::first_in(vni)), end)
}

impl<P: Ord + Copy> RouteTable<P> {
    /// Records that `peer` announces `route`; `false` if it already did (nothing changed).
    /// [`Self::announcers`] then tells who announces it.
    pub(crate) fn add(&mut self, peer: P, route: Route) -> bool {
        let announcers = self.routes.entry(route).or_default();
        if !announcers.insert(peer) {
            return false;
        }
        self.by_peer.entry(peer).or_default().insert(route);
        true
    }

    /// Records that `peer` no longer announces `route`; `false` if it did not (nothing
    /// changed). The route leaves the table with its last announcer.
    pub(crate) fn remove(&mut self, peer: P, route: &Route) -> bool {
        let Some(announcers) = self.routes.get_mut(route) else {
            return false;
        };
        if !announcers.remove(&peer) {
            return false;
        }
        if announcers.is_empty() {
            self.routes.remove(route);
        }
        if let Some(mine) = self.by_peer.get_mut(&peer) {
            mine.remove(route);
            if mine.is_empty() {
                self.by_peer.remove(&peer);
            }
        }
        true
    }

    /// The announcers of `route` (empty if nobody announces it).
    pub(crate) fn announcers(&self, route: &Route) -> impl Iterator<Item = &P> {
        self.routes.get(route).into_iter().flatten()
    }

    /// Every route `peer` announces (in key order).
    pub(crate) fn routes_of(&self, peer: P) -> Vec<Route> {
        self.by_peer
            .get(&peer)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The routes `peer` announces in `vni`.
    pub(crate) fn routes_of_in(&self, peer: P, vni: Vni) -> Vec<Route> {
        self.by_peer
            .get(&peer)
            .map(|s| s.range(vni_range(vni)).copied().collect())
            .unwrap_or_default()
    }

    /// How many routes `peer` announces.
    pub(crate) fn count_of(&self, peer: P) -> usize {
        self.by_peer.get(&peer).map_or(0, BTreeSet::len)
    }

    /// Routes and their announcers within `range`, in key order.
    pub(crate) fn range(
        &self,
        range: (Bound<Route>, Bound<Route>),
    ) -> impl Iterator<Item = (&Route, &BTreeSet<P>)> {
        self.routes.range(range)
    }

    /// Number of distinct routes.
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    /// Route counts per VNI.
    pub(crate) fn counts_by_vni(&self) -> BTreeMap<Vni, usize> {
        let mut out = BTreeMap::new();
        for route in self.routes.keys() {
            *out.entry(route.vni).or_insert(0) += 1;
        }
        out
    }

    /// Panics if the two indexes disagree (a bug here, never bad input).
    pub(crate) fn check_invariants(&self) {
        for (route, announcers) in &self.routes {
            assert!(!announcers.is_empty(), "route {route} has no announcer");
            for p in announcers {
                assert!(self.by_peer.get(p).is_some_and(|s| s.contains(route)));
            }
        }
        for (p, routes) in &self.by_peer {
            assert!(!routes.is_empty(), "empty per-peer entry");
            for r in routes {
                assert!(self.routes.get(r).is_some_and(|s| s.contains(p)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn route(i: u8) -> Route {
        format!("{}#10.0.0.{i}/32#2001:db8::{i}", i % 3)
            .parse()
            .unwrap()
    }

    #[test]
    fn last_announcer_removes_the_route() {
        let mut t = RouteTable::default();
        let r = route(1);
        assert!(t.add(1, r));
        assert!(!t.add(1, r));
        assert!(t.add(2, r));
        assert_eq!(t.announcers(&r).copied().collect::<Vec<_>>(), vec![1, 2]);
        assert!(t.remove(1, &r));
        assert!(!t.remove(1, &r));
        assert_eq!(t.announcers(&r).copied().collect::<Vec<_>>(), vec![2]);
        assert!(t.remove(2, &r));
        assert_eq!(t.announcers(&r).count(), 0);
        assert_eq!(t.len(), 0);
        t.check_invariants();
    }

    #[test]
    fn vni_range_selects_one_vni() {
        let mut t = RouteTable::default();
        for i in 0..30 {
            t.add(7, route(i));
        }
        let in1: Vec<_> = t.range(vni_range(Vni(1))).map(|(r, _)| r.vni).collect();
        assert_eq!(in1.len(), 10);
        assert!(in1.iter().all(|v| *v == Vni(1)));
        assert_eq!(t.routes_of_in(7, Vni(2)).len(), 10);
        assert_eq!(t.counts_by_vni().get(&Vni(0)), Some(&10));
    }

    proptest! {
        /// Against a model (a set of (peer, route) pairs), the table always agrees on which
        /// routes exist and who announces them.
        #[test]
        fn agrees_with_a_model(ops in proptest::collection::vec((any::<bool>(), 0u8..4, 0u8..8), 0..200)) {
            let mut t = RouteTable::default();
            let mut model = BTreeSet::new();
            for (add, peer, r) in ops {
                let r = route(r);
                if add {
                    let fresh = model.insert((peer, r));
                    prop_assert_eq!(t.add(peer, r), fresh);
                } else {
                    let had = model.remove(&(peer, r));
                    prop_assert_eq!(t.remove(peer, &r), had);
                }
                t.check_invariants();
            }
            let routes: BTreeSet<Route> = model.iter().map(|(_, r)| *r).collect();
            prop_assert_eq!(t.len(), routes.len());
        }
    }
}
