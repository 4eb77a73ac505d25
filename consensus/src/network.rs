//! Raft RPCs between members, as frames of bytes over any transport.
//!
//! The boundary is [`RaftTransport`]: "deliver this request frame to node N and bring back its
//! reply frame". `runtime`'s QUIC transport (ALPN `ferrocore-raft/1`) implements it for real;
//! [`InProcessNetwork`] implements it in memory for tests and the simulator. On the receiving
//! side the transport hands each request frame to [`RaftServer::handle`].
//!
//! Frames are bincode envelopes ([`crate::codec`]); objects inside them stay JSON text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::io::Cursor;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::TypeConfigExt;
use openraft::{AsyncRuntime, Raft, ReadPolicy};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::state_machine::StateMachine;
use crate::store::{Command, CommandResult};
use crate::types::{Applied, NodeAddr, NodeId, Snapshot, SnapshotMeta, Types, Vote};

/// A boxed future that a transport returns.
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + 'a>>;

/// Why a frame did not make it there and back.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum TransportError {
    /// The peer cannot be reached now; Raft backs off and retries.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The exchange failed part-way; Raft retries soon.
    #[error("network error: {0}")]
    Network(String),
}

/// Carries Raft request frames to peers and their reply frames back.
pub trait RaftTransport: Debug + Send + Sync + 'static {
    /// Sends `frame` to `target` (reachable at `addr`) and returns its reply frame. The caller
    /// bounds the time it waits.
    fn call<'a>(
        &'a self,
        target: NodeId,
        addr: &'a NodeAddr,
        frame: Vec<u8>,
    ) -> TransportFuture<'a>;
}

/// A Raft request on the wire.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
enum Request<RT: AsyncRuntime> {
    Append(AppendEntriesRequest<Types<RT>>),
    PreVote(VoteRequest<Types<RT>>),
    /// A follower forwards a client write to the leader.
    Propose(Command),
    /// A follower asks the leader for a linearizable read index.
    ReadIndex,
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
        #[serde(with = "crate::codec::bytes")]
        data: Vec<u8>,
    },
    Vote(VoteRequest<Types<RT>>),
}

/// A Raft reply on the wire; `Err` carries the remote side's error text.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
enum Reply<RT: AsyncRuntime> {
    Append(Result<AppendEntriesResponse<Types<RT>>, String>),
    Propose(Result<CommandResult, String>),
    ReadIndex(Result<u64, String>),
    Snapshot(Result<SnapshotResponse<Types<RT>>, String>),
    Vote(Result<VoteResponse<Types<RT>>, String>),
    Refused(String),
}

/// The receiving end of Raft RPCs for one node: hand it every request frame.
pub struct RaftServer<RT: AsyncRuntime> {
    raft: Raft<Types<RT>, StateMachine<RT>>,
}

impl<RT: AsyncRuntime> Clone for RaftServer<RT> {
    fn clone(&self) -> Self {
        Self {
            raft: self.raft.clone(),
        }
    }
}

impl<RT: AsyncRuntime> Debug for RaftServer<RT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftServer").finish_non_exhaustive()
    }
}

impl<RT: AsyncRuntime> RaftServer<RT> {
    pub(crate) fn new(raft: Raft<Types<RT>, StateMachine<RT>>) -> Self {
        Self { raft }
    }

    /// Handles one request frame and returns the reply frame. Malformed frames get a
    /// `Refused` reply; they never reach Raft.
    pub async fn handle(&self, frame: &[u8]) -> Vec<u8> {
        let reply = match codec::decode::<Request<RT>>(frame) {
            Err(e) => Reply::<RT>::Refused(e.to_string()),
            Ok(Request::Append(rpc)) => Reply::Append(
                self.raft
                    .append_entries(rpc)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Ok(Request::Vote(rpc)) => {
                Reply::Vote(self.raft.vote(rpc).await.map_err(|e| e.to_string()))
            }
            Ok(Request::PreVote(rpc)) => {
                Reply::Vote(self.raft.pre_vote(rpc).await.map_err(|e| e.to_string()))
            }
            Ok(Request::Propose(command)) => Reply::Propose(self.propose(command).await),
            Ok(Request::ReadIndex) => {
                let read = self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await;
                Reply::ReadIndex(read.map(|r| r.log_id().index).map_err(|e| e.to_string()))
            }
            Ok(Request::Snapshot { vote, meta, data }) => {
                let snapshot = Snapshot {
                    meta,
                    snapshot: Cursor::new(data),
                };
                let result = self.raft.install_full_snapshot(vote, snapshot).await;
                Reply::Snapshot(result.map_err(|e| e.to_string()))
            }
        };
        codec::encode(&reply)
    }

    async fn propose(&self, command: Command) -> Result<CommandResult, String> {
        match self.raft.client_write(command).await {
            Ok(response) => match response.data {
                Applied::Command(result) => Ok(result),
                Applied::Internal => Err("no command result".into()),
            },
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Sends a request that a follower forwards to the leader and returns the leader's reply.
async fn forward<RT: AsyncRuntime>(
    transport: &dyn RaftTransport,
    leader: NodeId,
    addr: &NodeAddr,
    request: &Request<RT>,
    ttl: Duration,
) -> Result<Reply<RT>, String> {
    let call = transport.call(leader, addr, codec::encode(request));
    let frame = Types::<RT>::timeout(ttl, call)
        .await
        .map_err(|_| format!("leader {leader} did not answer in time"))?
        .map_err(|e| e.to_string())?;
    codec::decode(&frame).map_err(|e| e.to_string())
}

/// Asks `leader` for a read index on behalf of a follower.
pub(crate) async fn forward_read_index<RT: AsyncRuntime>(
    transport: &dyn RaftTransport,
    leader: NodeId,
    addr: &NodeAddr,
    ttl: Duration,
) -> Result<u64, String> {
    match forward::<RT>(transport, leader, addr, &Request::ReadIndex, ttl).await? {
        Reply::ReadIndex(result) => result,
        Reply::Refused(why) => Err(why),
        _ => Err("reply does not match request".into()),
    }
}

/// Forwards a client write to `leader` on behalf of a follower.
pub(crate) async fn forward_propose<RT: AsyncRuntime>(
    transport: &dyn RaftTransport,
    leader: NodeId,
    addr: &NodeAddr,
    command: Command,
    ttl: Duration,
) -> Result<CommandResult, String> {
    match forward::<RT>(transport, leader, addr, &Request::Propose(command), ttl).await? {
        Reply::Propose(result) => result,
        Reply::Refused(why) => Err(why),
        _ => Err("reply does not match request".into()),
    }
}

/// openraft's network factory over a [`RaftTransport`].
pub(crate) struct NetworkFactory<RT> {
    transport: Arc<dyn RaftTransport>,
    append_timeout: Option<Duration>,
    _rt: PhantomData<fn() -> RT>,
}

impl<RT> NetworkFactory<RT> {
    /// `append_timeout`: how long an AppendEntries exchange may take (see
    /// `NodeConfig::append_timeout`); `None` uses openraft's TTL (the heartbeat interval).
    pub(crate) fn new(transport: Arc<dyn RaftTransport>, append_timeout: Option<Duration>) -> Self {
        Self {
            transport,
            append_timeout,
            _rt: PhantomData,
        }
    }
}

impl<RT: AsyncRuntime> RaftNetworkFactory<Types<RT>> for NetworkFactory<RT> {
    type Network = Connection<RT>;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> Connection<RT> {
        Connection {
            transport: self.transport.clone(),
            append_timeout: self.append_timeout,
            target,
            addr: node.clone(),
            _rt: PhantomData,
        }
    }
}

/// One member's view of another, for openraft.
pub(crate) struct Connection<RT> {
    transport: Arc<dyn RaftTransport>,
    append_timeout: Option<Duration>,
    target: NodeId,
    addr: NodeAddr,
    _rt: PhantomData<fn() -> RT>,
}

impl<RT: AsyncRuntime> Connection<RT> {
    async fn exchange(
        &self,
        request: &Request<RT>,
        ttl: Duration,
    ) -> Result<Reply<RT>, RPCError<Types<RT>>> {
        let frame = codec::encode(request);
        let call = self.transport.call(self.target, &self.addr, frame);
        let reply = Types::<RT>::timeout(ttl, call)
            .await
            .map_err(|_| RPCError::Unreachable(Unreachable::from_string("Raft RPC timed out")))?
            .map_err(|e| match e {
                TransportError::Unreachable(m) => {
                    RPCError::Unreachable(Unreachable::from_string(m))
                }
                TransportError::Network(m) => RPCError::Network(NetworkError::from_string(m)),
            })?;
        let reply: Reply<RT> = codec::decode(&reply)
            .map_err(|e| RPCError::Network(NetworkError::from_string(e.to_string())))?;
        if let Reply::Refused(why) = reply {
            return Err(RPCError::Unreachable(Unreachable::from_string(why)));
        }
        Ok(reply)
    }
}

fn remote<RT: AsyncRuntime>(message: String) -> RPCError<Types<RT>> {
    // The remote Raft is shutting down (its only error): treat it as unreachable.
    RPCError::Unreachable(Unreachable::from_string(message))
}

fn mismatch<RT: AsyncRuntime>() -> RPCError<Types<RT>> {
    RPCError::Network(NetworkError::from_string("reply does not match request"))
}

impl<RT: AsyncRuntime> RaftNetworkV2<Types<RT>> for Connection<RT> {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Types<RT>>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<Types<RT>>, RPCError<Types<RT>>> {
        // openraft hands replication the heartbeat interval as TTL; a follower busy with a large
        // batch and its fsync often needs longer, and a timed-out append counts as unreachable
        // and puts the stream into backoff: writes then stall for hundreds of milliseconds.
        let ttl = option.hard_ttl();
        let ttl = self.append_timeout.map_or(ttl, |t| t.max(ttl));
        match self.exchange(&Request::Append(rpc), ttl).await? {
            Reply::Append(r) => r.map_err(remote),
            _ => Err(mismatch()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<Types<RT>>,
        option: RPCOption,
    ) -> Result<VoteResponse<Types<RT>>, RPCError<Types<RT>>> {
        match self
            .exchange(&Request::Vote(rpc), option.hard_ttl())
            .await?
        {
            Reply::Vote(r) => r.map_err(remote),
            _ => Err(mismatch()),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<Types<RT>>,
        option: RPCOption,
    ) -> Result<VoteResponse<Types<RT>>, RPCError<Types<RT>>> {
        match self
            .exchange(&Request::PreVote(rpc), option.hard_ttl())
            .await?
        {
            Reply::Vote(r) => r.map_err(remote),
            _ => Err(mismatch()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<Types<RT>>, StreamingError<Types<RT>>> {
        let request = Request::Snapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        let reply = self
            .exchange(&request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                RPCError::Network(n) => StreamingError::Network(n),
                other => StreamingError::Unreachable(Unreachable::from_string(other.to_string())),
            })?;
        match reply {
            Reply::Snapshot(r) => {
                r.map_err(|m| StreamingError::Unreachable(Unreachable::from_string(m)))
            }
            _ => Err(StreamingError::Network(NetworkError::from_string(
                "reply does not match request",
            ))),
        }
    }
}

/// An in-memory network of nodes for tests and the simulator: frames go through the same codec
/// as on the wire; a node can be cut off from everyone (a crash or a partition).
pub struct InProcessNetwork<RT: AsyncRuntime> {
    inner: Arc<Mutex<Routes<RT>>>,
}

struct Routes<RT: AsyncRuntime> {
    servers: BTreeMap<NodeId, RaftServer<RT>>,
    isolated: BTreeSet<NodeId>,
}

impl<RT: AsyncRuntime> Clone for InProcessNetwork<RT> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<RT: AsyncRuntime> Debug for InProcessNetwork<RT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessNetwork").finish_non_exhaustive()
    }
}

impl<RT: AsyncRuntime> Default for InProcessNetwork<RT> {
    fn default() -> Self {
        Self::new()
    }
}

impl<RT: AsyncRuntime> InProcessNetwork<RT> {
    /// An empty network.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Routes {
                servers: BTreeMap::new(),
                isolated: BTreeSet::new(),
            })),
        }
    }

    /// The transport node `source` sends through.
    pub fn transport(&self, source: NodeId) -> Arc<dyn RaftTransport> {
        Arc::new(InProcessTransport {
            net: self.clone(),
            source,
        })
    }

    /// Makes `id` reachable through `server` (replacing an earlier registration).
    pub fn register(&self, id: NodeId, server: RaftServer<RT>) {
        self.routes().servers.insert(id, server);
    }

    /// Makes `id` unreachable, as a crashed process is.
    pub fn unregister(&self, id: NodeId) {
        self.routes().servers.remove(&id);
    }

    /// Cuts `id` off from every other node (or heals it).
    pub fn isolate(&self, id: NodeId, isolated: bool) {
        let mut routes = self.routes();
        if isolated {
            routes.isolated.insert(id);
        } else {
            routes.isolated.remove(&id);
        }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes<RT>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct InProcessTransport<RT: AsyncRuntime> {
    net: InProcessNetwork<RT>,
    source: NodeId,
}

impl<RT: AsyncRuntime> RaftTransport for InProcessTransport<RT> {
    fn call<'a>(
        &'a self,
        target: NodeId,
        _addr: &'a NodeAddr,
        frame: Vec<u8>,
    ) -> TransportFuture<'a> {
        let server = {
            let routes = self.net.routes();
            let cut = routes.isolated.contains(&self.source) || routes.isolated.contains(&target);
            routes.servers.get(&target).filter(|_| !cut).cloned()
        };
        Box::pin(async move {
            let server =
                server.ok_or_else(|| TransportError::Unreachable(format!("node {target}")))?;
            Ok(server.handle(&frame).await)
        })
    }
}
