//! The one place that picks the binary codec for our fixed-shape envelopes (log records, the
//! hard state, snapshots, Raft RPCs): bincode 2 in serde mode, so it can be swapped later.
//! API objects inside them are JSON text (see `JsonObject`).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest envelope decoded from untrusted bytes: bincode refuses to allocate beyond it.
const DECODE_LIMIT: usize = 256 << 20;

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode: {0}")]
pub struct DecodeError(String);

/// Encodes a value.
///
/// # Panics
/// Only if a type's `Serialize` fails, which for our envelope types is a bug.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("envelope types always serialize")
}

/// Decodes a value that must use all of `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|e| DecodeError(e.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}
