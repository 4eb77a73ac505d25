//! The ferrocore resource schema: every IronCore v1alpha1 kind with its upstream JSON field
//! names, defaulting and validation, plus the Kubernetes core `v1` Secret; and the node
//! protocol's runtime interfaces ([`iri`]).
//!
//! Pure data: no I/O, no async, no clocks.

pub mod iri;
