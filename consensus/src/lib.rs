//! ferrocore's consensus layer: the openraft type configuration, the durable Raft log and
//! snapshot storage on local disk, and the object store that is the Raft state machine
//! (revisions, `resourceVersion`, finalizers, the watch log).
//!
//! It is not the API service (that is `actors`) and does no networking of its own: Raft RPCs
//! leave through the [`RaftTransport`] trait, which `runtime`'s QUIC transport implements.
//!
//! Everything is generic over openraft's async runtime: [`TokioRuntime`] in production,
//! [`SimRuntime`] (deterministic: same seed, same run) in tests and the simulator. Disk access
//! goes through `ferrocore_runtime::Disk`, so the simulator can crash a node's disk too.
//! See `docs/consensus.md`.

pub mod bench;
mod codec;
mod log;
mod network;
mod node;
pub mod planted;
mod snapshot;
mod state_machine;
mod store;
mod time;
mod types;
mod watch_stream;

pub use codec::DecodeError;
pub use log::{FlushMode, LogError, LogStore, SEGMENT_BYTES_DEFAULT};
pub use network::{InProcessNetwork, RaftServer, RaftTransport, TransportError, TransportFuture};
pub use node::{APPEND_TIMEOUT_PRODUCTION, Node, NodeConfig, NodeError, ProposeError, ReadIndex};
pub use state_machine::StateMachine;
pub use store::{
    Command, CommandResult, EventType, JsonObject, ListOptions, ListPage, ObjectKey, ObjectStore,
    Outcome, PATCH_DEPTH_MAX, Precondition, Revision, SELECTOR_LEN_MAX, Selector, StoreError,
    WATCH_RETENTION_DEFAULT, WatchEvent, group_of, merge_patch,
};
pub use types::{Applied, NodeAddr, NodeId, SimRuntime, TokioRuntime, Types};
pub use watch_stream::{WATCH_BATCH_MAX, WatchError, WatchStream};
