//! The leader's decoded copy of the store, fed by the watch log: what every core reads
//! ([`ObjectView`] through [`Snapshot`]), the store form of each object (for writes that must
//! keep sealed Secret data and carry the `resourceVersion` the core saw), and the edge index
//! that decides whom a change wakes.

use std::collections::{BTreeMap, BTreeSet};

use ferrocore_api::decode::object_from_value;
use ferrocore_api::{KINDS, Kind, Object, ObjectKey};
use ferrocore_consensus::{
    EventType, JsonObject, ListOptions, ObjectKey as StoreKey, ObjectStore, Revision, WatchEvent,
};

use super::refs::{Edges, reads_by_selector, refs, wide};
use crate::api::SecretCipher;
use crate::reconcile::{ObjectView, Snapshot};

/// The store key of an API key.
pub(crate) fn store_key(key: &ObjectKey) -> StoreKey {
    StoreKey::new(key.kind.group(), key.kind.name(), &key.namespace, &key.name)
}

/// The API key of a store key, if it names a served kind.
pub(crate) fn api_key(key: &StoreKey) -> Option<ObjectKey> {
    let kind = Kind::all().find(|k| k.group() == key.group && k.name() == key.kind)?;
    Some(ObjectKey {
        kind,
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    })
}

/// One object as stored and as decoded.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    /// The store's JSON (Secret data sealed).
    pub(crate) raw: JsonObject,
    /// `metadata.uid`.
    pub(crate) uid: String,
    /// `metadata.resourceVersion`.
    pub(crate) resource_version: String,
}

/// A change the cache took in.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    /// Which object.
    pub(crate) key: ObjectKey,
    /// It after the change (`None`: removed).
    pub(crate) new: Option<Object>,
}

/// The leader's object cache.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    objects: Snapshot,
    stored: BTreeMap<ObjectKey, Stored>,
    edges: Edges,
    revision: Revision,
    /// Objects that did not decode (kept out of the view; logged once).
    undecodable: BTreeSet<ObjectKey>,
}

impl Cache {
    /// Loads every object of every served kind from `store`.
    pub(crate) fn load(store: &ObjectStore, cipher: &SecretCipher) -> Self {
        let mut cache = Self {
            revision: store.revision(),
            ..Self::default()
        };
        for info in KINDS {
            let page = store.list(info.kind.group(), info.kind.name(), &ListOptions::default());
            let Ok(page) = page else { continue };
            for raw in page.items {
                cache.put(raw, cipher);
            }
        }
        cache
    }

    /// The revision the cache reflects.
    pub(crate) fn revision(&self) -> Revision {
        self.revision
    }

    /// The decoded objects.
    pub(crate) fn view(&self) -> &Snapshot {
        &self.objects
    }

    /// The object at `key`.
    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.by_key(key)
    }

    /// The stored form of the object at `key`.
    pub(crate) fn stored(&self, key: &ObjectKey) -> Option<&Stored> {
        self.stored.get(key)
    }

    /// Every key, ordered.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.stored.keys()
    }

    /// Takes in one watch event; the change, unless the event was older than the cache or
    /// about an unknown kind.
    pub(crate) fn apply(&mut self, event: &WatchEvent, cipher: &SecretCipher) -> Option<Change> {
        if event.revision <= self.revision {
            return None;
        }
        self.revision = event.revision;
        let key = api_key(&event.key)?;
        let new = match event.kind {
            EventType::Deleted => {
                self.remove(&key);
                None
            }
            EventType::Added | EventType::Modified => self.put(event.object.clone(), cipher),
        };
        Some(Change { key, new })
    }

    fn put(&mut self, raw: JsonObject, cipher: &SecretCipher) -> Option<Object> {
        let key = StoreKey::of(raw.value()).ok().as_ref().and_then(api_key)?;
        let mut plain = raw.value().clone();
        let decoded = cipher
            .open(&mut plain)
            .map_err(|e| e.to_string())
            .and_then(|()| object_from_value(plain).map_err(|e| e.to_string()));
        let object = match decoded {
            Ok(o) => o,
            Err(e) => {
                if self.undecodable.insert(key.clone()) {
                    tracing::warn!(object = %key, error = %e, "stored object does not decode");
                }
                self.remove(&key);
                return None;
            }
        };
        self.undecodable.remove(&key);
        self.edges
            .set(&key, Some(refs(raw.value(), &key.namespace)));
        self.stored.insert(
            key,
            Stored {
                uid: raw.uid().unwrap_or_default().to_owned(),
                resource_version: raw.resource_version().unwrap_or_default().to_owned(),
                raw,
            },
        );
        self.objects.put(object.clone());
        Some(object)
    }

    fn remove(&mut self, key: &ObjectKey) {
        self.objects.remove(key);
        self.stored.remove(key);
        self.edges.set(key, None);
    }

    /// Whose actors a change of `key` wakes: itself, what it names, what names it (before and
    /// after the change, so a dropped reference wakes its old target too), and the namespace
    /// readers of [`wide`].
    pub(crate) fn wakes(&self, change: &Change, old_refs: &[ObjectKey]) -> BTreeSet<ObjectKey> {
        let key = &change.key;
        let mut out = BTreeSet::new();
        out.insert(key.clone());
        out.extend(old_refs.iter().cloned());
        out.extend(self.edges.named_by(key).iter().cloned());
        out.extend(self.edges.naming(key).cloned());
        for kind in wide(key.kind) {
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            for o in self.objects.list(*kind, ns) {
                let k = o.key();
                if self
                    .stored
                    .get(&k)
                    .is_some_and(|s| reads_by_selector(s.raw.value()))
                {
                    out.insert(k);
                }
            }
        }
        out
    }

    /// What `key` names now (call before applying a change, for [`Cache::wakes`]).
    pub(crate) fn names(&self, key: &StoreKey) -> Vec<ObjectKey> {
        api_key(key)
            .map(|k| self.edges.named_by(&k).to_vec())
            .unwrap_or_default()
    }

    /// The objects whose edges name `key` (e.g. everything bound to a pool).
    pub(crate) fn naming(&self, key: &ObjectKey) -> Vec<ObjectKey> {
        self.edges.naming(key).cloned().collect()
    }
}
