//! The Raft transport of a simulated controller: request and reply frames cross the simulated
//! network ([`Net`]), so they can be lost, delayed, reordered, replayed, or stopped by a
//! partition, and a frame to or from a dead incarnation goes nowhere.
//!
//! A lost frame is never reported: the caller waits until its own deadline, as it would for a
//! packet lost on a real network (openraft's RPC deadline, or the forwarding deadline).

use std::fmt;

use ferrocore_consensus::{NodeAddr, NodeId, RaftTransport, TransportError, TransportFuture};

use crate::controller::WeakControllers;
use crate::net::{Fate, Net, Proc};
use crate::rt::{sleep, spawn};

/// The first byte of a request frame: the envelope's variant index (bincode writes small enum
/// indexes as one byte). `Propose` is a follower forwarding a client write to the leader.
const PROPOSE_VARIANT: u8 = 2;

/// Whether a request frame carries a forwarded client write.
///
/// Those are not replayed: they travel on one reliable QUIC stream, which never delivers twice,
/// and replaying a non-idempotent command models a transport we do not have. Raft's own
/// messages (append, vote, snapshot, read index) are replayed: Raft must tolerate stale copies.
pub(crate) fn is_forwarded_write(frame: &[u8]) -> bool {
    frame.first() == Some(&PROPOSE_VARIANT)
}

/// The transport of one incarnation of one controller.
pub(crate) struct RaftLink {
    source: u64,
    incarnation: u64,
    net: Net,
    controllers: WeakControllers,
}

impl fmt::Debug for RaftLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RaftLink(c{}#{})", self.source, self.incarnation)
    }
}

impl RaftLink {
    pub(crate) fn new(
        source: u64,
        incarnation: u64,
        net: Net,
        controllers: WeakControllers,
    ) -> Self {
        Self {
            source,
            incarnation,
            net,
            controllers,
        }
    }

    async fn exchange(&self, target: u64, frame: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let unreachable = || TransportError::Unreachable(format!("c{target}"));
        let controllers = self.controllers.upgrade().ok_or_else(unreachable)?;
        if !controllers.alive(self.source, self.incarnation) {
            // A dead process sends nothing.
            return std::future::pending().await;
        }
        let (from, to) = (Proc::Controller(self.source), Proc::Controller(target));
        let Fate::Deliver(delay) = self.net.fate(from, to) else {
            return std::future::pending().await;
        };
        sleep(delay).await;
        let Some((server, incarnation)) = controllers.server(target) else {
            // Nobody listens: the sender's connection attempt is refused.
            return Err(unreachable());
        };
        if !is_forwarded_write(&frame)
            && let Some(later) = self.net.duplicate(from, to)
        {
            let (server, frame, weak) = (server.clone(), frame.clone(), self.controllers.clone());
            spawn(async move {
                sleep(later).await;
                if weak.upgrade().is_some_and(|c| c.alive(target, incarnation)) {
                    drop(server.handle(&frame).await);
                }
            });
        }
        let reply = server.handle(&frame).await;
        if !controllers.alive(target, incarnation)
            || !controllers.alive(self.source, self.incarnation)
        {
            // The receiver died while handling it, or the sender did while waiting.
            return std::future::pending().await;
        }
        let Fate::Deliver(delay) = self.net.fate(to, from) else {
            return std::future::pending().await;
        };
        sleep(delay).await;
        Ok(reply)
    }
}

impl RaftTransport for RaftLink {
    fn call<'a>(
        &'a self,
        target: NodeId,
        _addr: &'a NodeAddr,
        frame: Vec<u8>,
    ) -> TransportFuture<'a> {
        Box::pin(self.exchange(target.0, frame))
    }
}
