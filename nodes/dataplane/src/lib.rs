//! The dpservice-equivalent packet pipeline: a sans-IO pipeline over packet buffers with
//! in-memory, DPDK and kernel (AF_PACKET/TAP) I/O backends, and its local programming API.
//!
//! Status: not built yet (see README.md).
