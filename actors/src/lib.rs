//! ferrocore's control plane, run on the Raft leader: the API service (`object.*` and
//! `cluster.*` JSON-RPC methods), admission, the schedulers, one supervised actor per object with
//! a sans-IO reconcile core, the ironcore-net allocators, quota, garbage collection, pool health,
//! and the broker that speaks the node protocol.
//!
//! It knows nodes only through the node-protocol types in `ferrocore-api`; it never imports a
//! node crate.
//!
//! Status: not built yet (see README.md).
