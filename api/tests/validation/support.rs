//! Helpers: decode a YAML object, default it, validate it, and compare error lines.

use ferrocore_api::Object;
use ferrocore_api::decode::{DecodeError, decode_object, default_namespace};

/// The object in `yaml`, defaulted as the API server would (namespace `default`).
pub(crate) fn object(yaml: &str) -> Object {
    let mut obj = match decode_object(yaml) {
        Ok(obj) => obj,
        Err(DecodeError::Fields {
            partial: Some(obj), ..
        }) => *obj,
        Err(e) => panic!("test manifest does not decode: {e}\n{yaml}"),
    };
    default_namespace(&mut obj, "default");
    obj.set_defaults();
    obj
}

/// The validation errors of the object in `yaml`, one line each.
pub(crate) fn errors(yaml: &str) -> Vec<String> {
    object(yaml)
        .validate()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The errors of updating `old` to `new`.
pub(crate) fn update_errors(old: &str, new: &str) -> Vec<String> {
    let (old, new) = (object(old), object(new));
    new.validate_update(&old)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Asserts that `errs` holds exactly one line equal to `want`.
#[track_caller]
pub(crate) fn assert_error(errs: &[String], want: &str) {
    assert!(
        errs.iter().filter(|e| e.as_str() == want).count() == 1,
        "expected exactly one error\n  {want}\ngot:\n  {}",
        errs.join("\n  ")
    );
}

/// Asserts that no error was found.
#[track_caller]
pub(crate) fn assert_valid(errs: &[String]) {
    assert!(
        errs.is_empty(),
        "expected no errors, got:\n  {}",
        errs.join("\n  ")
    );
}
