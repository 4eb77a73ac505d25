//! The stored form of an object: its JSON bytes inside a small bincode envelope that carries its
//! identity, so the store can index an entry without parsing the object (DESIGN.md §8).

use serde::{Deserialize, Serialize};

use crate::decode::{DecodeError, object_from_value};
use crate::kind::Kind;
use crate::object::Object;

/// An object as the Raft log and snapshots hold it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct StoredObject {
    /// The kind.
    pub kind: Kind,
    /// The namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The object as JSON.
    pub json: Vec<u8>,
}

/// Why a stored object could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    /// The envelope is not valid bincode.
    #[error("stored envelope is corrupt: {0}")]
    Envelope(String),
    /// The JSON inside is not valid.
    #[error("stored object JSON is corrupt: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not a valid object of a known kind.
    #[error("stored object does not decode: {0}")]
    Object(#[from] DecodeError),
}

/// The most a stored envelope may make its decoder allocate: far above any object the API
/// admits (documents are capped at 3 MiB), and a bound on what corrupt bytes can claim (a length
/// prefix of 2^60 must be an error, not an allocation).
const STORED_CLAIM_LIMIT: usize = 64 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<STORED_CLAIM_LIMIT>()
}

impl StoredObject {
    /// The stored form of `obj`.
    pub fn from_object(obj: &Object) -> Self {
        let meta = obj.meta();
        Self {
            kind: obj.kind(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            // Serialising a JSON value to bytes cannot fail.
            json: serde_json::to_vec(&obj.to_value()).unwrap_or_default(),
        }
    }

    /// The envelope's bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Encoding a struct of strings and bytes into a Vec cannot fail.
        bincode::serde::encode_to_vec(self, config()).unwrap_or_default()
    }

    /// Reads an envelope.
    ///
    /// # Errors
    /// When the bytes are not an envelope.
    pub fn decode(bytes: &[u8]) -> Result<Self, StoredError> {
        bincode::serde::decode_from_slice(bytes, config())
            .map(|(v, _)| v)
            .map_err(|e| StoredError::Envelope(e.to_string()))
    }

    /// The object inside.
    ///
    /// # Errors
    /// When the JSON is corrupt or not an object of a known kind.
    pub fn object(&self) -> Result<Object, StoredError> {
        let value: serde_json::Value = serde_json::from_slice(&self.json)?;
        Ok(object_from_value(value)?)
    }
}
