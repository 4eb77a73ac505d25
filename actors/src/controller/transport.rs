//! Raft over QUIC: consensus's [`RaftTransport`] as one request/reply exchange per Raft RPC on
//! the `ferrocore-raft/1` ALPN, and the accept loop that hands incoming frames to the node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use ferrocore_consensus::{
    NodeAddr, NodeId, RaftServer, RaftTransport, TokioRuntime, TransportError, TransportFuture,
};
use ferrocore_runtime::{
    Identity, MaxFrameLen, Net, NetError, PeerAddr, QuicNet, RequestFn, request_reply,
    serve_requests,
};

use crate::api::resolve;

/// Largest Raft frame either way. A snapshot travels as one frame, so this bounds the store
/// size a new or lagging member can receive; 1 GiB leaves room far beyond the tests' stores.
pub const RAFT_FRAME_MAX: MaxFrameLen = MaxFrameLen::mib(1024);

/// The TLS name every controller certificate carries for controller `id`.
pub(crate) fn controller_server_name(id: NodeId) -> String {
    format!("controller-{}", id.0)
}

/// Raft RPCs to peers over a [`QuicNet`]. Peer addresses come from the membership
/// (`NodeAddr`), so members added later need no configuration here.
#[derive(Debug)]
pub(crate) struct QuicRaftTransport {
    net: Arc<QuicNet>,
    /// The address each peer was last registered with, to re-register only on change.
    known: Mutex<BTreeMap<NodeId, String>>,
}

impl QuicRaftTransport {
    pub(crate) fn new(net: Arc<QuicNet>) -> Self {
        Self {
            net,
            known: Mutex::new(BTreeMap::new()),
        }
    }

    async fn register(&self, target: NodeId, addr: &NodeAddr) -> Result<(), TransportError> {
        let current = self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&target)
            .cloned();
        if current.as_deref() == Some(addr.addr.as_str()) {
            return Ok(());
        }
        let socket = resolve(&addr.addr)
            .await
            .map_err(|e| TransportError::Unreachable(format!("{target} at {addr}: {e}")))?;
        self.net.set_peer(
            Identity::Controller(target.0),
            PeerAddr {
                addr: socket,
                server_name: controller_server_name(target),
            },
        );
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(target, addr.addr.clone());
        Ok(())
    }
}

impl RaftTransport for QuicRaftTransport {
    fn call<'a>(
        &'a self,
        target: NodeId,
        addr: &'a NodeAddr,
        frame: Vec<u8>,
    ) -> TransportFuture<'a> {
        Box::pin(async move {
            self.register(target, addr).await?;
            let peer = Identity::Controller(target.0);
            request_reply(&*self.net, &peer, &frame, RAFT_FRAME_MAX)
                .await
                .map_err(|e| match e {
                    NetError::Exchange { .. } => TransportError::Network(e.to_string()),
                    other => TransportError::Unreachable(other.to_string()),
                })
        })
    }
}

/// Answers every Raft request frame that arrives on `net` with `server` (each on its own
/// task) until the network closes.
pub(crate) async fn serve_raft(net: Arc<QuicNet>, server: RaftServer<TokioRuntime>) {
    let answer: RequestFn = Arc::new(move |_peer, frame| {
        let server = server.clone();
        Box::pin(async move { server.handle(&frame).await })
    });
    let net: Arc<dyn Net> = net;
    serve_requests(net, RAFT_FRAME_MAX, answer).await;
}
