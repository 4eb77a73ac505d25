//! `object.update`, `object.update_status` and `object.patch`: each reads the stored object
//! linearizably, builds the new one, admits it as an update of the stored one, and proposes it
//! conditioned on the `resourceVersion` it read.

use ferrocore_api::decode::object_from_value;
use ferrocore_api::storage::validate_volume_resize;
use ferrocore_api::{Kind, Object};
use ferrocore_consensus::{Command, JsonObject, ObjectKey, ObjectStore, StoreError, merge_patch};
use serde_json::{Map, Value, json};

use super::objects::{target_of, target_of_object};
use super::params::{ObjectParams, PatchParams};
use super::{ADMISSION_RETRIES_MAX, ApiError, Inner, Reason, Target, key_of, kind_named};

/// Metadata only the store sets: an update keeps the stored values.
const MANAGED_META: [&str; 4] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "generation",
];

/// Which write an admitted change becomes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Write {
    Spec,
    Status,
}

/// What a write was read against: the stored object, sealed and opened, and the class of a
/// Volume (for its resize rule).
struct Current {
    sealed: JsonObject,
    plain: Value,
    volume_class: Option<Value>,
}

impl Inner {
    pub(super) async fn update(&self, params: ObjectParams) -> Result<Value, ApiError> {
        let key = key_from_object(&params.object)?;
        let pinned = requested_version(&params.object);
        self.admit_loop(&key, pinned.is_some(), Write::Spec, |current| {
            let mut next = params.object.clone();
            if let Some(meta) = meta_mut(&mut next) {
                let version = pinned.clone().unwrap_or_else(|| version_of(&current.plain));
                meta.insert("resourceVersion".into(), Value::String(version));
            }
            Ok(next)
        })
        .await
    }

    pub(super) async fn update_status(&self, params: ObjectParams) -> Result<Value, ApiError> {
        let key = key_from_object(&params.object)?;
        let pinned = requested_version(&params.object);
        let status = params.object.get("status").cloned();
        self.admit_loop(&key, pinned.is_some(), Write::Status, |current| {
            let mut next = current.plain.clone();
            set_or_remove(&mut next, "status", status.clone());
            if let Some(rv) = &pinned
                && let Some(meta) = meta_mut(&mut next)
            {
                meta.insert("resourceVersion".into(), Value::String(rv.clone()));
            }
            Ok(next)
        })
        .await
    }

    pub(super) async fn patch(&self, params: PatchParams) -> Result<Value, ApiError> {
        let kind = kind_named(&params.kind)?;
        let key = key_of(kind, params.namespace.as_deref(), &params.name)?;
        if !params.patch.is_object() {
            return Err(ApiError::Params(
                "patch must be a JSON object (RFC 7386)".into(),
            ));
        }
        let pinned = params
            .resource_version
            .clone()
            .filter(|rv| !rv.is_empty())
            .or_else(|| requested_version(&params.patch));
        self.admit_loop(&key, pinned.is_some(), Write::Spec, |current| {
            let mut next = current.plain.clone();
            merge_patch(&mut next, &params.patch)
                .map_err(|e| ApiError::from(e).about(&Target::from(&key)))?;
            // The main resource's patch cannot change status (as `object.update`).
            set_or_remove(&mut next, "status", current.plain.get("status").cloned());
            if let Some(meta) = meta_mut(&mut next) {
                let version = pinned.clone().unwrap_or_else(|| version_of(&current.plain));
                meta.insert("resourceVersion".into(), Value::String(version));
            }
            Ok(next)
        })
        .await
    }

    /// Reads the object at `key`, lets `build` make the new object from it, admits and proposes
    /// that; a conflict on a version the client did not pin is read and admitted again.
    async fn admit_loop(
        &self,
        key: &ObjectKey,
        client_pinned: bool,
        write: Write,
        build: impl Fn(&Current) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            let current = self.current(key).await?;
            let next = build(&current)?;
            let command = self.admit(key, &current, next, write)?;
            match self.write(command).await {
                Err(ApiError::App {
                    reason: Reason::Conflict,
                    ..
                }) if !client_pinned && attempt < ADMISSION_RETRIES_MAX => attempt += 1,
                Err(e) => return Err(e),
                Ok(outcome) => return Ok(json!({"object": self.reveal(outcome.object.value())?})),
            }
        }
    }

    /// The stored object at `key` (linearizable), opened, with a Volume's class.
    async fn current(&self, key: &ObjectKey) -> Result<Current, ApiError> {
        let (found, class) = self
            .read(false, |store| {
                let found = store.get(key).cloned();
                let class = found
                    .as_ref()
                    .and_then(|o| volume_class_of(store, o.value()));
                (found, class)
            })
            .await?;
        let sealed = found.ok_or_else(|| ApiError::from(StoreError::NotFound(key.clone())))?;
        let plain = self.reveal(sealed.value())?;
        Ok(Current {
            sealed,
            plain,
            volume_class: class,
        })
    }

    /// Admission of `next` as a change of `current`: strict decoding, store-managed metadata
    /// kept, defaults, `validate_update`, the Volume resize rule; then Secret data sealed.
    fn admit(
        &self,
        key: &ObjectKey,
        current: &Current,
        mut next: Value,
        write: Write,
    ) -> Result<Command, ApiError> {
        let target = Target::from(key);
        if key_from_object(&next).ok().as_ref() != Some(key) {
            return Err(ApiError::app(
                Reason::Invalid,
                "apiVersion, kind, namespace and name cannot change",
            )
            .about(&target));
        }
        keep_managed(&mut next, &current.plain, write == Write::Spec);
        let old = object_from_value(current.plain.clone())
            .map_err(|e| ApiError::Internal(format!("stored object {key} does not decode: {e}")))?;
        let mut new = object_from_value(next).map_err(|e| ApiError::decode(&target, e))?;
        if write == Write::Spec {
            new.set_defaults();
        }
        let mut errors = new.validate_update(&old);
        if let (Object::Volume(new_volume), Object::Volume(old_volume)) = (&new, &old)
            && let Some(class) = &current.volume_class
            && let Ok(Object::VolumeClass(class)) = object_from_value(class.clone())
        {
            errors.extend(validate_volume_resize(new_volume, old_volume, &class));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&target_of_object(&new), errors));
        }
        let mut json = new.to_value();
        self.cipher.seal(&mut json, Some(current.sealed.value()))?;
        Ok(match write {
            Write::Spec => Command::Update {
                object: JsonObject::new(json),
            },
            Write::Status => Command::UpdateStatus {
                object: JsonObject::new(json),
            },
        })
    }
}

/// The VolumeClass a stored Volume names, if any.
fn volume_class_of(store: &ObjectStore, object: &Value) -> Option<Value> {
    if object.get("kind").and_then(Value::as_str) != Some(Kind::Volume.name()) {
        return None;
    }
    let name = object
        .pointer("/spec/volumeClassRef/name")
        .and_then(Value::as_str)?;
    let key = ObjectKey::new(
        Kind::VolumeClass.group(),
        Kind::VolumeClass.name(),
        "",
        name,
    );
    store.get(&key).map(|c| c.value().clone())
}

/// The store key an object names, or `Invalid` if it names no served kind.
fn key_from_object(object: &Value) -> Result<ObjectKey, ApiError> {
    let target = target_of(object);
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(kind) = Kind::from_type(api_version, &target.kind) else {
        // Let the decoder say precisely what is wrong.
        let error = object_from_value(object.clone()).err().map_or_else(
            || ApiError::app(Reason::Invalid, "not an object of a served kind"),
            |e| ApiError::decode(&target, e),
        );
        return Err(error.about(&target));
    };
    if target.name.is_empty() {
        let message = "metadata.name: Required value";
        return Err(ApiError::app(Reason::Invalid, message).about(&target));
    }
    key_of(kind, Some(&target.namespace), &target.name).map_err(|e| match e {
        ApiError::Params(m) => ApiError::app(Reason::Invalid, m).about(&target),
        other => other,
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

fn set_or_remove(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
    }
}

/// Copies store-managed metadata (and, for a spec write, `status`) from the stored object, as
/// the store will keep them: validation then compares like with like.
fn keep_managed(next: &mut Value, stored: &Value, keep_status: bool) {
    let status = stored.get("status").cloned();
    if let Some(meta) = meta_mut(next) {
        for field in MANAGED_META {
            match stored.pointer(&format!("/metadata/{field}")) {
                Some(v) => meta.insert(field.to_owned(), v.clone()),
                None => meta.remove(field),
            };
        }
    }
    if keep_status {
        set_or_remove(next, "status", status);
    }
}
