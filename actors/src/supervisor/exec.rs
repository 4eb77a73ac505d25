//! Carrying out the store writes a core asked for (docs/control-plane.md, "How the runtime
//! carries out commands").
//!
//! Writes are conditioned on the `resourceVersion` of the object as the core saw it (the
//! cache's copy, or the command's own precondition): if anything changed since, the store
//! answers `Conflict` and nothing is retried here — the change arrives through the watch, wakes
//! the actor, and the core decides again on fresh inputs. Within one batch, a write that
//! succeeded moves the expected version of its object forward, so the next command of the same
//! batch (computed from the same view) still applies. Creates go through the API's admission
//! (defaults, validation, quota, Secret sealing); deletes are guarded by uid.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrocore_api::{Kind, ObjectKey};
use ferrocore_consensus::{
    Command as StoreCommand, JsonObject, Precondition as StorePrecondition, ProposeError,
    StoreError, merge_patch,
};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::cache::store_key;
use super::{ControllerNode, SharedState};
use crate::api::{ApiError, ApiService, Reason};
use crate::reconcile::{Command, Precondition};

/// Store writes in flight at once across all actors: enough to fill Raft's batches, few enough
/// that 50,000 actors waking together do not queue 50,000 proposals.
pub(crate) const WRITES_IN_FLIGHT_MAX: usize = 256;

/// What became of one write.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Applied {
    /// The store changed.
    Changed,
    /// Nothing to do (already so, object gone, precondition about another object).
    Unchanged,
    /// The object changed since the core saw it: wait for the watch.
    Stale,
    /// Refused (admission, quota, store rule); the message says why.
    Refused(String),
}

/// Carries out writes against the leader's store.
#[derive(Clone, Debug)]
pub(crate) struct Exec {
    node: ControllerNode,
    api: ApiService,
    state: SharedState,
    writes: Arc<Semaphore>,
}

/// Expected `resourceVersion` per object within one batch of commands.
pub(crate) type Versions = BTreeMap<ObjectKey, String>;

impl Exec {
    pub(crate) fn new(node: ControllerNode, api: ApiService, state: SharedState) -> Self {
        Self {
            node,
            api,
            state,
            writes: Arc::new(Semaphore::new(WRITES_IN_FLIGHT_MAX)),
        }
    }

    /// The cipher that opens Secret data (for the cache).
    pub(crate) fn cipher(&self) -> &crate::api::SecretCipher {
        self.api.cipher()
    }

    /// Carries out one store-writing command.
    pub(crate) async fn write(&self, command: &Command, versions: &mut Versions) -> Applied {
        let Ok(_permit) = self.writes.acquire().await else {
            return Applied::Unchanged;
        };
        match command {
            Command::Create(object) => self.create(object.to_value()).await,
            Command::Patch {
                key,
                precondition,
                patch,
            } => self.patch(key, precondition, patch, versions).await,
            Command::UpdateStatus {
                key,
                precondition,
                status,
            } => {
                self.update_status(key, precondition, status, versions)
                    .await
            }
            Command::Delete { key, precondition } => self.delete(key, precondition).await,
            Command::AddFinalizer { key, finalizer } => {
                self.add_finalizer(key, finalizer, versions).await
            }
            Command::RemoveFinalizer { key, finalizer } => {
                let command = StoreCommand::RemoveFinalizer {
                    key: store_key(key),
                    finalizer: finalizer.clone(),
                };
                self.propose(key, command, versions).await
            }
            Command::Node(_) | Command::Event(_) | Command::Requeue { .. } => Applied::Unchanged,
        }
    }

    async fn create(&self, object: Value) -> Applied {
        match self.api.create_internal(object).await {
            Ok(_) => Applied::Changed,
            Err(ApiError::App {
                reason: Reason::AlreadyExists,
                ..
            }) => Applied::Unchanged,
            Err(e) => Applied::Refused(e.to_string()),
        }
    }

    /// The object's store JSON and the version to condition a write on, if the object is the
    /// one `precondition` names.
    fn current(
        &self,
        key: &ObjectKey,
        precondition: &Precondition,
        versions: &Versions,
    ) -> Option<(Value, String)> {
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = state.cache.stored(key)?;
        if precondition
            .uid
            .as_ref()
            .is_some_and(|uid| uid.0 != stored.uid)
        {
            return None;
        }
        let version = precondition
            .resource_version
            .as_ref()
            .map(|rv| rv.0.clone())
            .or_else(|| versions.get(key).cloned())
            .unwrap_or_else(|| stored.resource_version.clone());
        Some((stored.raw.value().clone(), version))
    }

    async fn patch(
        &self,
        key: &ObjectKey,
        precondition: &Precondition,
        patch: &Value,
        versions: &mut Versions,
    ) -> Applied {
        let Some((mut object, version)) = self.current(key, precondition, versions) else {
            return Applied::Unchanged;
        };
        if key.kind == Kind::Secret
            && (patch.get("data").is_some() || patch.get("stringData").is_some())
        {
            // Secret data must be sealed: the API's patch does it.
            return match self
                .api
                .patch_internal(key, patch.clone(), Some(version))
                .await
            {
                Ok(_) => Applied::Changed,
                Err(ApiError::App {
                    reason: Reason::Conflict,
                    ..
                }) => Applied::Stale,
                Err(e) => Applied::Refused(e.to_string()),
            };
        }
        if let Err(e) = merge_patch(&mut object, patch) {
            return Applied::Refused(e.to_string());
        }
        set_version(&mut object, &version);
        let command = StoreCommand::Update {
            object: JsonObject::new(object),
        };
        self.propose(key, command, versions).await
    }

    async fn update_status(
        &self,
        key: &ObjectKey,
        precondition: &Precondition,
        status: &Value,
        versions: &mut Versions,
    ) -> Applied {
        let Some((mut object, version)) = self.current(key, precondition, versions) else {
            return Applied::Unchanged;
        };
        if let Some(map) = object.as_object_mut() {
            map.insert("status".into(), status.clone());
        }
        set_version(&mut object, &version);
        let command = StoreCommand::UpdateStatus {
            object: JsonObject::new(object),
        };
        self.propose(key, command, versions).await
    }

    async fn add_finalizer(
        &self,
        key: &ObjectKey,
        finalizer: &str,
        versions: &mut Versions,
    ) -> Applied {
        let Some((mut object, version)) = self.current(key, &Precondition::default(), versions)
        else {
            return Applied::Unchanged;
        };
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return Applied::Unchanged;
        }
        let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Applied::Unchanged;
        };
        let list = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(items) = list.as_array_mut() else {
            return Applied::Unchanged;
        };
        if items.iter().any(|f| f.as_str() == Some(finalizer)) {
            return Applied::Unchanged;
        }
        items.push(Value::String(finalizer.to_owned()));
        set_version(&mut object, &version);
        let command = StoreCommand::Update {
            object: JsonObject::new(object),
        };
        self.propose(key, command, versions).await
    }

    async fn delete(&self, key: &ObjectKey, precondition: &Precondition) -> Applied {
        let command = StoreCommand::Delete {
            key: store_key(key),
            precondition: StorePrecondition {
                uid: precondition.uid.as_ref().map(|u| u.0.clone()),
                resource_version: precondition.resource_version.as_ref().map(|r| r.0.clone()),
            },
            now: self.node.now(),
        };
        self.propose(key, command, &mut Versions::new()).await
    }

    async fn propose(
        &self,
        key: &ObjectKey,
        command: StoreCommand,
        versions: &mut Versions,
    ) -> Applied {
        match self.node.propose(command).await {
            Ok(outcome) => {
                let before = versions.get(key).cloned();
                if let Some(rv) = outcome.object.resource_version() {
                    versions.insert(key.clone(), rv.to_owned());
                }
                if before.as_deref() == outcome.object.resource_version() {
                    Applied::Unchanged
                } else {
                    Applied::Changed
                }
            }
            Err(ProposeError::Store(StoreError::NotFound(_))) => Applied::Unchanged,
            Err(ProposeError::Store(StoreError::Conflict { .. })) => Applied::Stale,
            Err(e) => Applied::Refused(e.to_string()),
        }
    }
}

fn set_version(object: &mut Value, version: &str) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(version.to_owned()));
    }
}
