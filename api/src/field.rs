//! Field paths and validation errors in the Kubernetes style
//! (`spec.volumes[0].name: Required value`), so messages read the same as upstream IronCore's.

use std::fmt;

/// A path to a field of an object, as Kubernetes prints it: `spec.volumes[0].device`,
/// `capabilities[cpu]`.
#[derive(Clone, Debug, Default, Eq, Ord, PartialEq, PartialOrd)]
pub struct FieldPath(String);

impl FieldPath {
    /// A path starting at the top-level field `name`.
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The empty path (the object itself).
    pub fn root() -> Self {
        Self(String::new())
    }

    /// The path of the child field `name`. `name` may contain dots (`"spec.claimRef"`).
    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The path of list element `i`.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// The path of map entry `key`.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("<object>")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// A rejected value, rendered the way Kubernetes renders it: strings quoted, numbers bare.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum BadValue {
    /// A string value, printed quoted.
    Str(String),
    /// A number or other value printed as is.
    Raw(String),
    /// No value shown (`null`).
    Null,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Raw(s) => f.write_str(s),
            Self::Null => f.write_str("null"),
        }
    }
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<&String> for BadValue {
    fn from(s: &String) -> Self {
        Self::Str(s.clone())
    }
}

impl From<String> for BadValue {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

macro_rules! raw_bad_value {
    ($($t:ty),*) => {$(
        impl From<$t> for BadValue {
            fn from(v: $t) -> Self {
                Self::Raw(v.to_string())
            }
        }
    )*};
}
raw_bad_value!(i32, i64, u16, u32, u64, usize, u8);

/// What is wrong with a field.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ErrorKind {
    /// A required field is missing or empty.
    Required,
    /// The value is malformed or out of range.
    Invalid(BadValue),
    /// The field may not be set here (or may not change).
    Forbidden,
    /// The value repeats one given earlier in the same list.
    Duplicate(BadValue),
    /// The value is not one of an enumeration.
    NotSupported(BadValue, Vec<String>),
    /// The value is longer than allowed.
    TooLong(usize),
    /// The field is not part of the schema.
    UnknownField,
    /// The field has the wrong JSON type or cannot be decoded.
    TypeInvalid,
}

/// One validation error: where, what, and why.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct FieldError {
    /// The field the error is about.
    pub path: FieldPath,
    /// The kind of error, with the offending value where it is shown.
    pub kind: ErrorKind,
    /// A human explanation; may be empty.
    pub detail: String,
}

impl FieldError {
    /// `path: Required value[: detail]`.
    pub fn required(path: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Required, detail)
    }

    /// `path: Invalid value: <value>: detail`.
    pub fn invalid(path: FieldPath, value: impl Into<BadValue>, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Invalid(value.into()), detail)
    }

    /// `path: Forbidden: detail`.
    pub fn forbidden(path: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::Forbidden, detail)
    }

    /// `path: Duplicate value: <value>`.
    pub fn duplicate(path: FieldPath, value: impl Into<BadValue>) -> Self {
        Self::new(path, ErrorKind::Duplicate(value.into()), "")
    }

    /// `path: Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(path: FieldPath, value: impl Into<BadValue>, valid: &[&str]) -> Self {
        let valid = valid.iter().map(|s| (*s).to_owned()).collect();
        Self::new(path, ErrorKind::NotSupported(value.into(), valid), "")
    }

    /// `path: Too long: may not be more than N bytes`.
    pub fn too_long(path: FieldPath, max: usize) -> Self {
        Self::new(path, ErrorKind::TooLong(max), "")
    }

    /// `path: Unknown field`.
    pub fn unknown_field(path: FieldPath) -> Self {
        Self::new(path, ErrorKind::UnknownField, "")
    }

    /// `path: Invalid type: detail` (a JSON type mismatch or undecodable value).
    pub fn type_invalid(path: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(path, ErrorKind::TypeInvalid, detail)
    }

    fn new(path: FieldPath, kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            path,
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path)?;
        let detail = |f: &mut fmt::Formatter<'_>| {
            if self.detail.is_empty() {
                Ok(())
            } else {
                write!(f, ": {}", self.detail)
            }
        };
        match &self.kind {
            ErrorKind::Required => {
                f.write_str("Required value")?;
                detail(f)
            }
            ErrorKind::Invalid(v) => {
                write!(f, "Invalid value: {v}")?;
                detail(f)
            }
            ErrorKind::Forbidden => {
                f.write_str("Forbidden")?;
                detail(f)
            }
            ErrorKind::Duplicate(v) => write!(f, "Duplicate value: {v}"),
            ErrorKind::NotSupported(v, valid) => {
                let list: Vec<String> = valid.iter().map(|s| format!("{s:?}")).collect();
                write!(
                    f,
                    "Unsupported value: {v}: supported values: {}",
                    list.join(", ")
                )
            }
            ErrorKind::TooLong(max) => write!(f, "Too long: may not be more than {max} bytes"),
            ErrorKind::UnknownField => f.write_str("Unknown field"),
            ErrorKind::TypeInvalid => {
                f.write_str("Invalid type")?;
                detail(f)
            }
        }
    }
}

/// All errors found in one object. Validation collects every error, never only the first.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ErrorList(Vec<FieldError>);

impl ErrorList {
    /// No errors.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds one error.
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Adds all errors of `other`.
    pub fn extend(&mut self, other: Self) {
        self.0.extend(other.0);
    }

    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    ///
    /// # Errors
    /// Returns the list itself when it holds any error.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl<'a> IntoIterator for &'a ErrorList {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ErrorList {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<FieldError> for ErrorList {
    fn from_iter<I: IntoIterator<Item = FieldError>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ErrorList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorList {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_kubernetes() {
        let p = FieldPath::new("spec")
            .child("machineClassRef")
            .child("name");
        assert_eq!(
            FieldError::required(p, "").to_string(),
            "spec.machineClassRef.name: Required value"
        );
        let p = FieldPath::new("spec").child("machinePoolRef");
        assert_eq!(
            FieldError::invalid(p, "pool-b", "field is immutable once set").to_string(),
            "spec.machinePoolRef: Invalid value: \"pool-b\": field is immutable once set"
        );
        let p = FieldPath::new("spec")
            .child("volumes")
            .index(2)
            .child("device");
        assert_eq!(
            FieldError::duplicate(p, "oda").to_string(),
            "spec.volumes[2].device: Duplicate value: \"oda\""
        );
        let p = FieldPath::new("capabilities").key("cpu");
        assert_eq!(
            FieldError::invalid(p, BadValue::Raw("0".into()), "must be greater than zero")
                .to_string(),
            "capabilities[cpu]: Invalid value: 0: must be greater than zero"
        );
        let p = FieldPath::new("spec").child("power");
        assert_eq!(
            FieldError::not_supported(p, "Maybe", &["Off", "On"]).to_string(),
            "spec.power: Unsupported value: \"Maybe\": supported values: \"Off\", \"On\""
        );
    }
}
