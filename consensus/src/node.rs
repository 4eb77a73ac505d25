//! A controller's Raft node with the object store: how the rest of ferrocore proposes writes,
//! reads linearizably and follows the watch log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrocore_runtime::{Clock, Disk, Rng};
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::type_config::TypeConfigExt;
use openraft::{AsyncRuntime, ChangeMembers, Raft, RaftMetrics, ReadPolicy};

use crate::log::{FlushMode, LogError, LogStore, SEGMENT_BYTES_DEFAULT};
use crate::network::{NetworkFactory, RaftServer, RaftTransport};
use crate::snapshot::SnapshotDir;
use crate::state_machine::{SmShared, StateMachine};
use crate::store::{Command, ObjectStore, Outcome, StoreError, WATCH_RETENTION_DEFAULT};
use crate::types::{Applied, NodeAddr, NodeId, Types};
use crate::watch_stream::WatchStream;

/// A new leader refuses writes until its first (blank) entry is applied; a proposal retries
/// this many times, `LEASE_RETRY_PAUSE` apart, before reporting it (openraft 0.10 gotcha).
const LEASE_RETRIES_MAX: u32 = 50;
const LEASE_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// A patch re-reads and retries this many times when another write slips in between its read
/// and its proposal (optimistic concurrency), then reports the conflict.
const PATCH_RETRIES_MAX: u32 = 5;

/// How long a follower waits for the leader to answer a forwarded write or read index, and
/// then for its own log to catch up to that read index.
const FORWARD_TTL: Duration = Duration::from_secs(10);

/// How a node is set up.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id: stable for the life of `data_dir`.
    pub id: NodeId,
    /// Where the log (`raft/log`) and snapshots (`raft/snapshots`) live.
    pub data_dir: PathBuf,
    /// openraft's timing and snapshot knobs.
    pub raft: openraft::Config,
    /// Size at which the log rolls to a new segment file.
    pub segment_bytes_max: u64,
    /// Watch events kept for watchers that resume.
    pub watch_retention: usize,
    /// How appends reach the disk: [`FlushMode::Background`] (group commit on a writer thread,
    /// and snapshots encoded and written on a blocking thread) for a production controller,
    /// [`FlushMode::Inline`] (the default) under the simulator.
    pub flush: FlushMode,
    /// How long one AppendEntries exchange may take before the follower counts as unreachable
    /// (and its replication backs off). `None` (the default, which the simulator keeps) uses
    /// openraft's TTL, the heartbeat interval; a production controller sets
    /// [`APPEND_TIMEOUT_PRODUCTION`], because a loaded follower's batch plus fsync often takes
    /// longer than one heartbeat.
    pub append_timeout: Option<Duration>,
}

/// The AppendEntries timeout a production controller uses: well above a loaded follower's
/// batch + fsync time, short enough that a dead follower's stream backs off within a second.
pub const APPEND_TIMEOUT_PRODUCTION: Duration = Duration::from_secs(1);

impl NodeConfig {
    /// Production defaults: 150–300 ms elections, 50 ms heartbeats, a snapshot every 10,000
    /// entries keeping 1,000 entries behind it for slow followers.
    pub fn new(id: NodeId, data_dir: PathBuf) -> Self {
        let raft = openraft::Config {
            cluster_name: "ferrocore".into(),
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(10_000),
            max_in_snapshot_log_to_keep: 1_000,
            ..Default::default()
        };
        Self {
            id,
            data_dir,
            raft,
            segment_bytes_max: SEGMENT_BYTES_DEFAULT,
            watch_retention: WATCH_RETENTION_DEFAULT,
            flush: FlushMode::Inline,
            append_timeout: None,
        }
    }
}

/// Why a node could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory is damaged or unreadable: the node must not start.
    #[error(transparent)]
    Storage(#[from] LogError),
    /// openraft refused the configuration or stopped.
    #[error("raft: {0}")]
    Raft(String),
}

/// Why a proposal or a linearizable read did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The store refused the command (conflict, not found, invalid, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node is not the leader: send the request to `leader` (if known).
    #[error("not the leader; leader is {leader:?}")]
    ForwardToLeader {
        /// The leader this node knows of, with its address.
        leader: Option<(NodeId, NodeAddr)>,
    },
    /// Raft failed (shut down, storage error, membership change refused).
    #[error("raft: {0}")]
    Raft(String),
}

/// A log position a read must wait for (from [`Node::read_index`]).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct ReadIndex(pub u64);

/// A Raft member holding the object store, for async runtime `RT`.
pub struct Node<RT: AsyncRuntime> {
    id: NodeId,
    raft: Raft<Types<RT>, StateMachine<RT>>,
    shared: Arc<SmShared>,
    log: LogStore<RT>,
    clock: Arc<dyn Clock>,
    rng: Arc<Mutex<Box<dyn Rng>>>,
    transport: Arc<dyn RaftTransport>,
}

impl<RT: AsyncRuntime> Clone for Node<RT> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            raft: self.raft.clone(),
            shared: self.shared.clone(),
            log: self.log.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl<RT: AsyncRuntime> Debug for Node<RT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<RT: AsyncRuntime> Node<RT> {
    /// Opens the node's data directory (recovering the log and the newest snapshot) and starts
    /// Raft. `clock` stamps `creationTimestamp`/`deletionTimestamp`; `rng` draws uids.
    ///
    /// # Errors
    /// [`NodeError::Storage`] if the data is damaged (naming file and offset).
    pub async fn open(
        config: NodeConfig,
        disk: Arc<dyn Disk>,
        transport: Arc<dyn RaftTransport>,
        clock: Arc<dyn Clock>,
        rng: Box<dyn Rng>,
    ) -> Result<Self, NodeError> {
        let raft_dir = config.data_dir.join("raft");
        let log = LogStore::<RT>::open_with(
            disk.clone(),
            &raft_dir.join("log"),
            config.segment_bytes_max,
            config.flush,
        )?;
        let snapshots = SnapshotDir::open(disk, &raft_dir.join("snapshots"))?;
        let mut shared = SmShared::new(snapshots, config.watch_retention)?;
        if config.flush == FlushMode::Background {
            // Background flushing means a real multi-threaded runtime: snapshots can leave it too.
            shared = shared.offload_snapshots();
        }
        let shared = Arc::new(shared);
        let raft_config = config
            .raft
            .validate()
            .map_err(|e| NodeError::Raft(e.to_string()))?;
        let raft = Raft::new(
            config.id,
            Arc::new(raft_config),
            NetworkFactory::<RT>::new(transport.clone(), config.append_timeout),
            log.clone(),
            StateMachine::new(shared.clone()),
        )
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
        Ok(Self {
            id: config.id,
            raft,
            shared,
            log,
            clock,
            rng: Arc::new(Mutex::new(rng)),
            transport,
        })
    }

    /// Waits until the state machine holds at least what it held before a restart (openraft
    /// re-applies the log once a leader confirms the commit point). Call it before serving reads
    /// after [`open`](Self::open).
    ///
    /// # Errors
    /// [`NodeError::Raft`] if `timeout` passes first.
    pub async fn wait_recovered(&self, timeout: Duration) -> Result<(), NodeError> {
        self.raft
            .wait_for_recovery(Some(timeout))
            .await
            .map(|_| ())
            .map_err(|e| NodeError::Raft(e.to_string()))
    }

    /// Forms a new cluster of `members` (call once, on one node of a fresh cluster).
    ///
    /// # Errors
    /// [`NodeError::Raft`] if the node is already initialized.
    pub async fn initialize(&self, members: BTreeMap<NodeId, NodeAddr>) -> Result<(), NodeError> {
        self.raft
            .initialize(members)
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))
    }

    /// The receiving end for Raft RPC frames addressed to this node.
    pub fn server(&self) -> RaftServer<RT> {
        RaftServer::new(self.raft.clone())
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// openraft's metrics (leader, term, log indexes, membership).
    pub fn metrics(&self) -> RaftMetrics<Types<RT>> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// The underlying openraft handle, for what this API does not cover.
    pub fn raft(&self) -> &Raft<Types<RT>, StateMachine<RT>> {
        &self.raft
    }

    /// The durable log (for inspection in tests and status).
    pub fn log(&self) -> &LogStore<RT> {
        &self.log
    }

    /// Proposes `command` and waits until it is committed and applied here (leader only).
    ///
    /// # Errors
    /// [`ProposeError::Store`] if the store refused it, [`ProposeError::ForwardToLeader`] on a
    /// follower, [`ProposeError::Raft`] if Raft failed.
    pub async fn propose(&self, command: Command) -> Result<Outcome, ProposeError> {
        let mut attempt = 0;
        loop {
            match self.raft.client_write(command.clone()).await {
                Ok(response) => {
                    return match response.data {
                        Applied::Command(result) => result.map_err(ProposeError::from),
                        Applied::Internal => Err(ProposeError::Raft("no command result".into())),
                    };
                }
                Err(e) => {
                    let err = to_propose_error(e);
                    if !self.lease_pending(&err) || attempt >= LEASE_RETRIES_MAX {
                        return Err(err);
                    }
                    attempt += 1;
                    Types::<RT>::sleep(LEASE_RETRY_PAUSE).await;
                }
            }
        }
    }

    /// Whether `err` is the transient refusal of a leader whose first entry is not applied yet.
    fn lease_pending(&self, err: &ProposeError) -> bool {
        matches!(err, ProposeError::ForwardToLeader { leader } if leader.as_ref().is_none_or(|(id, _)| *id == self.id))
            && self.raft.is_leader()
    }

    /// A `Create` command for `object` with a fresh uid and the current time.
    pub fn create_command(&self, object: serde_json::Value) -> Command {
        Command::Create {
            object: crate::JsonObject::new(object),
            uid: self.new_uid(),
            now: self.now(),
        }
    }

    /// The current wall time as RFC 3339, for commands that carry a timestamp.
    pub fn now(&self) -> String {
        crate::time::rfc3339(self.clock.wall())
    }

    fn new_uid(&self) -> String {
        let mut bytes = [0u8; 16];
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(&mut bytes);
        crate::time::uuid_v4(bytes)
    }

    /// Applies a JSON merge patch to the object at `key` (leader only): reads it, patches it,
    /// and proposes an `Update` conditioned on the version read, retrying a bounded number of
    /// times on a conflict. A `metadata.resourceVersion` in the patch is a precondition and is
    /// not retried.
    ///
    /// # Errors
    /// As [`propose`](Self::propose); `NotFound` if there is no such object.
    pub async fn patch(
        &self,
        key: &crate::ObjectKey,
        patch: &serde_json::Value,
    ) -> Result<Outcome, ProposeError> {
        let pinned = patch.pointer("/metadata/resourceVersion").is_some();
        let mut attempt = 0;
        loop {
            let current = self.read(|s| s.get(key).cloned()).await?;
            let current = current.ok_or_else(|| StoreError::NotFound(key.clone()))?;
            let mut next = current.value().clone();
            crate::merge_patch(&mut next, patch)?;
            if !pinned && let Some(meta) = next.get_mut("metadata").and_then(|m| m.as_object_mut())
            {
                let version = current.resource_version().unwrap_or_default();
                meta.insert("resourceVersion".into(), version.into());
            }
            let result = self
                .propose(Command::Update {
                    object: crate::JsonObject::new(next),
                })
                .await;
            match result {
                Err(ProposeError::Store(StoreError::Conflict { .. }))
                    if !pinned && attempt < PATCH_RETRIES_MAX =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Confirms leadership with a quorum and returns the log position a linearizable read must
    /// see (leader only; a follower forwards this call to the leader, then
    /// [`wait_applied`](Self::wait_applied) locally).
    ///
    /// # Errors
    /// [`ProposeError::ForwardToLeader`] on a follower.
    pub async fn read_index(&self) -> Result<ReadIndex, ProposeError> {
        let read = self
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map_err(|e| match e {
                RaftError::APIError(LinearizableReadError::ForwardToLeader(f)) => {
                    forward(f.leader_id, f.leader_node)
                }
                RaftError::APIError(other) => ProposeError::Raft(other.to_string()),
                RaftError::Fatal(f) => ProposeError::Raft(f.to_string()),
            })?;
        Ok(ReadIndex(read.log_id().index))
    }

    /// Waits until this node has applied the log up to `index`.
    ///
    /// # Errors
    /// [`ProposeError::Raft`] if Raft stops or `timeout` passes first.
    pub async fn wait_applied(
        &self,
        index: ReadIndex,
        timeout: Duration,
    ) -> Result<(), ProposeError> {
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index.0), "read index")
            .await
            .map(|_| ())
            .map_err(|e| ProposeError::Raft(e.to_string()))
    }

    /// A linearizable read on the leader: confirms leadership, waits for the read index, then
    /// runs `read` on the store.
    ///
    /// # Errors
    /// As [`read_index`](Self::read_index).
    pub async fn read<T>(&self, read: impl FnOnce(&ObjectStore) -> T) -> Result<T, ProposeError> {
        let index = self.read_index().await?;
        self.wait_applied(index, Duration::from_secs(10)).await?;
        Ok(self.read_stale(read))
    }

    /// Proposes `command` on any node: the leader proposes it, a follower forwards it to the
    /// leader over the Raft transport.
    ///
    /// # Errors
    /// As [`propose`](Self::propose); [`ProposeError::Raft`] if the leader cannot be reached.
    pub async fn write(&self, command: Command) -> Result<Outcome, ProposeError> {
        match self.propose(command.clone()).await {
            Err(ProposeError::ForwardToLeader {
                leader: Some((id, addr)),
            }) if id != self.id => {
                let result = crate::network::forward_propose::<RT>(
                    &*self.transport,
                    id,
                    &addr,
                    command,
                    FORWARD_TTL,
                )
                .await
                .map_err(ProposeError::Raft)?;
                result.map_err(ProposeError::from)
            }
            other => other,
        }
    }

    /// A linearizable read on any node: the leader confirms its leadership (a follower asks it
    /// for the read index over the Raft transport), this node waits until it has applied that
    /// far, then runs `read` on its own store.
    ///
    /// # Errors
    /// [`ProposeError::Raft`] if no leader answers in time.
    pub async fn read_linearizable<T>(
        &self,
        read: impl FnOnce(&ObjectStore) -> T,
    ) -> Result<T, ProposeError> {
        let index = match self.read_index().await {
            Err(ProposeError::ForwardToLeader {
                leader: Some((id, addr)),
            }) if id != self.id => {
                let index = crate::network::forward_read_index::<RT>(
                    &*self.transport,
                    id,
                    &addr,
                    FORWARD_TTL,
                )
                .await
                .map_err(ProposeError::Raft)?;
                ReadIndex(index)
            }
            other => other?,
        };
        self.wait_applied(index, FORWARD_TTL).await?;
        Ok(self.read_stale(read))
    }

    /// A read of whatever this node has applied (no freshness guarantee).
    pub fn read_stale<T>(&self, read: impl FnOnce(&ObjectStore) -> T) -> T {
        read(&self.shared.lock().store)
    }

    /// The watch log from revision `after` (exclusive).
    ///
    /// # Errors
    /// [`StoreError::Compacted`] if that history is gone.
    pub fn watch(&self, after: crate::Revision) -> Result<WatchStream<RT>, StoreError> {
        WatchStream::new(self.raft.clone(), self.shared.clone(), after)
    }

    /// Adds `id` as a learner and waits until it has caught up.
    ///
    /// # Errors
    /// [`ProposeError`] if this node is not the leader or Raft refuses.
    pub async fn add_learner(&self, id: NodeId, addr: NodeAddr) -> Result<(), ProposeError> {
        self.raft
            .add_learner(id, addr, true)
            .await
            .map(|_| ())
            .map_err(to_propose_error)
    }

    /// Makes exactly `voters` the voting members (learners stay learners; removed voters leave).
    ///
    /// # Errors
    /// [`ProposeError`] if this node is not the leader or Raft refuses.
    pub async fn change_voters(&self, voters: BTreeSet<NodeId>) -> Result<(), ProposeError> {
        self.raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), false)
            .await
            .map(|_| ())
            .map_err(to_propose_error)
    }

    /// Stops Raft (the data directory stays as it is).
    pub async fn shutdown(&self) {
        // A join error means a Raft task panicked; shutting down is all that is left to do.
        let _ = self.raft.shutdown().await;
    }
}

fn forward(leader: Option<NodeId>, node: Option<NodeAddr>) -> ProposeError {
    ProposeError::ForwardToLeader {
        leader: leader.map(|id| (id, node.unwrap_or_default())),
    }
}

fn to_propose_error<RT: AsyncRuntime>(
    e: RaftError<Types<RT>, ClientWriteError<Types<RT>>>,
) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            forward(f.leader_id, f.leader_node)
        }
        RaftError::APIError(other) => ProposeError::Raft(other.to_string()),
        RaftError::Fatal(f) => ProposeError::Raft(f.to_string()),
    }
}
