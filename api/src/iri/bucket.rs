//! The BucketRuntime interface (IRI equivalent): its operations, requests, responses and the
//! bucket model a node backend keeps.
//!
//! Six operations, as IronCore's `bucket.v1alpha1.BucketRuntime`: `Version` and `ListEvents`
//! (shared with the volume runtime: [`super::volume::VersionRequest`],
//! [`super::volume::ListEventsRequest`]), [`ListBucketsRequest`], [`CreateBucketRequest`],
//! [`DeleteBucketRequest`] and [`ListBucketClassesRequest`]. Plain serde data: no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::volume::{Condition, ObjectFilter, ObjectMetadata, SecretData};

/// A bucket's id, assigned by the runtime on create (opaque to the caller).
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct BucketId(pub String);

impl BucketId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for BucketId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// The name of a bucket class the runtime offers.
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct BucketClassName(pub String);

impl fmt::Display for BucketClassName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for BucketClassName {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// What a bucket class promises (listed only; no QoS is applied to buckets, as upstream).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
pub struct BucketClassCapabilities {
    /// Bytes per second.
    pub tps: u64,
    /// Requests per second.
    pub iops: u64,
}

/// A class of buckets the runtime offers.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct BucketClass {
    /// The class name.
    pub name: BucketClassName,
    /// Its capabilities.
    pub capabilities: BucketClassCapabilities,
}

/// What the caller wants.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct BucketSpec {
    /// The class (must be one the runtime offers).
    pub class: BucketClassName,
}

/// A bucket's lifecycle state.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub enum BucketState {
    /// Accepted, being provisioned (or no object store behind this runtime).
    #[default]
    Pending,
    /// Usable: `status.access` is set.
    Available,
    /// Provisioning failed in a way retrying will not fix.
    Error,
}

/// How a client reaches the bucket.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct BucketAccess {
    /// The S3 endpoint (`http://host:port`, path-style).
    pub endpoint: String,
    /// The bucket's name at that endpoint.
    pub bucket_name: String,
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, to be put in a Secret.
    pub secret_data: SecretData,
}

/// The secret key holding the S3 access key id.
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// The secret key holding the S3 secret access key.
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// What the runtime observed.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct BucketStatus {
    /// Pending, Available or Error.
    pub state: BucketState,
    /// Set once Available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<BucketAccess>,
    /// Conditions, e.g. why the bucket is still Pending.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A bucket as the runtime reports it.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Bucket {
    /// The id the runtime assigned.
    pub id: BucketId,
    /// Labels, annotations, generation, times.
    pub metadata: ObjectMetadata,
    /// What the caller asked for.
    pub spec: BucketSpec,
    /// What the runtime observed.
    pub status: BucketStatus,
}

/// `ListBuckets`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListBucketsRequest {
    /// Which buckets.
    #[serde(default)]
    pub filter: ObjectFilter,
}

/// The buckets that passed the filter, by id.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListBucketsResponse {
    /// The buckets.
    pub buckets: Vec<Bucket>,
}

/// `CreateBucket`: the runtime assigns the id and answers at once with a Pending bucket.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateBucketRequest {
    /// Labels and annotations.
    pub metadata: ObjectMetadata,
    /// What to create.
    pub spec: BucketSpec,
}

/// The accepted bucket.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct CreateBucketResponse {
    /// The bucket (Pending).
    pub bucket: Bucket,
}

/// `DeleteBucket`: idempotent; removes the bucket's objects too.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteBucketRequest {
    /// The bucket.
    pub bucket_id: BucketId,
}

/// `DeleteBucket` accepted.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeleteBucketResponse {}

/// `ListBucketClasses`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListBucketClassesRequest {}

/// The classes offered.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ListBucketClassesResponse {
    /// The classes.
    pub bucket_classes: Vec<BucketClass>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_debug_hides_keys() {
        let a = BucketAccess {
            endpoint: "http://127.0.0.1:7480".into(),
            bucket_name: "b".into(),
            secret_data: SecretData::single(SECRET_ACCESS_KEY, b"very-secret".to_vec()),
        };
        assert!(!format!("{a:?}").contains("very-secret"));
    }

    #[test]
    fn bucket_round_trips_through_json() {
        let b = Bucket {
            id: "b1".into(),
            spec: BucketSpec {
                class: "standard".into(),
            },
            ..Bucket::default()
        };
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Bucket>(&json).unwrap(), b);
    }
}
