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

/// `#[serde(with = "crate::codec::bytes")]` for a `Vec<u8>` field: the same bytes on the wire as
/// serde's default for `Vec<u8>` in bincode (a length, then the bytes), but written and read as
/// one slice instead of element by element, which made snapshots of tens of MiB slow.
pub(crate) mod bytes {
    use std::fmt;

    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Bounded by the decoder's limit: the length came from the (checked) input.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Plain {
        data: Vec<u8>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fast {
        #[serde(with = "super::bytes")]
        data: Vec<u8>,
    }

    #[test]
    fn bytes_field_keeps_the_default_wire_format() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let plain = super::encode(&Plain { data: data.clone() });
        let fast = super::encode(&Fast { data: data.clone() });
        assert_eq!(plain, fast);
        let back: Fast = super::decode(&plain).unwrap();
        assert_eq!(back.data, data);
        let back: Plain = super::decode(&fast).unwrap();
        assert_eq!(back.data, data);
    }
}
