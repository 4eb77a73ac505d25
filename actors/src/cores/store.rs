//! An in-memory object store with the semantics the runtime gives the cores: admission
//! (defaulting, validation, quota) on create and update, uid and resourceVersion preconditions,
//! generations, finalizers, deletion timestamps and the owner cascade.

use std::collections::VecDeque;

use ferrocore_api::decode::object_from_value;
use ferrocore_api::meta::{Generation, ResourceVersion, Time, Uid};
use ferrocore_api::{Object, ObjectKey};
use serde_json::Value;

use crate::quota;
use crate::reconcile::{Precondition, Snapshot};

/// Why a write was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// No such object.
    #[error("{0} not found")]
    NotFound(ObjectKey),
    /// The key is taken.
    #[error("{0} already exists")]
    AlreadyExists(ObjectKey),
    /// A precondition failed.
    #[error("conflict on {0}")]
    Conflict(ObjectKey),
    /// Admission refused the object.
    #[error("{key} refused: {reason}")]
    Refused {
        /// The object.
        key: ObjectKey,
        /// Validation errors or the quota message.
        reason: String,
    },
}

/// The store.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    objects: Snapshot,
    next_uid: u64,
    revision: u64,
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn without(value: &Value, keys: &[&str]) -> Value {
    let mut v = value.clone();
    if let Value::Object(m) = &mut v {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

fn decode(key: &ObjectKey, value: Value) -> Result<Object, WriteError> {
    object_from_value(value).map_err(|e| WriteError::Refused {
        key: key.clone(),
        reason: e.to_string(),
    })
}

impl MemStore {
    /// The objects.
    pub fn view(&self) -> &Snapshot {
        &self.objects
    }

    fn bump(&mut self, o: &mut Object) {
        self.revision += 1;
        o.meta_mut().resource_version = ResourceVersion::from_revision(self.revision);
    }

    fn check(&self, key: &ObjectKey, pre: &Precondition) -> Result<&Object, WriteError> {
        let o = self
            .objects
            .by_key(key)
            .ok_or_else(|| WriteError::NotFound(key.clone()))?;
        let m = o.meta();
        let uid_ok = pre.uid.as_ref().is_none_or(|u| *u == m.uid);
        let rv_ok = pre
            .resource_version
            .as_ref()
            .is_none_or(|rv| *rv == m.resource_version);
        if uid_ok && rv_ok {
            Ok(o)
        } else {
            Err(WriteError::Conflict(key.clone()))
        }
    }

    fn admit(&self, new: &Object, old: Option<&Object>) -> Result<(), WriteError> {
        let errs = match old {
            Some(old) => new.validate_update(old),
            None => new.validate(),
        };
        let refused = |reason: String| WriteError::Refused {
            key: new.key(),
            reason,
        };
        if !errs.is_empty() {
            return Err(refused(errs.to_string()));
        }
        quota::admit(new, old, &self.objects).map_err(|e| refused(e.to_string()))
    }

    /// Creates an object through admission.
    ///
    /// # Errors
    /// `AlreadyExists` or `Refused`.
    pub fn create(&mut self, mut object: Object, now: Time) -> Result<(), WriteError> {
        let key = object.key();
        if self.objects.by_key(&key).is_some() {
            return Err(WriteError::AlreadyExists(key));
        }
        object.set_defaults();
        self.admit(&object, None)?;
        self.next_uid += 1;
        let m = object.meta_mut();
        m.uid = Uid(format!("uid-{:06}", self.next_uid));
        m.generation = Generation(1);
        m.creation_timestamp = Some(now);
        m.deletion_timestamp = None;
        self.bump(&mut object);
        self.objects.put(object);
        Ok(())
    }

    /// Applies a merge patch to metadata and spec. Returns whether anything changed.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` or `Refused`.
    pub fn patch(
        &mut self,
        key: &ObjectKey,
        pre: &Precondition,
        patch: &Value,
    ) -> Result<bool, WriteError> {
        let old = self.check(key, pre)?.clone();
        let before = old.to_value();
        let mut after = before.clone();
        merge_patch(&mut after, &without(patch, &["status"]));
        if after == before {
            return Ok(false);
        }
        let mut new = decode(key, after.clone())?;
        self.admit(&new, Some(&old))?;
        let spec_changed =
            without(&after, &["metadata", "status"]) != without(&before, &["metadata", "status"]);
        if spec_changed {
            new.meta_mut().generation = Generation(old.meta().generation.0 + 1);
        }
        self.bump(&mut new);
        self.objects.put(new);
        Ok(true)
    }

    /// Replaces the status. Returns whether it changed.
    ///
    /// # Errors
    /// `NotFound`, `Conflict` or `Refused`.
    pub fn update_status(
        &mut self,
        key: &ObjectKey,
        pre: &Precondition,
        status: &Value,
    ) -> Result<bool, WriteError> {
        let old = self.check(key, pre)?.clone();
        let mut value = old.to_value();
        if value.get("status") == Some(status) {
            return Ok(false);
        }
        if let Value::Object(m) = &mut value {
            m.insert("status".into(), status.clone());
        }
        let mut new = decode(key, value)?;
        let errs = new.validate_update(&old);
        if !errs.is_empty() {
            return Err(WriteError::Refused {
                key: key.clone(),
                reason: errs.to_string(),
            });
        }
        self.bump(&mut new);
        self.objects.put(new);
        Ok(true)
    }

    /// Deletes an object, or marks it deleting when it has finalizers.
    ///
    /// # Errors
    /// `NotFound` or `Conflict`.
    pub fn delete(
        &mut self,
        key: &ObjectKey,
        pre: &Precondition,
        now: Time,
    ) -> Result<bool, WriteError> {
        let o = self.check(key, pre)?;
        if o.meta().finalizers.is_empty() {
            self.remove_and_cascade(key, now);
            return Ok(true);
        }
        if o.meta().is_deleting() {
            return Ok(false);
        }
        let mut o = o.clone();
        o.meta_mut().deletion_timestamp = Some(now);
        self.bump(&mut o);
        self.objects.put(o);
        Ok(true)
    }

    /// Adds a finalizer (refused on a deleting object).
    ///
    /// # Errors
    /// `NotFound` or `Refused`.
    pub fn add_finalizer(&mut self, key: &ObjectKey, finalizer: &str) -> Result<bool, WriteError> {
        let mut o = self.check(key, &Precondition::default())?.clone();
        if o.meta().finalizers.iter().any(|f| f == finalizer) {
            return Ok(false);
        }
        if o.meta().is_deleting() {
            return Err(WriteError::Refused {
                key: key.clone(),
                reason: "object is being deleted".into(),
            });
        }
        o.meta_mut().finalizers.push(finalizer.to_owned());
        self.bump(&mut o);
        self.objects.put(o);
        Ok(true)
    }

    /// Removes a finalizer; the last one of a deleting object removes it.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn remove_finalizer(
        &mut self,
        key: &ObjectKey,
        finalizer: &str,
        now: Time,
    ) -> Result<bool, WriteError> {
        let mut o = self.check(key, &Precondition::default())?.clone();
        let before = o.meta().finalizers.len();
        o.meta_mut().finalizers.retain(|f| f != finalizer);
        if o.meta().finalizers.len() == before {
            return Ok(false);
        }
        if o.meta().is_deleting() && o.meta().finalizers.is_empty() {
            self.remove_and_cascade(key, now);
            return Ok(true);
        }
        self.bump(&mut o);
        self.objects.put(o);
        Ok(true)
    }

    /// Removes an object, then deletes dependents with no other live owner (dependents with
    /// finalizers are marked deleting; references to the gone owner are dropped otherwise).
    fn remove_and_cascade(&mut self, key: &ObjectKey, now: Time) {
        let mut queue = VecDeque::from([key.clone()]);
        while let Some(k) = queue.pop_front() {
            let Some(gone) = self.objects.remove(&k) else {
                continue;
            };
            let uid = gone.meta().uid.clone();
            let dependents: Vec<Object> = self
                .objects
                .iter()
                .filter(|o| o.meta().owner_references.iter().any(|r| r.uid == uid))
                .cloned()
                .collect();
            for mut d in dependents {
                let others = d.meta().owner_references.iter().any(|r| r.uid != uid);
                if others {
                    d.meta_mut().owner_references.retain(|r| r.uid != uid);
                    self.bump(&mut d);
                    self.objects.put(d);
                } else if d.meta().finalizers.is_empty() {
                    queue.push_back(d.key());
                } else if !d.meta().is_deleting() {
                    d.meta_mut().deletion_timestamp = Some(now);
                    self.bump(&mut d);
                    self.objects.put(d);
                }
            }
        }
    }
}
