//! The node protocol's runtime interfaces: typed equivalents of IronCore's IRI services
//! (MachineRuntime, VolumeRuntime, BucketRuntime), shared by controllers and node backends.
//!
//! These are plain data: the node crates implement them, the control plane sends them.

pub mod bucket;
pub mod machine;
pub mod protocol;
pub mod volume;
