//! The BucketRuntime: one object-store user and one bucket per Bucket, behind [`ObjectStore`]
//! (RGW, none, or the fake). Records persist in the same [`RecordStore`] as volumes; the keys
//! never do: they live in the object store and are read back from it after a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrocore_api::iri::bucket::{
    ACCESS_KEY_ID, Bucket, BucketAccess, BucketClass, BucketId, BucketState, CreateBucketRequest,
    CreateBucketResponse, DeleteBucketRequest, DeleteBucketResponse, ListBucketClassesRequest,
    ListBucketClassesResponse, ListBucketsRequest, ListBucketsResponse, SECRET_ACCESS_KEY,
};
use ferrocore_api::iri::volume::{
    Condition, Event, EventType, InvolvedObject, ListEventsRequest, ListEventsResponse,
    RuntimeError, SecretData, UnixNanos, VersionRequest, VersionResponse,
};
use ferrocore_runtime::{Clock, Rng};

use crate::backend::{BackendError, RecordStore};
use crate::record::Namespace;
use crate::s3::S3Credentials;

/// Events kept for `ListEvents` (bounded, oldest dropped).
const MAX_EVENTS: usize = 1024;

/// An S3 object store that can make users and buckets.
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// `rgw`, `none` or `fake`.
    fn name(&self) -> &'static str;
    /// The endpoint clients use.
    fn endpoint(&self) -> String;
    /// Makes sure user `uid` and its bucket `bucket` exist; returns the user's keys.
    ///
    /// # Errors
    /// [`BackendError::Unavailable`] when the store cannot be reached (or there is none).
    fn ensure(
        &self,
        uid: &str,
        bucket: &str,
        now: UnixNanos,
    ) -> Result<S3Credentials, BackendError>;
    /// Removes the bucket with its objects, then the user (gone already is fine).
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn remove(&self, uid: &str, bucket: &str, now: UnixNanos) -> Result<(), BackendError>;
}

/// The embedded default: no object store. Buckets stay Pending with this reason.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObjectStore;

impl ObjectStore for NoObjectStore {
    fn name(&self) -> &'static str {
        "none"
    }

    fn endpoint(&self) -> String {
        String::new()
    }

    fn ensure(&self, _: &str, _: &str, _: UnixNanos) -> Result<S3Credentials, BackendError> {
        Err(BackendError::Unavailable(
            "No object store is configured on this node (set an RGW endpoint)".into(),
        ))
    }

    fn remove(&self, _: &str, _: &str, _: UnixNanos) -> Result<(), BackendError> {
        Ok(())
    }
}

/// The fake object store: users and buckets in memory, keys derived from the user id.
#[derive(Clone, Debug, Default)]
pub struct FakeObjectStore {
    buckets: Arc<Mutex<BTreeMap<String, String>>>,
}

impl FakeObjectStore {
    /// Bucket name → owner, for checks.
    pub fn buckets(&self) -> BTreeMap<String, String> {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ObjectStore for FakeObjectStore {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn endpoint(&self) -> String {
        "http://fake-s3.invalid".into()
    }

    fn ensure(&self, uid: &str, bucket: &str, _: UnixNanos) -> Result<S3Credentials, BackendError> {
        let mut b = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        match b.get(bucket) {
            Some(owner) if owner != uid => {
                return Err(BackendError::Refused(format!("Bucket {bucket} is taken")));
            }
            _ => b.insert(bucket.to_owned(), uid.to_owned()),
        };
        Ok(S3Credentials {
            access_key: format!("AK{uid}"),
            secret_key: format!("SK{uid}"),
        })
    }

    fn remove(&self, _: &str, bucket: &str, _: UnixNanos) -> Result<(), BackendError> {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(bucket);
        Ok(())
    }
}

/// What the runtime keeps per bucket.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct BucketRecord {
    bucket: Bucket,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<BucketId, BucketRecord>,
    keys: BTreeMap<BucketId, S3Credentials>,
    errors: BTreeMap<BucketId, String>,
    events: std::collections::VecDeque<Event>,
}

/// The BucketRuntime of one storage node.
#[derive(Debug)]
pub struct BucketService {
    state: Mutex<State>,
    classes: Vec<BucketClass>,
    objects: Arc<dyn ObjectStore>,
    store: Arc<dyn RecordStore>,
    clock: Arc<dyn Clock>,
    rng: Mutex<Box<dyn Rng>>,
}

/// The object-store user and bucket name of a bucket id (both derived, so nothing else needs
/// to be stored to find them again).
fn names(id: &BucketId) -> (String, String) {
    (format!("ferrocore-{id}"), format!("fc-{id}"))
}

impl BucketService {
    /// Opens the runtime and loads its records.
    ///
    /// # Errors
    /// [`RuntimeError::Unavailable`] when the record store cannot be read.
    pub fn open(
        classes: Vec<BucketClass>,
        objects: Arc<dyn ObjectStore>,
        store: Arc<dyn RecordStore>,
        clock: Arc<dyn Clock>,
        rng: Box<dyn Rng>,
    ) -> Result<Self, RuntimeError> {
        let raw = store
            .load(Namespace::Buckets)
            .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
        let mut buckets = BTreeMap::new();
        for (key, bytes) in raw {
            let r: BucketRecord = serde_json::from_slice(&bytes).map_err(|e| {
                RuntimeError::Internal(format!("Corrupt bucket record `{key}`: {e}"))
            })?;
            buckets.insert(r.bucket.id.clone(), r);
        }
        let state = State {
            buckets,
            ..State::default()
        };
        Ok(Self {
            state: Mutex::new(state),
            classes,
            objects,
            store,
            clock,
            rng: Mutex::new(rng),
        })
    }

    /// `Version`.
    pub fn version(&self, _req: &VersionRequest) -> VersionResponse {
        VersionResponse {
            runtime_name: format!("ferrocore-buckets-{}", self.objects.name()),
            runtime_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// `ListEvents`.
    pub fn list_events(&self, req: &ListEventsRequest) -> ListEventsResponse {
        let s = self.lock();
        ListEventsResponse {
            events: s
                .events
                .iter()
                .filter(|e| req.filter.matches(e))
                .cloned()
                .collect(),
        }
    }

    /// `ListBucketClasses`.
    pub fn list_bucket_classes(
        &self,
        _req: &ListBucketClassesRequest,
    ) -> ListBucketClassesResponse {
        ListBucketClassesResponse {
            bucket_classes: self.classes.clone(),
        }
    }

    /// `ListBuckets`: access (endpoint and keys) on Available buckets.
    pub fn list_buckets(&self, req: &ListBucketsRequest) -> ListBucketsResponse {
        let s = self.lock();
        let buckets = s
            .buckets
            .values()
            .filter(|r| {
                req.filter
                    .matches(r.bucket.id.as_str(), &r.bucket.metadata.labels)
            })
            .map(|r| {
                let mut b = r.bucket.clone();
                if let Some(k) = s
                    .keys
                    .get(&b.id)
                    .filter(|_| b.status.state == BucketState::Available)
                {
                    b.status.access = Some(BucketAccess {
                        endpoint: self.objects.endpoint(),
                        bucket_name: names(&b.id).1,
                        secret_data: SecretData(BTreeMap::from([
                            (ACCESS_KEY_ID.to_owned(), k.access_key.clone().into_bytes()),
                            (
                                SECRET_ACCESS_KEY.to_owned(),
                                k.secret_key.clone().into_bytes(),
                            ),
                        ])),
                    });
                }
                if let Some(e) = s.errors.get(&b.id) {
                    b.status.conditions.push(Condition {
                        condition_type: "Provisioned".into(),
                        status: false,
                        reason: "ObjectStoreUnavailable".into(),
                        message: e.clone(),
                    });
                }
                b
            })
            .collect();
        ListBucketsResponse { buckets }
    }

    /// `CreateBucket`: persisted Pending before it returns; provisioned by
    /// [`Self::reconcile_all`].
    ///
    /// # Errors
    /// Unknown class, or an unwritable record store.
    pub fn create_bucket(
        &self,
        req: CreateBucketRequest,
    ) -> Result<CreateBucketResponse, RuntimeError> {
        if !self.classes.iter().any(|c| c.name == req.spec.class) {
            return Err(RuntimeError::InvalidArgument(format!(
                "Unknown bucket class `{}`",
                req.spec.class
            )));
        }
        let mut s = self.lock();
        let id = BucketId(self.fresh_id());
        if s.buckets.contains_key(&id) {
            return Err(RuntimeError::Internal("Bucket id collision".into()));
        }
        let mut metadata = req.metadata;
        metadata.generation = 1;
        metadata.created_at = self.wall();
        metadata.deleted_at = None;
        let bucket = Bucket {
            id: id.clone(),
            metadata,
            spec: req.spec,
            status: Default::default(),
        };
        self.put(
            &mut s,
            BucketRecord {
                bucket: bucket.clone(),
            },
        )?;
        Ok(CreateBucketResponse { bucket })
    }

    /// `DeleteBucket`: removal (objects, bucket, user) happens in [`Self::reconcile_all`].
    ///
    /// # Errors
    /// Unknown bucket, or an unwritable record store.
    pub fn delete_bucket(
        &self,
        req: &DeleteBucketRequest,
    ) -> Result<DeleteBucketResponse, RuntimeError> {
        let mut s = self.lock();
        let r = s
            .buckets
            .get(&req.bucket_id)
            .ok_or_else(|| RuntimeError::NotFound(format!("Bucket `{}`", req.bucket_id)))?;
        if r.bucket.metadata.deleted_at.is_some() {
            return Ok(DeleteBucketResponse {});
        }
        let mut next = r.clone();
        next.bucket.metadata.deleted_at = Some(self.wall());
        next.bucket.metadata.generation += 1;
        self.put(&mut s, next)?;
        Ok(DeleteBucketResponse {})
    }

    /// Brings every bucket to its wanted state (provision, re-read keys after a restart,
    /// remove). Called by the workers every probe interval, and by tests.
    pub fn reconcile_all(&self) {
        let todo: Vec<BucketRecord> = {
            let s = self.lock();
            s.buckets
                .values()
                .filter(|r| {
                    r.bucket.metadata.deleted_at.is_some()
                        || !s.keys.contains_key(&r.bucket.id)
                            && r.bucket.status.state != BucketState::Error
                })
                .cloned()
                .collect()
        };
        for r in todo {
            self.reconcile_one(r);
        }
    }

    fn reconcile_one(&self, r: BucketRecord) {
        let id = r.bucket.id.clone();
        let (uid, name) = names(&id);
        let now = self.wall();
        if r.bucket.metadata.deleted_at.is_some() {
            let result = self.objects.remove(&uid, &name, now);
            let mut s = self.lock();
            match result {
                Ok(()) => {
                    if self.store.delete(Namespace::Buckets, id.as_str()).is_ok() {
                        s.buckets.remove(&id);
                        s.keys.remove(&id);
                        s.errors.remove(&id);
                        push_event(
                            &mut s,
                            &r.bucket,
                            now,
                            EventType::Normal,
                            "Deleted",
                            "Bucket removed",
                        );
                    }
                }
                Err(e) => {
                    s.errors.insert(id, e.to_string());
                }
            }
            return;
        }
        let result = self.objects.ensure(&uid, &name, now);
        let mut s = self.lock();
        match result {
            Ok(keys) => {
                s.errors.remove(&id);
                s.keys.insert(id.clone(), keys);
                if r.bucket.status.state != BucketState::Available {
                    let mut next = r.clone();
                    next.bucket.status.state = BucketState::Available;
                    next.bucket.metadata.generation += 1;
                    if self.put(&mut s, next).is_ok() {
                        push_event(
                            &mut s,
                            &r.bucket,
                            now,
                            EventType::Normal,
                            "Provisioned",
                            "Bucket is Available",
                        );
                    }
                }
            }
            Err(BackendError::Refused(msg)) => {
                let mut next = r.clone();
                next.bucket.status.state = BucketState::Error;
                let _ = self.put(&mut s, next);
                s.errors.insert(id, msg);
            }
            Err(e) => {
                s.errors.insert(id, e.to_string());
            }
        }
    }

    fn put(&self, s: &mut State, r: BucketRecord) -> Result<(), RuntimeError> {
        let json = serde_json::to_vec(&r).map_err(|e| RuntimeError::Internal(e.to_string()))?;
        self.store
            .put(Namespace::Buckets, r.bucket.id.as_str(), &json)
            .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
        s.buckets.insert(r.bucket.id.clone(), r);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wall(&self) -> UnixNanos {
        UnixNanos(self.clock.wall().as_unix_nanos())
    }

    fn fresh_id(&self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut buf = [0u8; 16];
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(&mut buf);
        buf.iter()
            .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
            .collect()
    }
}

fn push_event(s: &mut State, b: &Bucket, now: UnixNanos, t: EventType, reason: &str, msg: &str) {
    if s.events.len() == MAX_EVENTS {
        s.events.pop_front();
    }
    s.events.push_back(Event {
        involved_object: InvolvedObject {
            kind: "Bucket".into(),
            id: b.id.0.clone(),
            labels: b.metadata.labels.clone(),
        },
        event_type: t,
        reason: reason.into(),
        message: msg.into(),
        event_time: now,
    });
}
