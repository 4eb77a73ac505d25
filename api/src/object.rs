//! `Object`: any one object of any kind, with defaulting, validation and JSON conversion
//! dispatched to the kind.

use serde::{Serialize, Serializer};

use crate::common::Resource;
use crate::compute::{Machine, MachineClass, MachinePool};
use crate::core::{ResourceQuota, Secret};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::ipam::{Prefix, PrefixAllocation};
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::networking::{
    LoadBalancer, LoadBalancerRouting, NATGateway, Network, NetworkInterface, NetworkPolicy,
    VirtualIP,
};
use crate::storage::{
    Bucket, BucketClass, BucketPool, Volume, VolumeClass, VolumePool, VolumeSnapshot,
};

macro_rules! objects {
    ($($kind:ident),+ $(,)?) => {
        /// One object of any kind.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)] // objects are passed around whole; boxing buys nothing
        pub enum Object {
            $(
                #[doc = concat!("A ", stringify!($kind), ".")]
                $kind($kind),
            )+
        }

        impl Object {
            /// The object's kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Self::$kind(_) => Kind::$kind,)+
                }
            }

            /// The object's metadata.
            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Self::$kind(o) => o.meta(),)+
                }
            }

            /// The object's metadata, mutably.
            pub fn meta_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Self::$kind(o) => o.meta_mut(),)+
                }
            }

            /// Fills in defaults, as the API server does before validation.
            pub fn set_defaults(&mut self) {
                match self {
                    $(Self::$kind(o) => o.set_defaults(),)+
                }
            }

            /// Validation of a new object. Reports every error.
            pub fn validate(&self) -> ErrorList {
                match self {
                    $(Self::$kind(o) => o.validate(),)+
                }
            }

            /// Validation of a change from `old`; kinds must match.
            pub fn validate_update(&self, old: &Self) -> ErrorList {
                match (self, old) {
                    $((Self::$kind(new), Self::$kind(old)) => new.validate_update(old),)+
                    _ => std::iter::once(FieldError::forbidden(
                        FieldPath::new("kind"),
                        format!("cannot change kind from {} to {}", old.kind(), self.kind()),
                    ))
                    .collect(),
                }
            }

            /// The object as JSON.
            pub fn to_value(&self) -> serde_json::Value {
                let encoded = match self {
                    $(Self::$kind(o) => serde_json::to_value(o),)+
                };
                // Every field serialises to JSON (maps have string keys, numbers are finite).
                encoded.unwrap_or(serde_json::Value::Null)
            }

            pub(crate) fn decode(
                kind: Kind,
                value: serde_json::Value,
            ) -> Result<Self, crate::decode::DecodeError> {
                match kind {
                    $(Kind::$kind => crate::decode::strict::<$kind>(value).map(Self::$kind),)+
                }
            }
        }

        $(
            impl From<$kind> for Object {
                fn from(o: $kind) -> Self {
                    Self::$kind(o)
                }
            }
        )+
    };
}

objects!(
    Machine,
    MachineClass,
    MachinePool,
    Volume,
    VolumeClass,
    VolumePool,
    VolumeSnapshot,
    Bucket,
    BucketClass,
    BucketPool,
    Network,
    NetworkInterface,
    NetworkPolicy,
    VirtualIP,
    LoadBalancer,
    LoadBalancerRouting,
    NATGateway,
    Prefix,
    PrefixAllocation,
    ResourceQuota,
    Secret,
);

impl Object {
    /// `namespace/name` (or just `name` for cluster-scoped kinds).
    pub fn display_name(&self) -> String {
        let m = self.meta();
        if m.namespace.is_empty() {
            m.name.clone()
        } else {
            format!("{}/{}", m.namespace, m.name)
        }
    }

    /// The object's identity in the store.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind(),
            namespace: self.meta().namespace.clone(),
            name: self.meta().name.clone(),
        }
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// An object's identity: kind, namespace (empty when cluster-scoped) and name.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, serde::Deserialize)]
pub struct ObjectKey {
    /// The kind.
    pub kind: Kind,
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}
