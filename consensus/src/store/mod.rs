//! The object store: the Raft state machine's data. A pure structure — no I/O, no clock, no
//! randomness — so every replica that applies the same commands holds the same objects.
//!
//! - Objects are generic JSON keyed by [`ObjectKey`]; one global [`Revision`] counts changes,
//!   and `metadata.resourceVersion` is the revision of an object's last change.
//! - [`ObjectStore::apply`] is the only writer (see `apply.rs` for the semantics).
//! - Every change is one [`WatchEvent`] in the watch log, so revisions and events are gap-free.

mod apply;
mod list;
pub(crate) mod meta;
mod patch;
mod selector;
mod types;
mod watch;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use list::{ListOptions, ListPage};
pub use patch::{PATCH_DEPTH_MAX, merge_patch};
pub use selector::{SELECTOR_LEN_MAX, Selector};
pub use types::{
    Command, CommandResult, EventType, JsonObject, ObjectKey, Outcome, Precondition, Revision,
    StoreError, WatchEvent, group_of,
};
pub use watch::WATCH_RETENTION_DEFAULT;
use watch::WatchLog;

/// The replicated object store.
#[derive(Clone, Debug)]
pub struct ObjectStore {
    revision: Revision,
    objects: BTreeMap<ObjectKey, JsonObject>,
    /// uid → key, for owner lookups.
    by_uid: BTreeMap<String, ObjectKey>,
    /// owner uid → keys of the objects whose `ownerReferences` name it.
    dependents: BTreeMap<String, BTreeSet<ObjectKey>>,
    watch: WatchLog,
}

impl ObjectStore {
    /// An empty store whose watch log keeps `watch_retention` events.
    pub fn new(watch_retention: usize) -> Self {
        Self {
            revision: Revision(0),
            objects: BTreeMap::new(),
            by_uid: BTreeMap::new(),
            dependents: BTreeMap::new(),
            watch: WatchLog::new(watch_retention),
        }
    }

    /// Changes how many watch events are kept (a node setting, not replicated state).
    pub(crate) fn set_watch_retention(&mut self, retention: usize) {
        self.watch.set_retention(retention);
    }

    /// The current revision.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the store holds no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object at `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<&JsonObject> {
        self.objects.get(key)
    }

    /// The object with this uid.
    pub fn get_by_uid(&self, uid: &str) -> Option<&JsonObject> {
        self.by_uid.get(uid).and_then(|k| self.objects.get(k))
    }

    /// Up to `limit` watch events after revision `after`, in revision order.
    ///
    /// # Errors
    /// [`StoreError::Compacted`] if events after `after` are no longer kept.
    pub fn watch_since(
        &self,
        after: Revision,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, StoreError> {
        self.watch.since(after, limit)
    }

    /// The oldest revision a watch can start from.
    pub fn watch_oldest_start(&self) -> Revision {
        self.watch.oldest_start()
    }

    /// Checks the store's internal invariants; a failure is a bug in this module.
    ///
    /// # Panics
    /// On any broken invariant.
    pub fn check_invariants(&self) {
        assert_eq!(
            self.watch.last_revision(),
            self.revision,
            "watch log behind store"
        );
        assert_eq!(self.by_uid.len(), self.objects.len(), "uid index size");
        for (key, object) in &self.objects {
            let uid = object.uid().expect("stored objects have a uid");
            assert_eq!(self.by_uid.get(uid), Some(key), "uid index entry");
            let rv = object.resource_version().and_then(Revision::parse);
            assert!(
                rv.is_some_and(|rv| rv <= self.revision),
                "resourceVersion of {key}"
            );
            for owner in meta::owner_uids(object.value()) {
                let listed = self.dependents.get(&owner).is_some_and(|d| d.contains(key));
                assert!(listed, "dependents index misses {key}");
            }
        }
        let indexed: usize = self.dependents.values().map(BTreeSet::len).sum();
        let referenced: usize = self
            .objects
            .values()
            .map(|o| {
                meta::owner_uids(o.value())
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .sum();
        assert_eq!(indexed, referenced, "dependents index has stale entries");
    }

    /// Stores `object` at `key` as a new revision and records `kind` in the watch log.
    fn put(&mut self, key: &ObjectKey, mut object: Value, kind: EventType) -> Outcome {
        self.revision = self.revision.next();
        meta::meta_mut(&mut object).insert(
            "resourceVersion".into(),
            Value::String(self.revision.to_resource_version()),
        );
        if let Some(old) = self.objects.get(key).cloned() {
            self.unindex(key, &old);
        }
        let object = JsonObject::new(object);
        self.index(key, &object);
        self.objects.insert(key.clone(), object.clone());
        self.record(kind, key, &object);
        Outcome {
            revision: self.revision,
            object,
            removed: false,
        }
    }

    /// Removes the object at `key` as a new revision and records the deletion.
    fn remove(&mut self, key: &ObjectKey) -> Option<Outcome> {
        let old = self.objects.remove(key)?;
        self.unindex(key, &old);
        self.revision = self.revision.next();
        let mut last = old.value().clone();
        meta::meta_mut(&mut last).insert(
            "resourceVersion".into(),
            Value::String(self.revision.to_resource_version()),
        );
        let object = JsonObject::new(last);
        self.record(EventType::Deleted, key, &object);
        Some(Outcome {
            revision: self.revision,
            object,
            removed: true,
        })
    }

    fn record(&mut self, kind: EventType, key: &ObjectKey, object: &JsonObject) {
        self.watch.push(WatchEvent {
            kind,
            revision: self.revision,
            key: key.clone(),
            object: object.clone(),
        });
    }

    fn index(&mut self, key: &ObjectKey, object: &JsonObject) {
        if let Some(uid) = object.uid() {
            self.by_uid.insert(uid.to_owned(), key.clone());
        }
        for owner in meta::owner_uids(object.value()) {
            self.dependents
                .entry(owner)
                .or_default()
                .insert(key.clone());
        }
    }

    fn unindex(&mut self, key: &ObjectKey, object: &JsonObject) {
        if let Some(uid) = object.uid() {
            self.by_uid.remove(uid);
        }
        for owner in meta::owner_uids(object.value()) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    /// The store as a serializable image, for snapshots.
    pub(crate) fn image(&self) -> StoreImage {
        StoreImage {
            revision: self.revision,
            objects: self.objects.values().cloned().collect(),
            watch: self.watch.clone(),
        }
    }

    /// Rebuilds a store from an image.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] if an object in the image lacks its key or uid.
    pub(crate) fn from_image(image: StoreImage) -> Result<Self, StoreError> {
        let mut store = Self {
            revision: image.revision,
            objects: BTreeMap::new(),
            by_uid: BTreeMap::new(),
            dependents: BTreeMap::new(),
            watch: image.watch,
        };
        for object in image.objects {
            let key = ObjectKey::of(object.value())?;
            if object.uid().is_none() {
                return Err(StoreError::invalid(format!(
                    "snapshot object {key} has no uid"
                )));
            }
            store.index(&key, &object);
            store.objects.insert(key, object);
        }
        Ok(store)
    }
}

/// What a snapshot holds of the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoreImage {
    revision: Revision,
    objects: Vec<JsonObject>,
    watch: WatchLog,
}

#[cfg(test)]
mod tests;
