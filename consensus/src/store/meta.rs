//! Reading and writing the `metadata` fields the store manages, on generic JSON objects, and the
//! shape checks a write must pass before the store touches it.

use serde_json::{Map, Value};

use super::types::StoreError;

/// Fields of `metadata` only the store writes: a client's values for them are replaced.
const STORE_MANAGED: [&str; 5] = [
    "uid",
    "creationTimestamp",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
];

/// Checks the parts of an object the store relies on; the API layer validates the rest.
pub(crate) fn validate(object: &Value) -> Result<(), StoreError> {
    let Some(meta) = object.get("metadata").and_then(Value::as_object) else {
        return Err(StoreError::invalid("metadata must be an object"));
    };
    if let Some(labels) = meta.get("labels").filter(|v| !v.is_null()) {
        let ok = labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err(StoreError::invalid(
                "metadata.labels must map strings to strings",
            ));
        }
    }
    if let Some(finalizers) = meta.get("finalizers").filter(|v| !v.is_null()) {
        let ok = finalizers
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string));
        if !ok {
            return Err(StoreError::invalid(
                "metadata.finalizers must be a list of strings",
            ));
        }
    }
    if let Some(owners) = meta.get("ownerReferences").filter(|v| !v.is_null()) {
        let ok = owners.as_array().is_some_and(|a| {
            a.iter().all(|o| {
                o.get("uid")
                    .and_then(Value::as_str)
                    .is_some_and(|u| !u.is_empty())
            })
        });
        if !ok {
            return Err(StoreError::invalid(
                "metadata.ownerReferences must be a list of objects with a uid",
            ));
        }
    }
    if let Some(rv) = meta.get("resourceVersion").filter(|v| !v.is_null())
        && !rv.is_string()
    {
        return Err(StoreError::invalid(
            "metadata.resourceVersion must be a string",
        ));
    }
    Ok(())
}

/// `metadata` of an object that passed [`validate`].
pub(crate) fn meta(object: &Value) -> &Map<String, Value> {
    object
        .get("metadata")
        .and_then(Value::as_object)
        .expect("validated objects have a metadata object")
}

/// Mutable `metadata` of an object that passed [`validate`].
pub(crate) fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("validated objects have a metadata object")
}

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// The client-supplied `resourceVersion` precondition: present and non-empty.
pub(crate) fn requested_version(object: &Value) -> Option<&str> {
    meta_str(object, "resourceVersion").filter(|rv| !rv.is_empty())
}

/// The labels (validated to be strings).
pub(crate) fn labels(object: &Value) -> Option<&Map<String, Value>> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

/// The finalizers, in order.
pub(crate) fn finalizers(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the finalizers; an empty list removes the field.
pub(crate) fn set_finalizers(object: &mut Value, finalizers: &[String]) {
    let meta = meta_mut(object);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        let list = finalizers.iter().cloned().map(Value::String).collect();
        meta.insert("finalizers".into(), Value::Array(list));
    }
}

/// The uids the object's `ownerReferences` point at.
pub(crate) fn owner_uids(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Drops the owner references that point at `uid`; an empty list removes the field.
pub(crate) fn remove_owner(object: &mut Value, uid: &str) {
    let meta = meta_mut(object);
    let Some(Value::Array(owners)) = meta.get_mut("ownerReferences") else {
        return;
    };
    owners.retain(|o| o.get("uid").and_then(Value::as_str) != Some(uid));
    if owners.is_empty() {
        meta.remove("ownerReferences");
    }
}

/// Whether `deletionTimestamp` is set.
pub(crate) fn is_deleting(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

/// The `generation` (1 if absent).
pub(crate) fn generation(object: &Value) -> i64 {
    object
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// What a `generation` tracks: `spec`, or for kinds without one, everything but `metadata`,
/// `status`, `apiVersion` and `kind`.
pub(crate) fn desired_part(object: &Value) -> Value {
    if let Some(spec) = object.get("spec") {
        return spec.clone();
    }
    let mut rest = object.as_object().cloned().unwrap_or_default();
    for field in ["metadata", "status", "apiVersion", "kind"] {
        rest.remove(field);
    }
    Value::Object(rest)
}

/// Copies the store-managed metadata fields from `from` into `into` (removing those `from`
/// lacks), so a client cannot set them.
pub(crate) fn keep_managed(into: &mut Value, from: &Value) {
    let source = meta(from).clone();
    let target = meta_mut(into);
    for field in STORE_MANAGED {
        match source.get(field) {
            Some(value) => target.insert(field.into(), value.clone()),
            None => target.remove(field),
        };
    }
}

/// Sets `status` to `status`, or removes it for `None`.
pub(crate) fn set_status(object: &mut Value, status: Option<&Value>) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    match status {
        Some(status) => map.insert("status".into(), status.clone()),
        None => map.remove("status"),
    };
}

/// Whether two objects are the same apart from `metadata.resourceVersion`.
pub(crate) fn same_ignoring_version(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn desired_part_is_spec_or_everything_but_bookkeeping() {
        let with_spec = json!({"kind": "A", "metadata": {}, "spec": {"x": 1}, "status": {"y": 2}});
        assert_eq!(desired_part(&with_spec), json!({"x": 1}));
        let no_spec = json!({"kind": "S", "metadata": {}, "data": {"k": "v"}, "status": {}});
        assert_eq!(desired_part(&no_spec), json!({"data": {"k": "v"}}));
    }

    #[test]
    fn validate_rejects_bad_shapes_without_panicking() {
        for bad in [
            json!({}),
            json!({"metadata": 3}),
            json!({"metadata": {"labels": {"a": 1}}}),
            json!({"metadata": {"finalizers": "x"}}),
            json!({"metadata": {"ownerReferences": [{"name": "no-uid"}]}}),
            json!({"metadata": {"resourceVersion": 5}}),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
        assert!(validate(&json!({"metadata": {"labels": {"a": "b"}}})).is_ok());
    }
}
