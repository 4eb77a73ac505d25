//! Secret (Kubernetes core `v1`): opaque data such as ignition, encryption keys and bucket
//! credentials. `data` values are base64 on the wire and bytes here; `stringData` is merged into
//! `data` by defaulting, as the Kubernetes API server does.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::common::{Resource, default_type_meta, meta_accessors};
use crate::field::{ErrorList, FieldError, FieldPath};
use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{ObjectMeta, validate_object_meta, validate_object_meta_update};

/// Largest total size of a Secret's data, as Kubernetes allows.
pub const SECRET_MAX_BYTES: usize = 1024 * 1024;
/// The type of a Secret without a declared type.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";

/// Secret bytes: base64 on the wire, never shown in `Debug` output.
#[derive(Clone, Default, Eq, PartialEq)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes redacted>", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s.trim())
            .map(Self)
            .map_err(|e| de::Error::custom(format!("illegal base64 data: {e}")))
    }
}

/// Opaque data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// `v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Secret`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The type (`Opaque`, `compute.ironcore.dev/ignition`, ...).
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// The data, base64 on the wire.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, SecretBytes>,
    /// Write-only plain-text data, merged into `data` on admission.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// Whether the data may never change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl Secret {
    /// A copy with every value replaced by its length, for display without `--show-secrets`.
    pub fn redacted(&self) -> Self {
        let mut out = self.clone();
        for v in out.data.values_mut() {
            *v = SecretBytes(format!("<{} bytes>", v.0.len()).into_bytes());
        }
        out.string_data.clear();
        out
    }
}

fn is_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && !k.starts_with("..")
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Resource for Secret {
    const KIND: Kind = Kind::Secret;

    meta_accessors!();

    fn set_defaults(&mut self) {
        default_type_meta::<Self>(&mut self.api_version, &mut self.kind);
        if self.type_.is_empty() {
            SECRET_TYPE_OPAQUE.clone_into(&mut self.type_);
        }
        for (k, v) in std::mem::take(&mut self.string_data) {
            self.data.insert(k, SecretBytes(v.into_bytes()));
        }
    }

    fn validate(&self) -> ErrorList {
        let mut errs = validate_object_meta(&self.metadata, true, dns1123_subdomain);
        let path = FieldPath::new("data");
        let mut total = 0usize;
        let keys = self.data.keys().chain(self.string_data.keys());
        for k in keys {
            if !is_config_key(k) {
                errs.push(FieldError::invalid(
                    path.key(k),
                    k.as_str(),
                    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ));
            }
        }
        for (k, v) in &self.data {
            total = total.saturating_add(k.len() + v.0.len());
        }
        if total > SECRET_MAX_BYTES {
            errs.push(FieldError::too_long(path, SECRET_MAX_BYTES));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata);
        if old.type_ != self.type_ {
            errs.push(FieldError::invalid(
                FieldPath::new("type"),
                self.type_.as_str(),
                "field is immutable",
            ));
        }
        if old.immutable == Some(true) && (old.data != self.data || old.immutable != self.immutable)
        {
            errs.push(FieldError::forbidden(
                FieldPath::new("data"),
                "field is immutable when `immutable` is set",
            ));
        }
        errs.extend(self.validate());
        errs
    }
}
