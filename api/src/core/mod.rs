//! The `core.ironcore.dev/v1alpha1` kind ResourceQuota, and the Kubernetes core `v1` Secret.

mod resource_quota;
mod secret;

pub use resource_quota::{
    ResourceQuota, ResourceQuotaSpec, ResourceQuotaStatus, ResourceScope, ScopeOperator,
    ScopeSelector, ScopeSelectorRequirement,
};
pub use secret::{SECRET_MAX_BYTES, SECRET_TYPE_OPAQUE, Secret, SecretBytes};
