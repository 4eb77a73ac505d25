//! The leader's table of connected nodes: each node's outbox and the pools it registered in
//! this session. A pool belongs to the first node that registers it (the store's
//! `reconcile_registration` enforces that across sessions; this table covers the moment before
//! the pool object is written).

use std::collections::{BTreeMap, BTreeSet};

use ferrocore_api::iri::protocol::{ControllerMessage, NodeName, PoolRef};
use tokio::sync::mpsc;

/// Messages queued for one node's connection; when full, commands are dropped (their in-flight
/// timeout re-sends them) rather than letting one slow node stall the hub.
pub(crate) const OUTBOX_MAX: usize = 1024;

/// One connected node.
#[derive(Debug)]
pub(crate) struct Link {
    /// Which connection (a reconnect replaces the link).
    pub(crate) conn: u64,
    /// Frames to the node.
    pub(crate) outbox: mpsc::Sender<ControllerMessage>,
}

/// Connected nodes and pool ownership.
#[derive(Debug, Default)]
pub(crate) struct NodeTable {
    links: BTreeMap<NodeName, Link>,
    owners: BTreeMap<PoolRef, NodeName>,
}

impl NodeTable {
    /// A node connected (replacing an older connection of the same node, which then ends).
    pub(crate) fn connect(&mut self, node: NodeName, link: Link) {
        self.links.insert(node, link);
    }

    /// A connection ended; true if it was the node's current one.
    pub(crate) fn disconnect(&mut self, node: &NodeName, conn: u64) -> bool {
        if self.links.get(node).is_some_and(|l| l.conn == conn) {
            self.links.remove(node);
            return true;
        }
        false
    }

    /// Whether `conn` is `node`'s current connection.
    pub(crate) fn is_current(&self, node: &NodeName, conn: u64) -> bool {
        self.links.get(node).is_some_and(|l| l.conn == conn)
    }

    /// The node that owns `pool` in this session.
    pub(crate) fn owner(&self, pool: &PoolRef) -> Option<&NodeName> {
        self.owners.get(pool)
    }

    /// Sets `node`'s pools to `pools` (pools it no longer registers are released).
    pub(crate) fn set_pools(&mut self, node: &NodeName, pools: &BTreeSet<PoolRef>) {
        self.owners.retain(|p, n| n != node || pools.contains(p));
        for p in pools {
            self.owners.insert(p.clone(), node.clone());
        }
    }

    /// The pools `node` owns.
    pub(crate) fn pools_of(&self, node: &NodeName) -> Vec<PoolRef> {
        self.owners
            .iter()
            .filter(|(_, n)| *n == node)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Queues a message for `node`; false if it is not connected or its outbox is full.
    pub(crate) fn send(&self, node: &NodeName, message: ControllerMessage) -> bool {
        self.links
            .get(node)
            .is_some_and(|l| l.outbox.try_send(message).is_ok())
    }

    /// Queues a message for the node that owns `pool`.
    pub(crate) fn send_to_pool(&self, pool: &PoolRef, message: ControllerMessage) -> bool {
        self.owner(pool).is_some_and(|n| self.send(n, message))
    }

    /// Drops every link (their connections close).
    pub(crate) fn close_all(&mut self) {
        self.links.clear();
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::protocol::PoolKind;

    use super::*;

    fn pool(name: &str) -> PoolRef {
        PoolRef {
            kind: PoolKind::Machine,
            name: name.into(),
        }
    }

    #[test]
    fn pools_belong_to_the_first_node_and_links_to_the_newest_connection() {
        let mut t = NodeTable::default();
        let (a, b) = (NodeName("a".into()), NodeName("b".into()));
        t.set_pools(&a, &BTreeSet::from([pool("p1"), pool("p2")]));
        assert_eq!(t.owner(&pool("p1")), Some(&a));
        assert_eq!(t.owner(&pool("p3")), None);
        t.set_pools(&a, &BTreeSet::from([pool("p2")]));
        assert_eq!(
            t.owner(&pool("p1")),
            None,
            "released when no longer registered"
        );
        assert_ne!(t.owner(&pool("p2")), Some(&b));
        assert_eq!(t.pools_of(&a), vec![pool("p2")]);
        let (tx1, _rx1) = mpsc::channel(1);
        let (tx2, mut rx2) = mpsc::channel(1);
        t.connect(
            a.clone(),
            Link {
                conn: 1,
                outbox: tx1,
            },
        );
        t.connect(
            a.clone(),
            Link {
                conn: 2,
                outbox: tx2,
            },
        );
        assert!(
            !t.disconnect(&a, 1),
            "an old connection does not remove the new one"
        );
        assert!(t.send_to_pool(&pool("p2"), ControllerMessage::Ack { seq: 7 }));
        assert_eq!(rx2.try_recv().unwrap(), ControllerMessage::Ack { seq: 7 });
        assert!(t.disconnect(&a, 2));
        assert!(!t.send(&a, ControllerMessage::Ack { seq: 8 }));
    }
}
