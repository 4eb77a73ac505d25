//! Issue 3, the object store, with controllers as real processes on loopback
//! (`ferrocore_tests::cluster`), talking JSON-RPC over QUIC with `RpcClient`.
//!
//! Each test starts its own cluster; the cluster helper runs them one at a time.

mod disk;
mod failover;
mod hostile;
mod membership;
mod secrets;
mod support;
