//! I/O backends that feed the pipeline: in memory (tests, simulator, benchmark), kernel (TAP
//! and AF_PACKET) and DPDK. Each is a thin loop around [`crate::Dataplane::process`].

pub mod memory;
