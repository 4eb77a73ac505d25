//! ferrocore's consensus layer: the openraft type configuration, the durable Raft log and
//! snapshot storage on local disk, and the object store that is the Raft state machine
//! (revisions, `resourceVersion`, finalizers, the watch log).
//!
//! It is not the API service (that is `actors`) and does no networking of its own: Raft RPCs
//! leave through the [`RaftTransport`] trait, which `runtime`'s QUIC transport implements.

mod store;

pub use store::{
    Command, CommandResult, EventType, JsonObject, ListOptions, ListPage, ObjectKey, ObjectStore,
    Outcome, Precondition, Revision, SELECTOR_LEN_MAX, Selector, StoreError,
    WATCH_RETENTION_DEFAULT, WatchEvent, group_of,
};
