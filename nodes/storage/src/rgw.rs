//! Buckets through Ceph RGW: the admin ops API makes and removes one user per bucket, S3 (as
//! that user) makes the bucket.
//!
//! Why the admin ops API and not `radosgw-admin`: it is HTTP with the same SigV4 signing the
//! S3 calls need anyway, returns JSON, works against a remote RGW, and needs neither the Ceph
//! CLI nor an admin keyring on the storage node (only an RGW user with `users=*;buckets=*`).

use ferrocore_api::iri::volume::UnixNanos;

use crate::backend::BackendError;
use crate::bucket::ObjectStore;
use crate::s3::{S3Client, S3Credentials, S3Error, amz_date};

/// RGW signs with this region unless configured otherwise.
pub const RGW_REGION: &str = "default";

/// An RGW endpoint and its admin-ops identity.
#[derive(Clone, Debug)]
pub struct RgwObjectStore {
    endpoint: String,
    admin: S3Client,
}

impl RgwObjectStore {
    /// A store for `endpoint` (`http://host:port`) administered with `admin` keys.
    ///
    /// # Errors
    /// When the endpoint is not `http://host:port`.
    pub fn new(endpoint: &str, admin: S3Credentials) -> Result<Self, S3Error> {
        Ok(Self {
            endpoint: endpoint.to_owned(),
            admin: S3Client::new(endpoint, admin, RGW_REGION)?,
        })
    }

    fn user_keys(&self, uid: &str, date: &str) -> Result<S3Credentials, BackendError> {
        let create = [("uid", uid), ("display-name", uid), ("format", "json")];
        let r = self
            .admin
            .send("PUT", "/admin/user", &create, b"", date)
            .map_err(classify)?;
        let body = match r.status {
            200 => r.body,
            // UserAlreadyExists: a retry after a crash; read its keys back.
            409 => self
                .admin
                .call(
                    "GET",
                    "/admin/user",
                    &[("uid", uid), ("format", "json")],
                    b"",
                    date,
                )
                .map_err(classify)?,
            status => {
                return Err(classify(S3Error::Status {
                    status,
                    body: String::from_utf8_lossy(&r.body).into_owned(),
                }));
            }
        };
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| BackendError::Failed(format!("RGW user JSON: {e}")))?;
        let key = v
            .get("keys")
            .and_then(|k| k.as_array())
            .and_then(|k| k.first())
            .ok_or_else(|| BackendError::Failed(format!("RGW user {uid} has no keys")))?;
        let field = |name: &str| key.get(name).and_then(|x| x.as_str()).map(str::to_owned);
        match (field("access_key"), field("secret_key")) {
            (Some(access_key), Some(secret_key)) => Ok(S3Credentials {
                access_key,
                secret_key,
            }),
            _ => Err(BackendError::Failed(format!(
                "RGW user {uid}: malformed keys"
            ))),
        }
    }
}

fn classify(e: S3Error) -> BackendError {
    match e {
        S3Error::Unreachable(m) => BackendError::Unavailable(format!("RGW unreachable: {m}")),
        S3Error::Status { status, body } if status >= 500 => {
            BackendError::Unavailable(format!("RGW status {status}: {body}"))
        }
        other => BackendError::Failed(other.to_string()),
    }
}

impl ObjectStore for RgwObjectStore {
    fn name(&self) -> &'static str {
        "rgw"
    }

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn ensure(
        &self,
        uid: &str,
        bucket: &str,
        now: UnixNanos,
    ) -> Result<S3Credentials, BackendError> {
        let date = amz_date(now.0.div_euclid(1_000_000_000));
        let keys = self.user_keys(uid, &date)?;
        let user = S3Client::new(&self.endpoint, keys.clone(), RGW_REGION).map_err(classify)?;
        let r = user
            .send("PUT", &format!("/{bucket}"), &[], b"", &date)
            .map_err(classify)?;
        let body = String::from_utf8_lossy(&r.body);
        match r.status {
            200 => Ok(keys),
            409 if body.contains("BucketAlreadyOwnedByYou") => Ok(keys),
            409 => Err(BackendError::Refused(format!(
                "Bucket name {bucket} is taken"
            ))),
            status => Err(classify(S3Error::Status {
                status,
                body: body.into_owned(),
            })),
        }
    }

    fn remove(&self, uid: &str, bucket: &str, now: UnixNanos) -> Result<(), BackendError> {
        let date = amz_date(now.0.div_euclid(1_000_000_000));
        let purge = [("bucket", bucket), ("purge-objects", "true")];
        let r = self
            .admin
            .send("DELETE", "/admin/bucket", &purge, b"", &date)
            .map_err(classify)?;
        if !matches!(r.status, 200 | 404) {
            return Err(classify(S3Error::Status {
                status: r.status,
                body: String::from_utf8_lossy(&r.body).into_owned(),
            }));
        }
        let r = self
            .admin
            .send(
                "DELETE",
                "/admin/user",
                &[("uid", uid), ("purge-data", "true")],
                b"",
                &date,
            )
            .map_err(classify)?;
        if !matches!(r.status, 200 | 404) {
            return Err(classify(S3Error::Status {
                status: r.status,
                body: String::from_utf8_lossy(&r.body).into_owned(),
            }));
        }
        Ok(())
    }
}
