//! The MachineRuntime of a compute node: VMs under libvirt/QEMU, boot images, and a `fake`
//! hypervisor for the simulator that passes the same conformance suite.
//!
//! It is not the node agent (which connects to controllers) and knows nothing of Raft.
//!
//! Status: not built yet (see README.md).
