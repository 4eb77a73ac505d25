//! ferrocore's consensus layer: the openraft type configuration, the durable Raft log and
//! snapshot storage on local disk, and the object store that is the Raft state machine
//! (revisions, `resourceVersion`, finalizers, the watch log).
//!
//! It is not the API service (that is `actors`) and does no networking of its own beyond the
//! Raft RPC adapter over `runtime`'s QUIC transport.
//!
//! Status: not built yet (see README.md).
