//! After a node's registration is answered it reports everything its runtimes hold (its
//! inventory, sent at once on the same ordered stream). An object bound to one of its pools
//! that it still has not reported after [`inventory_grace`] is one the node no longer holds (a
//! `sim` node restarted, a reinstalled host): it is recorded as `Absent`, so its core creates
//! it again. That is safe when a report was only slow: a node treats a create for a uid it
//! holds as done, and its next report replaces the `Absent`.

use std::time::Duration;

use ferrocore_api::iri::protocol::{PoolRef, ReportedState};
use ferrocore_api::meta::Generation;
use ferrocore_api::{Kind, ObjectKey};

use super::{Hub, write};
use crate::reconcile::{NodeReport, Observed};

/// How long after a registration's answer a node's inventory is taken as complete: two
/// heartbeat intervals (the inventory is sent before the node's next heartbeat), at least 1 s.
pub(crate) fn inventory_grace(heartbeat: Duration) -> Duration {
    (heartbeat * 2).max(Duration::from_secs(1))
}

impl Hub {
    /// The registrations of `pools` were answered now: their inventory is due.
    pub(crate) fn expect_inventory(&mut self, pools: Vec<PoolRef>) {
        let due = self.now() + inventory_grace(self.config.health().heartbeat_interval);
        for p in pools {
            self.inventory_due.insert(p, due);
        }
    }

    /// Records as `Absent` what the pools whose inventory is overdue did not report.
    pub(crate) fn close_inventories(&mut self) {
        let now = self.now();
        let due: Vec<PoolRef> = self
            .inventory_due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for pool in due {
            self.inventory_due.remove(&pool);
            for key in self.unreported(&pool) {
                self.wake(&key);
            }
        }
    }

    /// Marks the objects bound to `pool` that have no report as `Absent`; their keys.
    fn unreported(&self, pool: &PoolRef) -> Vec<ObjectKey> {
        let pool_key = ObjectKey {
            kind: pool.kind.kind(),
            namespace: String::new(),
            name: pool.name.clone(),
        };
        let mut state = write(&self.env.state);
        let mut marked = Vec::new();
        for key in state.cache.naming(&pool_key) {
            if !matches!(key.kind, Kind::Machine | Kind::Volume | Kind::Bucket) {
                continue;
            }
            let Some(object) = state.cache.get(&key) else {
                continue;
            };
            if super::hub::bound_pool(object).as_ref() != Some(pool) {
                continue;
            }
            let uid = object.meta().uid.clone();
            if !matches!(state.reports.observed(&key, &uid), Observed::Unknown) {
                continue;
            }
            let absent = NodeReport {
                uid,
                // The oldest generation: any real report of the object replaces it.
                generation: Generation(0),
                pool: pool.clone(),
                state: ReportedState::Absent,
            };
            if state.reports.record(key.clone(), absent) {
                marked.push(key);
            }
        }
        if !marked.is_empty() {
            tracing::info!(%pool, objects = marked.len(), "not in the node's inventory: absent");
        }
        marked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_is_two_heartbeats_and_at_least_a_second() {
        assert_eq!(
            inventory_grace(Duration::from_secs(10)),
            Duration::from_secs(20)
        );
        assert_eq!(
            inventory_grace(Duration::from_millis(100)),
            Duration::from_secs(1)
        );
    }
}
