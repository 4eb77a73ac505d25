//! `object.create`, `object.get`, `object.list` and `object.delete`.

use ferrocore_api::Object;
use ferrocore_api::decode::object_from_value;
use ferrocore_consensus::{Command, ListOptions, Precondition, Selector};
use serde_json::{Value, json};

use super::params::{DeleteParams, GetParams, ListParams, ObjectParams};
use super::{ApiError, Inner, LIST_LIMIT_MAX, Reason, Target, key_of, kind_named};

impl Inner {
    /// Admits a new object (strict decoding, defaults, validation), seals Secret data, and
    /// proposes it.
    pub(super) async fn create(&self, params: ObjectParams) -> Result<Value, ApiError> {
        let target = target_of(&params.object);
        let mut object =
            object_from_value(params.object).map_err(|e| ApiError::decode(&target, e))?;
        object.set_defaults();
        let errors = object.validate();
        if !errors.is_empty() {
            return Err(ApiError::invalid(&target_of_object(&object), errors));
        }
        // Held until the write commits, so the next create in the namespace counts this one.
        let _quota = self.admit_quota(&object).await?;
        let mut json = object.to_value();
        self.cipher.seal(&mut json, None)?;
        let outcome = self.write(self.node.create_command(json)).await?;
        Ok(json!({"object": self.reveal(outcome.object.value())?}))
    }

    pub(super) async fn get(&self, params: GetParams) -> Result<Value, ApiError> {
        let kind = kind_named(&params.kind)?;
        let key = key_of(kind, params.namespace.as_deref(), &params.name)?;
        let found = self
            .read(params.stale, |store| store.get(&key).cloned())
            .await?;
        let object = found.ok_or_else(|| {
            ApiError::app(Reason::NotFound, format!("{key} not found")).about(&Target::from(&key))
        })?;
        Ok(json!({"object": self.reveal(object.value())?}))
    }

    pub(super) async fn list(&self, params: ListParams) -> Result<Value, ApiError> {
        let kind = kind_named(&params.kind)?;
        let selector = Selector::parse(params.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::Params(e.to_string()))?;
        let namespace = params
            .namespace
            .filter(|ns| kind.namespaced() && !ns.is_empty());
        let limit = params
            .limit
            .filter(|l| *l > 0)
            .map_or(LIST_LIMIT_MAX, |l| l.min(LIST_LIMIT_MAX));
        let options = ListOptions {
            namespace,
            selector,
            limit: Some(limit),
            continue_token: params.continue_token,
        };
        let page = self
            .read(params.stale, |store| {
                store.list(kind.group(), kind.name(), &options)
            })
            .await??;
        let items = page
            .items
            .iter()
            .map(|o| self.reveal(o.value()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = json!({
            "items": items,
            "resourceVersion": page.revision.to_resource_version(),
        });
        if let Some(token) = page.continue_token {
            out["continue"] = Value::String(token);
        }
        Ok(out)
    }

    /// Deletes (or, with finalizers, marks deleting); dependents go in the background.
    pub(super) async fn delete(&self, params: DeleteParams) -> Result<Value, ApiError> {
        let kind = kind_named(&params.kind)?;
        let key = key_of(kind, params.namespace.as_deref(), &params.name)?;
        let command = Command::Delete {
            key,
            precondition: Precondition {
                uid: None,
                resource_version: params.resource_version.filter(|rv| !rv.is_empty()),
            },
            now: self.node.now(),
        };
        let outcome = self.write(command).await?;
        Ok(json!({
            "object": self.reveal(outcome.object.value())?,
            "removed": outcome.removed,
        }))
    }
}

/// What an error about a client's (possibly malformed) object names.
pub(super) fn target_of(object: &Value) -> Target {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Target {
        kind: text("/kind"),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name"),
    }
}

pub(super) fn target_of_object(object: &Object) -> Target {
    Target {
        kind: object.kind().name().to_owned(),
        namespace: object.meta().namespace.clone(),
        name: object.meta().name.clone(),
    }
}
