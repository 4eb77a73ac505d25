//! The VolumeRuntime and BucketRuntime of a storage node: Ceph RBD images and RGW buckets, local
//! raw files as the embedded default, and a `fake` for the simulator.
//!
//! It is not the node agent and knows nothing of Raft.
//!
//! Status: not built yet (see README.md).
