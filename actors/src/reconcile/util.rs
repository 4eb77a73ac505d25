//! Small helpers every core shares: conditions, owner references, status diffs, time.

use ferrocore_api::meta::{ObjectMeta, OwnerReference, Time, Uid};
use ferrocore_api::{Condition, ConditionStatus, Kind, ObjectKey, Resource};
use ferrocore_runtime::WallTime;
use serde::Serialize;

use super::command::{Command, Precondition};

/// A wall-clock time as the API's `Time` (whole seconds).
pub fn api_time(wall: WallTime) -> Time {
    Time::from_unix_seconds(wall.as_unix_seconds())
}

/// The key of a typed object.
pub fn key_of<T: Resource>(object: &T) -> ObjectKey {
    let meta = object.meta();
    ObjectKey {
        kind: T::KIND,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
    }
}

/// A key from its parts.
pub fn key(kind: Kind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The condition of `type_`, if present.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition `type_` is `True`.
pub fn condition_true(conditions: &[Condition], type_: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True)
}

/// What a condition should say.
#[derive(Clone, Debug)]
pub struct ConditionUpdate<'a> {
    /// The condition type.
    pub type_: &'a str,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// CamelCase reason.
    pub reason: &'a str,
    /// Human message.
    pub message: &'a str,
    /// The generation it was computed from (0: not tracked).
    pub observed_generation: i64,
}

/// Sets a condition, keeping `lastTransitionTime` when the status does not change, so
/// recomputing the same state yields the same value (no spurious status writes).
pub fn set_condition(conditions: &mut Vec<Condition>, update: &ConditionUpdate<'_>, now: Time) {
    let new = |last_transition_time| Condition {
        type_: update.type_.to_owned(),
        status: update.status.clone(),
        reason: update.reason.to_owned(),
        message: update.message.to_owned(),
        observed_generation: update.observed_generation,
        last_update_time: None,
        last_transition_time,
    };
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(c) => {
            let since = if c.status == update.status {
                c.last_transition_time.or(Some(now))
            } else {
                Some(now)
            };
            let last_update_time = c.last_update_time;
            *c = new(since);
            c.last_update_time = last_update_time;
        }
        None => conditions.push(new(Some(now))),
    }
}

/// An owner reference that makes `owner` the controller of a dependent.
pub fn controller_ref<T: Resource>(owner: &T) -> OwnerReference {
    OwnerReference {
        api_version: T::KIND.api_version().to_owned(),
        kind: T::KIND.name().to_owned(),
        name: owner.meta().name.clone(),
        uid: owner.meta().uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The uid of the controlling owner, if any.
pub fn controller_uid(meta: &ObjectMeta) -> Option<&Uid> {
    meta.owner_references
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| &r.uid)
}

/// Whether `meta` is controlled by the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &Uid) -> bool {
    controller_uid(meta) == Some(uid)
}

/// Whether `meta` carries `finalizer`.
pub fn has_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().any(|f| f == finalizer)
}

/// An `UpdateStatus` command when `new` differs from `old`, else nothing.
pub fn status_update<T: Resource, S: Serialize + PartialEq>(
    object: &T,
    old: &S,
    new: &S,
) -> Option<Command> {
    if old == new {
        return None;
    }
    Some(Command::UpdateStatus {
        key: key_of(object),
        precondition: Precondition::uid(&object.meta().uid),
        // Status types serialise to JSON without failure (string keys, finite numbers).
        status: serde_json::to_value(new).unwrap_or(serde_json::Value::Null),
    })
}

/// A merge patch command on `object` guarded by its uid.
pub fn patch<T: Resource>(object: &T, patch: serde_json::Value) -> Command {
    Command::Patch {
        key: key_of(object),
        precondition: Precondition::uid(&object.meta().uid),
        patch,
    }
}

/// A merge patch command on `object` guarded by its uid and resourceVersion (claims, set-once
/// fields: two writers cannot both win).
pub fn patch_exact<T: Resource>(object: &T, patch: serde_json::Value) -> Command {
    let meta = object.meta();
    Command::Patch {
        key: key_of(object),
        precondition: Precondition::exact(&meta.uid, &meta.resource_version),
        patch,
    }
}

/// A delete command for `object` guarded by its uid.
pub fn delete<T: Resource>(object: &T) -> Command {
    Command::Delete {
        key: key_of(object),
        precondition: Precondition::uid(&object.meta().uid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_only_moves_when_status_changes() {
        let mut conds = Vec::new();
        let up = |status| ConditionUpdate {
            type_: "Ready",
            status,
            reason: "R",
            message: "",
            observed_generation: 1,
        };
        set_condition(
            &mut conds,
            &up(ConditionStatus::True),
            Time::from_unix_seconds(10),
        );
        set_condition(
            &mut conds,
            &up(ConditionStatus::True),
            Time::from_unix_seconds(20),
        );
        assert_eq!(
            conds[0].last_transition_time,
            Some(Time::from_unix_seconds(10))
        );
        set_condition(
            &mut conds,
            &up(ConditionStatus::False),
            Time::from_unix_seconds(30),
        );
        assert_eq!(
            conds[0].last_transition_time,
            Some(Time::from_unix_seconds(30))
        );
        assert_eq!(conds.len(), 1);
        assert!(!condition_true(&conds, "Ready"));
    }
}
