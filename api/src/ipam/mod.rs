//! The `ipam.ironcore.dev/v1alpha1` kinds: Prefix and PrefixAllocation.

mod prefix;

pub use prefix::{
    Prefix, PrefixAllocation, PrefixAllocationPhase, PrefixAllocationSpec, PrefixAllocationStatus,
    PrefixPhase, PrefixSpec, PrefixStatus, PrefixTemplateSpec, validate_prefix_template,
};
