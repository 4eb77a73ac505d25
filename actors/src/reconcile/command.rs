//! What a reconcile core asks for: store writes, node commands, events and requeues.

use std::time::Duration;

use ferrocore_api::iri::protocol::{IriRequest, PoolRef};
use ferrocore_api::meta::{Generation, ResourceVersion, Uid};
use ferrocore_api::{Object, ObjectKey};

/// Conditions a store write checks before it acts.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Precondition {
    /// The object must have this uid (it was not deleted and recreated meanwhile).
    pub uid: Option<Uid>,
    /// The object must be at this resourceVersion (nobody changed it meanwhile).
    pub resource_version: Option<ResourceVersion>,
}

impl Precondition {
    /// The object must still be the one with `uid`.
    pub fn uid(uid: &Uid) -> Self {
        Self {
            uid: Some(uid.clone()),
            resource_version: None,
        }
    }

    /// The object must be unchanged since it was read (optimistic concurrency: claims and
    /// set-once fields use this so two writers cannot both win).
    pub fn exact(uid: &Uid, resource_version: &ResourceVersion) -> Self {
        Self {
            uid: Some(uid.clone()),
            resource_version: (!resource_version.is_empty()).then(|| resource_version.clone()),
        }
    }
}

/// Normal or warning.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum EventType {
    /// Informational.
    Normal,
    /// Something the user should look at.
    Warning,
}

/// An event about an object, for `describe` and logs.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ObjectEvent {
    /// The object.
    pub key: ObjectKey,
    /// Normal or warning.
    pub event_type: EventType,
    /// A CamelCase reason (`Evicted`, `OutOfCapacity`, ...).
    pub reason: String,
    /// A human message.
    pub message: String,
}

/// One IRI request for the node serving `pool`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct NodeRequest {
    /// The pool the object is bound to; the broker sends to the node that registered it.
    pub pool: PoolRef,
    /// The object the request is about.
    pub object: ObjectKey,
    /// Its uid (nodes label what they create with it).
    pub uid: Uid,
    /// Its generation when the request was computed (nodes ignore older ones).
    pub generation: Generation,
    /// The request.
    pub request: IriRequest,
}

/// A decision of a reconcile core, for the runtime to carry out.
///
/// Every command is idempotent at the level of the store: applying it twice, or after the same
/// change was made by someone else, leaves the same state (the runtime may get a conflict
/// or not-found, re-reads, and reconciles again).
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Create an object (fails harmlessly with AlreadyExists if it is there).
    Create(Box<Object>),
    /// Apply an RFC 7386 JSON merge patch to an object's `metadata`/`spec` (never `status`).
    Patch {
        /// Which object.
        key: ObjectKey,
        /// What must hold first.
        precondition: Precondition,
        /// The merge patch, e.g. `{"spec":{"claimRef":{"name":"m","uid":"u"}}}`.
        patch: serde_json::Value,
    },
    /// Replace an object's `status` with this JSON.
    UpdateStatus {
        /// Which object.
        key: ObjectKey,
        /// What must hold first.
        precondition: Precondition,
        /// The complete new status.
        status: serde_json::Value,
    },
    /// Delete an object (with finalizers: mark it deleting).
    Delete {
        /// Which object.
        key: ObjectKey,
        /// What must hold first.
        precondition: Precondition,
    },
    /// Add a finalizer (a no-op if present; refused on a deleting object).
    AddFinalizer {
        /// Which object.
        key: ObjectKey,
        /// The finalizer.
        finalizer: String,
    },
    /// Remove a finalizer (a no-op if absent).
    RemoveFinalizer {
        /// Which object.
        key: ObjectKey,
        /// The finalizer.
        finalizer: String,
    },
    /// Send an IRI request to a node.
    Node(Box<NodeRequest>),
    /// Record an event.
    Event(ObjectEvent),
    /// Reconcile `key` again after `after` even if nothing changes (time-based decisions).
    Requeue {
        /// Which object.
        key: ObjectKey,
        /// How long to wait.
        after: Duration,
    },
}

impl Command {
    /// The object the command is about.
    pub fn key(&self) -> ObjectKey {
        match self {
            Self::Create(o) => o.key(),
            Self::Patch { key, .. }
            | Self::UpdateStatus { key, .. }
            | Self::Delete { key, .. }
            | Self::AddFinalizer { key, .. }
            | Self::RemoveFinalizer { key, .. }
            | Self::Requeue { key, .. } => key.clone(),
            Self::Node(n) => n.object.clone(),
            Self::Event(e) => e.key.clone(),
        }
    }

    /// Whether the command writes to the store.
    pub fn writes_store(&self) -> bool {
        !matches!(self, Self::Node(_) | Self::Event(_) | Self::Requeue { .. })
    }
}
