//! The deterministic simulator: the whole cluster in one thread from one seed, with seeded
//! network, disk and process faults, invariants checked after every step, and replay.
//!
//! It is not a test double of the cluster: it runs the real cores and the nodes' fakes.
//!
//! Status: not built yet (see README.md).
