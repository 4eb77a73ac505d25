//! The ferrocore resource schema: every IronCore v1alpha1 kind with its upstream JSON field
//! names, defaulting and validation, plus the Kubernetes core `v1` Secret; and the node
//! protocol's runtime interfaces ([`iri`]).
//!
//! Pure data: no I/O, no async, no clocks. Decoding ([`decode`]) is strict: unknown fields are
//! errors with their path, and input size, document count and nesting depth are bounded.

mod common;
pub mod compute;
pub mod core;
pub mod decode;
mod enums;
pub mod field;
pub mod ipam;
pub mod iri;
mod kind;
pub mod meta;
mod net;
pub mod networking;
mod object;
mod quantity;
mod refs;
mod resources;
mod selector;
pub mod storage;
mod stored;
mod taints;

pub use common::Resource;
pub use enums::{StringEnum, validate_enum};
pub use kind::{KINDS, Kind, KindInfo};
pub use net::{IpAddress, IpFamily, IpPrefix, IpRange, PrefixParseError, Protocol};
pub use object::{Object, ObjectKey};
pub use quantity::{Quantity, QuantityError, QuantityFormat};
pub use refs::{
    Condition, ConditionStatus, LocalObjectReference, LocalUidReference, SecretKeySelector,
};
pub use resources::{ResourceList, ResourceName, quantity_of};
pub use selector::{
    LabelSelector, LabelSelectorRequirement, Labels, SelectorOperator, matches_map,
};
pub use stored::{StoredError, StoredObject};
pub use taints::{Taint, TaintEffect, Toleration, TolerationOperator, tolerates_all};
