//! The `ferrocore node` process: it joins a cluster with a bootstrap token, registers its pools,
//! heartbeats, and hosts node actors over the compute, storage and network backends.
//!
//! It holds no backend logic itself: libvirt, Ceph and the data plane live in their own crates.
//!
//! Status: not built yet (see README.md).
