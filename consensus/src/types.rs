//! The openraft type configuration: which types Raft moves around, for any async runtime (tokio
//! in production, openraft's simulated runtime in tests and the simulator).

use std::fmt;
use std::marker::PhantomData;

use openraft::vote::RaftLeaderId;
use openraft::{AsyncRuntime, OptionalSend, RaftTypeConfig};
use serde::{Deserialize, Serialize};

use crate::store::{Command, CommandResult};

/// A controller's Raft node id: stable for the life of its data directory.
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for NodeId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

/// What a member needs to reach another: its Raft address (`host:port`, or any name the
/// transport understands).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// Where the member's Raft endpoint listens.
    pub addr: String,
}

impl NodeAddr {
    /// An address.
    pub fn new(addr: impl Into<String>) -> Self {
        Self { addr: addr.into() }
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// What applying one log entry produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// The result of an object-store command.
    Command(CommandResult),
    /// A blank or membership entry: nothing for a client.
    Internal,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self {
            Self::Create { .. } => "create",
            Self::Update { .. } => "update",
            Self::UpdateStatus { .. } => "update-status",
            Self::Delete { .. } => "delete",
            Self::RemoveFinalizer { .. } => "remove-finalizer",
        };
        match self.key() {
            Some(key) => write!(f, "{verb} {key}"),
            None => write!(f, "{verb} (invalid object)"),
        }
    }
}

/// The type configuration for an async runtime `RT`.
pub struct Types<RT>(PhantomData<fn() -> RT>);

impl<RT> fmt::Debug for Types<RT> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Types")
    }
}
impl<RT> Clone for Types<RT> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<RT> Copy for Types<RT> {}
impl<RT> Default for Types<RT> {
    fn default() -> Self {
        Self(PhantomData)
    }
}
impl<RT> PartialEq for Types<RT> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<RT> Eq for Types<RT> {}
impl<RT> PartialOrd for Types<RT> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<RT> Ord for Types<RT> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// The leader id flavour: terms may have several candidates (openraft's default).
pub(crate) type LeaderId = openraft::impls::leader_id_adv::LeaderId<u64, NodeId>;
/// A vote.
pub(crate) type Vote = openraft::impls::Vote<LeaderId>;
/// The committed form of a leader id, as log ids carry it.
pub(crate) type CommittedLeaderId = <LeaderId as RaftLeaderId>::Committed;
/// A log id.
pub(crate) type LogId = openraft::LogId<CommittedLeaderId>;
/// A log entry.
pub(crate) type Entry =
    openraft::Entry<CommittedLeaderId, openraft::EntryPayload<Command, NodeId, NodeAddr>>;
/// A membership as stored with its log id.
pub(crate) type StoredMembership = openraft::StoredMembership<CommittedLeaderId, NodeId, NodeAddr>;

impl<RT> RaftTypeConfig for Types<RT>
where
    RT: AsyncRuntime,
{
    type D = Command;
    type R = Applied;
    type NodeId = NodeId;
    type Node = NodeAddr;
    type Term = u64;
    type LeaderId = LeaderId;
    type Vote = Vote;
    type Payload = openraft::EntryPayload<Command, NodeId, NodeAddr>;
    type Entry = Entry;
    type AsyncRuntime = RT;
    type Responder<T>
        = openraft::impls::ProgressResponder<Self, T>
    where
        T: OptionalSend + 'static;
    type Batch<T>
        = openraft::impls::InlineBatch<T>
    where
        T: OptionalSend + 'static;
    type ErrorSource = openraft::impls::BoxedErrorSource;
}

/// The deterministic runtime of tests and the simulator.
pub use openraft_rt_sim::SimRuntime;
/// The production runtime.
pub use openraft_rt_tokio::TokioRuntime;

/// A snapshot's metadata.
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<CommittedLeaderId, NodeId, NodeAddr>;
/// A snapshot with its data as bytes.
pub(crate) type Snapshot =
    openraft::Snapshot<CommittedLeaderId, NodeId, NodeAddr, std::io::Cursor<Vec<u8>>>;
