//! The vocabulary of the object store: keys, revisions, the JSON object wrapper, the write
//! commands the leader proposes, their outcomes and errors.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The store's global revision: bumped by one for every change of one object.
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
pub struct Revision(pub u64);

impl Revision {
    /// The revision as Kubernetes writes `metadata.resourceVersion`: a decimal string.
    pub fn to_resource_version(self) -> String {
        self.0.to_string()
    }

    /// Parses a `resourceVersion` string; `None` if it is not a decimal number.
    pub fn parse(resource_version: &str) -> Option<Self> {
        resource_version.parse().ok().map(Self)
    }

    pub(crate) fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an object lives: `(group, kind, namespace, name)`; `namespace` is empty for
/// cluster-scoped kinds and `group` is empty for the core group (`apiVersion: v1`).
#[derive(Clone, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct ObjectKey {
    /// API group, from the part of `apiVersion` before the `/`.
    pub group: String,
    /// `kind`, e.g. `Machine`.
    pub kind: String,
    /// `metadata.namespace`, or empty.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// A key from its four parts.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The key of a JSON object (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] if a part is missing or not a string.
    pub fn of(object: &Value) -> Result<Self, StoreError> {
        let api_version = str_field(object, "apiVersion")?;
        let kind = str_field(object, "kind")?;
        let meta = object
            .get("metadata")
            .filter(|m| m.is_object())
            .ok_or_else(|| StoreError::invalid("metadata must be an object"))?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| StoreError::invalid("metadata.name must be a non-empty string"))?;
        let namespace = match meta.get("namespace") {
            None | Some(Value::Null) => "",
            Some(Value::String(ns)) => ns.as_str(),
            Some(_) => return Err(StoreError::invalid("metadata.namespace must be a string")),
        };
        Ok(Self::new(group_of(api_version), kind, namespace, name))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        if self.namespace.is_empty() {
            write!(f, "{}/{} {}", group, self.kind, self.name)
        } else {
            write!(
                f,
                "{}/{} {}/{}",
                group, self.kind, self.namespace, self.name
            )
        }
    }
}

/// The API group of an `apiVersion`: `compute.ironcore.dev/v1alpha1` → `compute.ironcore.dev`,
/// `v1` → the empty core group.
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(group, _)| group)
}

fn str_field<'a>(object: &'a Value, field: &str) -> Result<&'a str, StoreError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StoreError::invalid(format!("{field} must be a non-empty string")))
}

/// An API object as generic JSON, shared cheaply between the store, the watch log and readers.
///
/// It is serialized as JSON text, so the fixed-shape bincode envelopes that carry it (log
/// records, Raft RPCs, snapshots) never see the object's own, open-ended shape. The text is made
/// at most once per object and kept beside the value (an object decoded from the wire keeps the
/// text it came as): a write is encoded for the log, for each follower, for a forwarded
/// proposal and for every snapshot that holds it, and re-rendering the JSON each time was the
/// largest CPU cost of the write path.
#[derive(Clone)]
pub struct JsonObject(Arc<Shared>);

struct Shared {
    value: Value,
    /// `value` as JSON text, filled on first use.
    text: OnceLock<Box<str>>,
}

impl JsonObject {
    /// Wraps a JSON value.
    pub fn new(value: Value) -> Self {
        Self(Arc::new(Shared {
            value,
            text: OnceLock::new(),
        }))
    }

    /// Parses JSON text, keeping the text for later encodings.
    ///
    /// # Errors
    /// If `text` is not JSON.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        let value = serde_json::from_str(&text)?;
        Ok(Self(Arc::new(Shared {
            value,
            text: OnceLock::from(text.into_boxed_str()),
        })))
    }

    /// The JSON value.
    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// The object as JSON text (made once, then shared by every clone).
    pub fn text(&self) -> &str {
        self.0.text.get_or_init(|| self.0.value.to_string().into())
    }

    /// `metadata.resourceVersion`, if present.
    pub fn resource_version(&self) -> Option<&str> {
        self.0
            .value
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
    }

    /// `metadata.uid`, if present.
    pub fn uid(&self) -> Option<&str> {
        self.0
            .value
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
    }
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonObject").field(&self.0.value).finish()
    }
}

impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.value == other.0.value
    }
}

impl Serialize for JsonObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.text())
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_text(text).map_err(serde::de::Error::custom)
    }
}

/// Conditions a delete checks before it acts (Kubernetes `DeleteOptions.preconditions`).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct Precondition {
    /// The object must have this `metadata.uid`.
    pub uid: Option<String>,
    /// The object must be at this `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

/// A write to the object store, as the leader proposes it through Raft.
///
/// Everything a command needs that is not a function of the store (the new object's uid, the
/// current time) is decided by the leader and carried here, so applying it is deterministic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Creates an object; fails if its key exists.
    Create {
        /// The object; `metadata.uid`, `creationTimestamp`, `generation`, `resourceVersion` and
        /// `deletionTimestamp` in it are ignored.
        object: JsonObject,
        /// The uid to assign, chosen by the leader.
        uid: String,
        /// RFC 3339 time of creation, from the leader's clock.
        now: String,
    },
    /// Replaces an object's spec and metadata (status and store-managed metadata are kept). A
    /// non-empty `metadata.resourceVersion` must match the stored one.
    Update {
        /// The new object.
        object: JsonObject,
    },
    /// Replaces only an object's `status`. A non-empty `metadata.resourceVersion` must match.
    UpdateStatus {
        /// An object carrying the new status (and the key).
        object: JsonObject,
    },
    /// Deletes an object, or marks it deleting if it has finalizers.
    Delete {
        /// Which object.
        key: ObjectKey,
        /// What must hold for the delete to go ahead.
        precondition: Precondition,
        /// RFC 3339 time for `deletionTimestamp`, from the leader's clock.
        now: String,
    },
    /// Removes one finalizer (a no-op if absent); removing the last finalizer of a deleting
    /// object removes the object.
    RemoveFinalizer {
        /// Which object.
        key: ObjectKey,
        /// The finalizer to remove.
        finalizer: String,
    },
}

impl Command {
    /// The key this command is about, if it can be read without validating the object.
    pub fn key(&self) -> Option<ObjectKey> {
        match self {
            Self::Create { object, .. }
            | Self::Update { object }
            | Self::UpdateStatus { object } => ObjectKey::of(object.value()).ok(),
            Self::Delete { key, .. } | Self::RemoveFinalizer { key, .. } => Some(key.clone()),
        }
    }
}

/// What a successful command did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The store's revision after the command (unchanged by a no-op).
    pub revision: Revision,
    /// The object after the command; for a removal, its last state.
    pub object: JsonObject,
    /// Whether the object is gone from the store.
    pub removed: bool,
}

/// The result of applying one command: what Raft hands back to the proposer.
pub type CommandResult = Result<Outcome, StoreError>;

/// Why a command or a read was refused. Every variant is the caller's to handle; none means the
/// store is broken.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum StoreError {
    /// No object has this key.
    #[error("{0} not found")]
    NotFound(ObjectKey),
    /// An object with this key exists already.
    #[error("{0} already exists")]
    AlreadyExists(ObjectKey),
    /// A precondition (`resourceVersion` or uid) does not hold: re-read and retry.
    #[error("conflict on {key}: {reason}")]
    Conflict {
        /// Which object.
        key: ObjectKey,
        /// What did not match.
        reason: String,
    },
    /// The object or request is malformed.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A watch asked for history the store no longer keeps.
    #[error(
        "revision {requested} compacted: the oldest revision a watch can start from is {oldest}"
    )]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision a watch can start from now.
        oldest: Revision,
    },
}

impl StoreError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// What happened to an object, as a watch reports it.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object changed (including being marked for deletion).
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The Kubernetes name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change in the watch log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// What happened.
    pub kind: EventType,
    /// The revision of this change; revisions in the log are consecutive.
    pub revision: Revision,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (for `Deleted`, its last state).
    pub object: JsonObject,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_object_text_is_made_once_and_survives_the_wire() {
        let object = JsonObject::new(json!({"kind": "Secret", "data": {"a": "b\"c"}}));
        let text = object.text().to_owned();
        assert_eq!(text, object.value().to_string());
        assert!(std::ptr::eq(object.text(), object.clone().text()));
        let bytes = crate::codec::encode(&object);
        let back: JsonObject = crate::codec::decode(&bytes).unwrap();
        assert_eq!(back, object);
        assert_eq!(back.text(), text);
        assert_eq!(crate::codec::encode(&back), bytes);
    }

    #[test]
    fn json_object_from_text_refuses_non_json() {
        assert!(JsonObject::from_text("{not json".into()).is_err());
        let bytes = crate::codec::encode(&"{not json");
        assert!(crate::codec::decode::<JsonObject>(&bytes).is_err());
    }
}
