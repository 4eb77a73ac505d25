//! The node broker: the node protocol (ALPN `ferrocore-node/1`, bincode frames, mutual TLS
//! with `node:<name>` certificates) on the controllers, and node join.
//!
//! ```text
//!  node ──QUIC── Endpoint ── NodeBroker ── conn task ──(LinkEvent)──► hub (leader session)
//!                                 │  frames in: Register/Heartbeat/Report/Event/CommandResult
//!                                 └─ frames out: Command/Ack/Error  ◄── node table outbox
//!  new node ── JSON-RPC `node.join` (bootstrap token) ── NodeSigner ──► certificate
//! ```
//!
//! A node keeps one connection with one bidirectional stream to the leader. A follower
//! answers the first frame with `Error{NotLeader, leader}` and closes; so does a leader whose
//! session has not started yet (the node retries). Frames that do not decode close the
//! connection with `PROTOCOL_VIOLATION` after an `Error{Invalid}`; nothing reaches the store.
//! What the messages do is in `messages.rs` (it runs inside the hub, which owns the state).

mod conn;
mod join;
mod messages;
mod table;

use std::sync::atomic::{AtomicU64, Ordering};

use ferrocore_api::iri::protocol::{NodeMessage, NodeName};
use ferrocore_runtime::{BoxFuture, ConnectionHandler, PeerConnection};

pub use join::{JOIN_METHOD, JoinError, NODE_TOKEN_PREFIX, NodeSigner};
pub(crate) use table::{Link, NodeTable};

pub(crate) use join::JoinGate;

use crate::supervisor::Plane;

/// What a connection task tells the hub.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// A node connected.
    Up {
        /// Which node (its certificate's name).
        node: NodeName,
        /// Its outbox.
        link: Link,
    },
    /// A node's connection ended.
    Down {
        /// Which node.
        node: NodeName,
        /// Which connection.
        conn: u64,
    },
    /// A frame from a node.
    Message {
        /// Which node.
        node: NodeName,
        /// Which connection.
        conn: u64,
        /// The frame's sequence number.
        seq: u64,
        /// The message.
        message: Box<NodeMessage>,
    },
}

/// The handler of `ferrocore-node/1` connections.
#[derive(Debug)]
pub struct NodeBroker {
    plane: Plane,
    next_conn: AtomicU64,
}

impl NodeBroker {
    /// A broker for `plane`.
    pub fn new(plane: Plane) -> Self {
        Self {
            plane,
            next_conn: AtomicU64::new(1),
        }
    }
}

impl ConnectionHandler for NodeBroker {
    fn handle(&self, conn: PeerConnection) -> BoxFuture<'static, ()> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        Box::pin(conn::serve(self.plane.clone(), conn, id))
    }
}
