//! The semantics of each write command. `ObjectStore::apply` is a pure function of the store
//! and the command: no clock, no randomness, no I/O, so every replica reaches the same state.

use std::collections::VecDeque;

use serde_json::Value;

use super::ObjectStore;
use super::meta;
use super::types::{
    Command, CommandResult, EventType, ObjectKey, Outcome, Precondition, StoreError,
};

/// Largest store that debug builds check completely after every command.
#[cfg(debug_assertions)]
const INVARIANT_CHECK_OBJECTS_MAX: usize = 512;

impl ObjectStore {
    /// Applies one command. An `Err` is a refused command (the store is unchanged); bad input
    /// never panics.
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        let result = match command {
            Command::Create { object, uid, now } => self.create(object.value(), uid, now),
            Command::Update { object } => self.update(object.value()),
            Command::UpdateStatus { object } => self.update_status(object.value()),
            Command::Delete {
                key,
                precondition,
                now,
            } => self.delete(key, precondition, now),
            Command::RemoveFinalizer { key, finalizer } => self.remove_finalizer(key, finalizer),
        };
        // The full check is O(objects): run it in debug builds while the store is small enough
        // that tests and the simulator do not turn every apply quadratic.
        #[cfg(debug_assertions)]
        if self.objects.len() <= INVARIANT_CHECK_OBJECTS_MAX {
            self.check_invariants();
        }
        result
    }

    fn create(&mut self, object: &Value, uid: &str, now: &str) -> CommandResult {
        meta::validate(object)?;
        let key = ObjectKey::of(object)?;
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists(key));
        }
        if uid.is_empty() || self.by_uid.contains_key(uid) {
            return Err(StoreError::invalid(format!(
                "uid {uid:?} is empty or taken"
            )));
        }
        let mut object = object.clone();
        let m = meta::meta_mut(&mut object);
        m.insert("uid".into(), Value::String(uid.to_owned()));
        m.insert("creationTimestamp".into(), Value::String(now.to_owned()));
        m.insert("generation".into(), Value::from(1));
        m.remove("deletionTimestamp");
        Ok(self.put(&key, object, EventType::Added))
    }

    fn update(&mut self, object: &Value) -> CommandResult {
        meta::validate(object)?;
        let key = ObjectKey::of(object)?;
        let current = self.current(&key, meta::requested_version(object))?;
        let mut next = object.clone();
        meta::keep_managed(&mut next, &current);
        meta::set_status(&mut next, current.get("status"));
        let deleting = meta::is_deleting(&current);
        let finalizers = meta::finalizers(&next);
        if deleting {
            let old = meta::finalizers(&current);
            if let Some(added) = finalizers.iter().find(|f| !old.contains(f)) {
                return Err(StoreError::invalid(format!(
                    "{key} is being deleted: finalizer {added:?} cannot be added"
                )));
            }
        }
        if meta::desired_part(&next) != meta::desired_part(&current) {
            let generation = meta::generation(&current) + 1;
            meta::meta_mut(&mut next).insert("generation".into(), Value::from(generation));
        }
        if meta::same_ignoring_version(&next, &current) {
            return Ok(self.unchanged(&key));
        }
        if deleting && finalizers.is_empty() {
            let now = meta::meta_str(&current, "deletionTimestamp").unwrap_or_default();
            return Ok(self.remove_and_cascade(&key, now));
        }
        Ok(self.put(&key, next, EventType::Modified))
    }

    fn update_status(&mut self, object: &Value) -> CommandResult {
        meta::validate(object)?;
        let key = ObjectKey::of(object)?;
        let current = self.current(&key, meta::requested_version(object))?;
        let mut next = current.clone();
        meta::set_status(&mut next, object.get("status"));
        if meta::same_ignoring_version(&next, &current) {
            return Ok(self.unchanged(&key));
        }
        Ok(self.put(&key, next, EventType::Modified))
    }

    fn delete(&mut self, key: &ObjectKey, precondition: &Precondition, now: &str) -> CommandResult {
        let current = self.current(key, precondition.resource_version.as_deref())?;
        if let Some(uid) = &precondition.uid
            && meta::meta_str(&current, "uid") != Some(uid.as_str())
        {
            return Err(StoreError::Conflict {
                key: key.clone(),
                reason: format!("uid is not {uid}"),
            });
        }
        Ok(self.delete_or_mark(key, current, now))
    }

    fn remove_finalizer(&mut self, key: &ObjectKey, finalizer: &str) -> CommandResult {
        let current = self.current(key, None)?;
        let mut finalizers = meta::finalizers(&current);
        let before = finalizers.len();
        finalizers.retain(|f| f != finalizer);
        if finalizers.len() == before {
            return Ok(self.unchanged(key));
        }
        if let Some(now) = meta::meta_str(&current, "deletionTimestamp")
            && finalizers.is_empty()
        {
            return Ok(self.remove_and_cascade(key, now));
        }
        let mut next = current;
        meta::set_finalizers(&mut next, &finalizers);
        Ok(self.put(key, next, EventType::Modified))
    }

    /// The stored object at `key`, checking an optional `resourceVersion` precondition.
    fn current(&self, key: &ObjectKey, expected: Option<&str>) -> Result<Value, StoreError> {
        let object = self
            .objects
            .get(key)
            .ok_or_else(|| StoreError::NotFound(key.clone()))?;
        if let Some(expected) = expected.filter(|e| !e.is_empty())
            && object.resource_version() != Some(expected)
            && !crate::planted::skip_resource_version_check()
        {
            return Err(StoreError::Conflict {
                key: key.clone(),
                reason: format!(
                    "resourceVersion {expected} is stale: the object is at {}",
                    object.resource_version().unwrap_or("?")
                ),
            });
        }
        Ok(object.value().clone())
    }

    fn unchanged(&self, key: &ObjectKey) -> Outcome {
        let object = self.objects[key].clone();
        Outcome {
            revision: self.revision,
            object,
            removed: false,
        }
    }

    /// Deletes an object without finalizers, or marks one with finalizers as deleting.
    fn delete_or_mark(&mut self, key: &ObjectKey, current: Value, now: &str) -> Outcome {
        if meta::finalizers(&current).is_empty() {
            return self.remove_and_cascade(key, now);
        }
        self.mark_deleting(key, current, now)
    }

    /// Sets `deletionTimestamp` (once) on an object that has finalizers.
    fn mark_deleting(&mut self, key: &ObjectKey, current: Value, now: &str) -> Outcome {
        if meta::is_deleting(&current) {
            return self.unchanged(key);
        }
        let mut next = current;
        meta::meta_mut(&mut next).insert("deletionTimestamp".into(), Value::String(now.to_owned()));
        self.put(key, next, EventType::Modified)
    }

    /// Removes `key`, then its dependents transitively (background cascading deletion): a
    /// dependent that has another live owner only loses the reference; one with finalizers is
    /// marked deleting at `now` and goes when its finalizers do.
    fn remove_and_cascade(&mut self, key: &ObjectKey, now: &str) -> Outcome {
        let first = self
            .remove(key)
            .expect("remove_and_cascade is called on a present key");
        let mut owners = VecDeque::from([first.object.clone()]);
        // Each object is removed at most once, so the loop ends after at most len() rounds.
        while let Some(owner) = owners.pop_front() {
            let Some(uid) = owner.uid().map(str::to_owned) else {
                continue;
            };
            let dependents: Vec<ObjectKey> = self
                .dependents
                .get(&uid)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default();
            for dep_key in dependents {
                let dep = self.objects[&dep_key].value().clone();
                let other_owner_alive = meta::owner_uids(&dep)
                    .iter()
                    .any(|o| o != &uid && self.by_uid.contains_key(o));
                if other_owner_alive {
                    let mut next = dep;
                    meta::remove_owner(&mut next, &uid);
                    self.put(&dep_key, next, EventType::Modified);
                } else if meta::finalizers(&dep).is_empty() {
                    if let Some(outcome) = self.remove(&dep_key) {
                        owners.push_back(outcome.object);
                    }
                } else {
                    self.mark_deleting(&dep_key, dep, now);
                }
            }
        }
        first
    }
}
