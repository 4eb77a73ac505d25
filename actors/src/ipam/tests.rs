//! IPAM scenarios driven to a fixpoint on an in-memory store.
