//! JSON merge patch (RFC 7386), applied on the leader before proposing an `Update`.

use serde_json::Value;

/// Longest nesting a patch may have: a bound on recursion for untrusted input.
pub const PATCH_DEPTH_MAX: usize = 64;

/// Applies `patch` to `target` as RFC 7386 says: objects merge key by key, `null` removes a key,
/// anything else replaces.
///
/// # Errors
/// [`super::StoreError::Invalid`] if the patch nests deeper than [`PATCH_DEPTH_MAX`].
pub fn merge_patch(target: &mut Value, patch: &Value) -> Result<(), super::StoreError> {
    merge(target, patch, 0)
}

fn merge(target: &mut Value, patch: &Value, depth: usize) -> Result<(), super::StoreError> {
    if depth > PATCH_DEPTH_MAX {
        return Err(super::StoreError::invalid("merge patch nests too deeply"));
    }
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let map = target.as_object_mut().expect("made an object just above");
    for (key, value) in fields {
        if value.is_null() {
            map.remove(key);
        } else {
            merge(
                map.entry(key.clone()).or_insert(Value::Null),
                value,
                depth + 1,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!(["a"]), json!({"a": "b"}), json!({"a": "b"})),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch).unwrap();
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn deep_patches_are_refused() {
        let mut patch = json!(1);
        for _ in 0..=PATCH_DEPTH_MAX + 1 {
            patch = json!({ "x": patch });
        }
        assert!(merge_patch(&mut json!({}), &patch).is_err());
    }
}
