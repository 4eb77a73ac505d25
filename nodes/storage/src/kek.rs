//! The node's key-encryption key: wraps volume passphrases (AES-256-GCM) so the record store
//! never holds them in clear.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use ferrocore_runtime::Rng;

use crate::record::WrappedKey;

/// Why a passphrase could not be unwrapped.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The key file does not hold exactly 32 bytes.
    #[error("A key-encryption key must be 32 bytes, got {0}")]
    BadLength(usize),
    /// The wrapped key was not sealed with this key, or was altered.
    #[error("Wrapped key does not open with this node's key-encryption key")]
    Mismatch,
}

/// A 256-bit key-encryption key. `Debug` never shows it.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// A key from exactly 32 bytes (e.g. the content of the node's key file).
    ///
    /// # Errors
    /// [`KekError::BadLength`] otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KekError> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KekError::BadLength(bytes.len()))?;
        Ok(Self(key))
    }

    /// Seals `secret` under a fresh nonce from `rng`.
    pub(crate) fn wrap(&self, secret: &[u8], rng: &mut dyn Rng) -> WrappedKey {
        let mut nonce = [0u8; 12];
        rng.fill(&mut nonce);
        let cipher = Aes256Gcm::new((&self.0).into());
        // AES-GCM encryption of an in-memory buffer cannot fail for inputs below 64 GiB.
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), secret)
            .unwrap_or_default();
        WrappedKey {
            nonce: nonce.to_vec(),
            sealed,
        }
    }

    /// Opens a wrapped secret.
    ///
    /// # Errors
    /// [`KekError::Mismatch`] when it was sealed with another key or altered.
    pub(crate) fn unwrap(&self, wrapped: &WrappedKey) -> Result<Vec<u8>, KekError> {
        if wrapped.nonce.len() != 12 {
            return Err(KekError::Mismatch);
        }
        let cipher = Aes256Gcm::new((&self.0).into());
        cipher
            .decrypt(Nonce::from_slice(&wrapped.nonce), wrapped.sealed.as_slice())
            .map_err(|_| KekError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_runtime::SeededRng;

    use super::*;

    #[test]
    fn wraps_and_unwraps_without_clear_text() {
        let kek = Kek::from_bytes(&[7u8; 32]).unwrap();
        let mut rng = SeededRng::new(1);
        let w = kek.wrap(b"passphrase-123", &mut rng);
        assert!(!w.sealed.windows(14).any(|x| x == b"passphrase-123"));
        assert_eq!(kek.unwrap(&w).unwrap(), b"passphrase-123");
        let other = Kek::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.unwrap(&w).is_err());
        assert!(Kek::from_bytes(&[0u8; 31]).is_err());
        assert!(!format!("{kek:?}").contains('7'));
    }
}
