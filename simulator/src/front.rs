//! The API service as a simulated controller runs it: the same admission the real service
//! (`actors/src/api`) runs — strict decoding, defaults, `validate` / `validate_update` against a
//! linearizable read of the stored object, store-managed metadata kept — and then a proposal
//! through the real consensus node (forwarded to the leader from a follower).
//!
//! The real `ApiService` is bound to the tokio runtime; until it is generic over openraft's
//! runtime, this module mirrors its admission step for step (create, update, update-status,
//! merge patch, delete, get, list). Secret sealing is left out: the workload has no Secrets.

use std::time::Duration;

use ferrocore_api::Object;
use ferrocore_api::decode::object_from_value;
use ferrocore_consensus::{
    Command, JsonObject, ListOptions, ObjectKey, ObjectStore, Outcome, Precondition, ProposeError,
    Revision, StoreError, merge_patch,
};
use serde_json::{Map, Value};

use crate::controller::Process;
use crate::rt::timeout;

/// A write not committed within this gets `Unknown` (it may still commit), as the real
/// service's write timeout.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A linearizable read not confirmed within this gets `Unavailable`.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Admission is retried this often when a write the client did not pin conflicts with a change
/// that slipped in after the read (as `ADMISSION_RETRIES_MAX` in the real service).
const ADMISSION_RETRIES_MAX: u32 = 5;

/// Metadata only the store sets: an update keeps the stored values.
const MANAGED_META: [&str; 4] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "generation",
];

/// A client's call.
#[derive(Clone, Debug)]
pub(crate) enum Request {
    Create {
        object: Value,
    },
    /// `metadata.resourceVersion`, when set, is the client's precondition.
    Update {
        object: Value,
    },
    UpdateStatus {
        object: Value,
    },
    Patch {
        key: ObjectKey,
        patch: Value,
    },
    Delete {
        key: ObjectKey,
        resource_version: Option<String>,
    },
    Get {
        key: ObjectKey,
    },
    List {
        key: ObjectKey,
    },
}

/// A successful reply.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A write went through: the store's revision after it, and the object after it.
    Written {
        revision: Revision,
        object: JsonObject,
        removed: bool,
    },
    /// A read found this object.
    Found { object: JsonObject },
    /// A list at this revision.
    Listed {
        revision: Revision,
        items: Vec<JsonObject>,
    },
}

/// Why a call did not succeed, classed by what it says about the store.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Refusal {
    /// Admission or the store refused the object (nothing was written).
    Invalid(String),
    NotFound,
    AlreadyExists,
    Conflict,
    /// Nothing was written (no leader, not recovered, read not confirmed).
    Unavailable(String),
    /// It may or may not have been written.
    Unknown(String),
}

/// Which write an admitted change becomes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Write {
    Spec,
    Status,
}

/// Handles one call on `process`.
pub(crate) async fn handle(
    process: &Process,
    request: Request,
    ack_early: bool,
) -> Result<Reply, Refusal> {
    if !process.ready() {
        return Err(Refusal::Unavailable("still recovering its store".into()));
    }
    let front = Front { process, ack_early };
    match request {
        Request::Create { object } => front.create(object).await,
        Request::Update { object } => front.update(object, Write::Spec).await,
        Request::UpdateStatus { object } => front.update(object, Write::Status).await,
        Request::Patch { key, patch } => front.patch(&key, &patch).await,
        Request::Delete {
            key,
            resource_version,
        } => front.delete(key, resource_version).await,
        Request::Get { key } => {
            let found = front.read(|s| s.get(&key).cloned()).await?;
            found
                .map(|object| Reply::Found { object })
                .ok_or(Refusal::NotFound)
        }
        Request::List { key } => front.list(&key).await,
    }
}

struct Front<'a> {
    process: &'a Process,
    /// The planted bug "acknowledge a write before it commits" is on.
    ack_early: bool,
}

impl Front<'_> {
    async fn create(&self, object: Value) -> Result<Reply, Refusal> {
        let mut object = object_from_value(object).map_err(|e| Refusal::Invalid(e.to_string()))?;
        object.set_defaults();
        let errors = object.validate();
        if !errors.is_empty() {
            return Err(Refusal::Invalid(format!("{errors:?}")));
        }
        let command = self.process.node.create_command(object.to_value());
        self.write(command).await
    }

    async fn update(&self, object: Value, write: Write) -> Result<Reply, Refusal> {
        let key = ObjectKey::of(&object).map_err(|e| Refusal::Invalid(e.to_string()))?;
        let pinned = requested_version(&object);
        let status = object.get("status").cloned();
        self.admit_loop(&key, pinned.is_some(), write, |current| match write {
            Write::Spec => {
                let mut next = object.clone();
                set_version(
                    &mut next,
                    pinned.clone().unwrap_or_else(|| version_of(current)),
                );
                Ok(next)
            }
            Write::Status => {
                let mut next = current.clone();
                set_or_remove(&mut next, "status", status.clone());
                if let Some(rv) = &pinned {
                    set_version(&mut next, rv.clone());
                }
                Ok(next)
            }
        })
        .await
    }

    async fn patch(&self, key: &ObjectKey, patch: &Value) -> Result<Reply, Refusal> {
        let pinned = requested_version(patch);
        self.admit_loop(key, pinned.is_some(), Write::Spec, |current| {
            let mut next = current.clone();
            merge_patch(&mut next, patch).map_err(|e| Refusal::Invalid(e.to_string()))?;
            // A patch of the main resource cannot change status.
            set_or_remove(&mut next, "status", current.get("status").cloned());
            set_version(
                &mut next,
                pinned.clone().unwrap_or_else(|| version_of(current)),
            );
            Ok(next)
        })
        .await
    }

    async fn delete(
        &self,
        key: ObjectKey,
        resource_version: Option<String>,
    ) -> Result<Reply, Refusal> {
        let command = Command::Delete {
            key,
            precondition: Precondition {
                uid: None,
                resource_version,
            },
            now: self.process.node.now(),
        };
        self.write(command).await
    }

    async fn list(&self, key: &ObjectKey) -> Result<Reply, Refusal> {
        let options = ListOptions {
            namespace: Some(key.namespace.clone()),
            ..ListOptions::default()
        };
        let page = self
            .read(|s| s.list(&key.group, &key.kind, &options))
            .await?
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        Ok(Reply::Listed {
            revision: page.revision,
            items: page.items,
        })
    }

    /// Reads the object at `key`, builds the new one from it, admits and proposes that; a
    /// conflict on a version the client did not pin is read and admitted again.
    async fn admit_loop(
        &self,
        key: &ObjectKey,
        client_pinned: bool,
        write: Write,
        build: impl Fn(&Value) -> Result<Value, Refusal>,
    ) -> Result<Reply, Refusal> {
        let mut attempt = 0;
        loop {
            let current = self.read(|s| s.get(key).cloned()).await?;
            let current = current.ok_or(Refusal::NotFound)?;
            let next = build(current.value())?;
            let command = admit(key, current.value(), next, write)?;
            match self.write(command).await {
                Err(Refusal::Conflict) if !client_pinned && attempt < ADMISSION_RETRIES_MAX => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn read<T: Send>(
        &self,
        read: impl FnOnce(&ObjectStore) -> T + Send,
    ) -> Result<T, Refusal> {
        match timeout(READ_TIMEOUT, self.process.node.read_linearizable(read)).await {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(Refusal::Unavailable(e.to_string())),
            None => Err(Refusal::Unavailable("read not confirmed in time".into())),
        }
    }

    async fn write(&self, command: Command) -> Result<Reply, Refusal> {
        if self.ack_early {
            return self.write_early(command).await;
        }
        let outcome = match timeout(WRITE_TIMEOUT, self.process.node.write(command)).await {
            Some(result) => result.map_err(refusal)?,
            None => return Err(Refusal::Unknown("not committed in time".into())),
        };
        Ok(written(outcome))
    }

    /// The planted bug: the leader answers from a private copy of its store as if the write had
    /// committed, and proposes it in the background.
    #[cfg(feature = "planted-bugs")]
    async fn write_early(&self, command: Command) -> Result<Reply, Refusal> {
        if !self.process.node.raft().is_leader() {
            let outcome = timeout(WRITE_TIMEOUT, self.process.node.write(command)).await;
            let outcome =
                outcome.ok_or_else(|| Refusal::Unknown("not committed in time".into()))?;
            return outcome.map(written).map_err(refusal);
        }
        let speculative = self.process.node.read_stale(|s| s.clone().apply(&command));
        let node = self.process.node.clone();
        crate::rt::spawn(async move { drop(node.propose(command).await) });
        speculative
            .map(written)
            .map_err(|e| refusal(ProposeError::Store(e)))
    }

    /// Without the feature there is no planted bug: the run refuses to start with one.
    #[cfg(not(feature = "planted-bugs"))]
    async fn write_early(&self, _command: Command) -> Result<Reply, Refusal> {
        Err(Refusal::Unavailable(
            "planted bugs are not compiled in".into(),
        ))
    }
}

fn written(outcome: Outcome) -> Reply {
    Reply::Written {
        revision: outcome.revision,
        object: outcome.object,
        removed: outcome.removed,
    }
}

/// What a failed proposal says about the store.
fn refusal(e: ProposeError) -> Refusal {
    match e {
        ProposeError::Store(StoreError::NotFound(_)) => Refusal::NotFound,
        ProposeError::Store(StoreError::AlreadyExists(_)) => Refusal::AlreadyExists,
        ProposeError::Store(StoreError::Conflict { .. }) => Refusal::Conflict,
        ProposeError::Store(StoreError::Invalid(m)) => Refusal::Invalid(m),
        ProposeError::Store(other @ StoreError::Compacted { .. }) => {
            Refusal::Unknown(other.to_string())
        }
        // Refused before it was appended anywhere: no leader, or this one is not ready.
        ProposeError::ForwardToLeader { .. } => Refusal::Unavailable("no leader".into()),
        // Raft failed part-way (leadership lost, forwarding timed out): it may still commit.
        ProposeError::Raft(m) => Refusal::Unknown(m),
    }
}

/// Admission of `next` as a change of `current`: strict decoding, store-managed metadata kept,
/// defaults (spec writes), `validate_update`.
fn admit(
    key: &ObjectKey,
    current: &Value,
    mut next: Value,
    write: Write,
) -> Result<Command, Refusal> {
    if ObjectKey::of(&next).ok().as_ref() != Some(key) {
        return Err(Refusal::Invalid(
            "apiVersion, kind, namespace and name cannot change".into(),
        ));
    }
    keep_managed(&mut next, current);
    let old: Object = object_from_value(current.clone())
        .map_err(|e| Refusal::Invalid(format!("stored object {key} does not decode: {e}")))?;
    let mut new = object_from_value(next).map_err(|e| Refusal::Invalid(e.to_string()))?;
    if write == Write::Spec {
        new.set_defaults();
    }
    let errors = new.validate_update(&old);
    if !errors.is_empty() {
        return Err(Refusal::Invalid(format!("{errors:?}")));
    }
    let object = JsonObject::new(new.to_value());
    Ok(match write {
        Write::Spec => Command::Update { object },
        Write::Status => Command::UpdateStatus { object },
    })
}

/// A non-empty `metadata.resourceVersion` the client asked to be checked.
fn requested_version(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
        .map(str::to_owned)
}

fn version_of(object: &Value) -> String {
    requested_version(object).unwrap_or_default()
}

fn meta_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    object.get_mut("metadata").and_then(Value::as_object_mut)
}

fn set_version(object: &mut Value, version: String) {
    if let Some(meta) = meta_mut(object) {
        meta.insert("resourceVersion".into(), Value::String(version));
    }
}

fn set_or_remove(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
    }
}

/// Copies store-managed metadata and `status` from the stored object, as the store keeps them.
fn keep_managed(next: &mut Value, stored: &Value) {
    let status = stored.get("status").cloned();
    if let Some(meta) = meta_mut(next) {
        for field in MANAGED_META {
            match stored.pointer(&format!("/metadata/{field}")) {
                Some(v) => meta.insert(field.to_owned(), v.clone()),
                None => meta.remove(field),
            };
        }
    }
    set_or_remove(next, "status", status);
}
