//! Secrets at rest: each value of a Secret's `data` is sealed with AES-256-GCM before it is
//! proposed, so the Raft log, snapshots and watch log only ever hold ciphertext; values are
//! opened again on every read and watch event. Nothing else of any object is encrypted.
//!
//! A sealed value is the string `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>`. Plain `data` values
//! are standard base64, whose alphabet has no `:`, so the two forms cannot be confused. The
//! additional authenticated data binds a value to `<namespace>/<name>/<key>`, so a ciphertext
//! copied into another Secret or key does not open. An update whose value did not change keeps
//! the stored ciphertext, so a no-op update stays a no-op in the store.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde_json::{Map, Value};

/// Length of the secrets-at-rest key: AES-256.
pub const SECRET_KEY_BYTES: usize = 32;

/// Marks a sealed value (format version 1: AES-256-GCM, 96-bit random nonce).
const SEALED_PREFIX: &str = "enc:v1:";

/// Why a key could not be used or a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The key file is missing, malformed or readable by others.
    #[error("Secrets-at-rest key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value does not open: the key is not the one it was sealed with, or the value
    /// was damaged.
    #[error("Cannot decrypt Secret data {field}: wrong secrets-at-rest key or damaged value")]
    Open {
        /// `<namespace>/<name>/<key>`.
        field: String,
    },
    /// A `data` value is not a base64 string (admission lets no such value through).
    #[error("Secret data {field} is not a base64 string")]
    Encoding {
        /// `<namespace>/<name>/<key>`.
        field: String,
    },
    /// The operating system gave no randomness for a nonce or key.
    #[error("No randomness for a nonce or key")]
    Entropy,
}

/// The controller's secrets-at-rest key.
pub struct SecretCipher {
    key: LessSafeKey,
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCipher(<key redacted>)")
    }
}

impl SecretCipher {
    /// A cipher with `key`.
    pub fn new(key: &[u8; SECRET_KEY_BYTES]) -> Self {
        // AES-256-GCM takes exactly 32 key bytes, which the array type guarantees.
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// A fresh random key.
    ///
    /// # Errors
    /// [`CipherError::Entropy`] if the operating system has no randomness.
    pub fn generate_key() -> Result<[u8; SECRET_KEY_BYTES], CipherError> {
        let mut key = [0u8; SECRET_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|_| CipherError::Entropy)?;
        Ok(key)
    }

    /// Writes `key` to `path` as one line of base64, creating the file with mode 0600.
    ///
    /// # Errors
    /// [`CipherError::Key`] if the file exists or cannot be written.
    pub fn save_key(path: &Path, key: &[u8; SECRET_KEY_BYTES]) -> Result<(), CipherError> {
        let fail = |e: std::io::Error| CipherError::Key {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(fail)?;
        writeln!(file, "{}", STANDARD.encode(key)).map_err(fail)?;
        file.sync_all().map_err(fail)
    }

    /// Reads the key file written by [`save_key`](Self::save_key). A file that group or others
    /// may read is refused: the key would no longer be a secret.
    ///
    /// # Errors
    /// [`CipherError::Key`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, CipherError> {
        let fail = |reason: String| CipherError::Key {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(fail(format!(
                "mode {:o} lets others read it; it must be 0600",
                meta.permissions().mode() & 0o777
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| fail(format!("not base64: {e}")))?;
        let key: [u8; SECRET_KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| fail(format!("not {SECRET_KEY_BYTES} bytes")))?;
        Ok(Self::new(&key))
    }

    /// Seals the `data` values of `object` if it is a Secret (in place). Values whose plain
    /// bytes equal those of the same key in `previous` (the stored, sealed object) keep the
    /// stored ciphertext.
    ///
    /// # Errors
    /// [`CipherError`] if a value is not base64, a previous value does not open, or there is no
    /// randomness for a nonce.
    pub fn seal(&self, object: &mut Value, previous: Option<&Value>) -> Result<(), CipherError> {
        if !is_secret(object) {
            return Ok(());
        }
        let scope = scope_of(object);
        let previous = previous.and_then(data_of);
        let Some(data) = data_mut(object) else {
            return Ok(());
        };
        for (key, value) in data.iter_mut() {
            let field = format!("{scope}/{key}");
            let plain = value
                .as_str()
                .and_then(|v| STANDARD.decode(v).ok())
                .ok_or_else(|| CipherError::Encoding {
                    field: field.clone(),
                })?;
            let kept = previous
                .and_then(|p| p.get(key))
                .and_then(Value::as_str)
                .filter(|old| self.open_value(old, &field).ok().as_ref() == Some(&plain));
            *value = match kept {
                Some(old) => Value::String(old.to_owned()),
                None => Value::String(self.seal_value(plain, &field)?),
            };
        }
        Ok(())
    }

    /// Opens the sealed `data` values of `object` if it is a Secret (in place), giving back the
    /// base64 of the plain bytes. Values that are not sealed are left as they are.
    ///
    /// # Errors
    /// [`CipherError::Open`] if a value does not open with this key.
    pub fn open(&self, object: &mut Value) -> Result<(), CipherError> {
        if !is_secret(object) {
            return Ok(());
        }
        let scope = scope_of(object);
        let Some(data) = data_mut(object) else {
            return Ok(());
        };
        for (key, value) in data.iter_mut() {
            let Some(sealed) = value.as_str().filter(|v| v.starts_with(SEALED_PREFIX)) else {
                continue;
            };
            let plain = self.open_value(sealed, &format!("{scope}/{key}"))?;
            *value = Value::String(STANDARD.encode(plain));
        }
        Ok(())
    }

    fn seal_value(&self, mut plain: Vec<u8>, field: &str) -> Result<String, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CipherError::Entropy)?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(field.as_bytes()),
                &mut plain,
            )
            .map_err(|_| CipherError::Entropy)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&plain);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    fn open_value(&self, sealed: &str, field: &str) -> Result<Vec<u8>, CipherError> {
        let fail = || CipherError::Open {
            field: field.to_owned(),
        };
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(fail)?;
        let mut bytes = STANDARD.decode(body).map_err(|_| fail())?;
        if bytes.len() < NONCE_LEN {
            return Err(fail());
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| fail())?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(field.as_bytes()), &mut sealed)
            .map_err(|_| fail())?;
        Ok(plain.to_vec())
    }
}

/// Whether `object` is a core `v1` Secret.
fn is_secret(object: &Value) -> bool {
    object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// `<namespace>/<name>`: what a sealed value is bound to.
fn scope_of(object: &Value) -> String {
    let field = |f: &str| {
        object
            .pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    format!("{}/{}", field("namespace"), field("name"))
}

fn data_of(object: &Value) -> Option<&Map<String, Value>> {
    object.get("data").and_then(Value::as_object)
}

fn data_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    object.get_mut("data").and_then(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secret(value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"namespace": "ns", "name": "s"},
               "data": {"password": STANDARD.encode(value)}})
    }

    #[test]
    fn sealed_values_hide_the_plaintext_and_open_again() {
        let cipher = SecretCipher::new(&[7u8; SECRET_KEY_BYTES]);
        let mut object = secret("hunter2-very-secret");
        cipher.seal(&mut object, None).unwrap();
        let text = object.to_string();
        assert!(text.contains(SEALED_PREFIX));
        assert!(!text.contains("hunter2"));
        assert!(!text.contains(&STANDARD.encode("hunter2-very-secret")));
        cipher.open(&mut object).unwrap();
        assert_eq!(object, secret("hunter2-very-secret"));
    }

    #[test]
    fn an_unchanged_value_keeps_its_ciphertext_and_a_changed_one_does_not() {
        let cipher = SecretCipher::new(&[1u8; SECRET_KEY_BYTES]);
        let mut stored = secret("a");
        cipher.seal(&mut stored, None).unwrap();
        let mut same = secret("a");
        cipher.seal(&mut same, Some(&stored)).unwrap();
        assert_eq!(same, stored);
        let mut changed = secret("b");
        cipher.seal(&mut changed, Some(&stored)).unwrap();
        assert_ne!(changed["data"]["password"], stored["data"]["password"]);
        // Two seals of one value differ (random nonces).
        let mut again = secret("a");
        cipher.seal(&mut again, None).unwrap();
        assert_ne!(again, stored);
    }

    #[test]
    fn a_wrong_key_or_a_moved_value_does_not_open() {
        let cipher = SecretCipher::new(&[1u8; SECRET_KEY_BYTES]);
        let mut stored = secret("a");
        cipher.seal(&mut stored, None).unwrap();
        let other = SecretCipher::new(&[2u8; SECRET_KEY_BYTES]);
        assert!(matches!(
            other.open(&mut stored.clone()),
            Err(CipherError::Open { .. })
        ));
        let mut moved = stored.clone();
        moved["metadata"]["name"] = json!("t");
        assert!(cipher.open(&mut moved).is_err());
        let mut garbage = stored;
        garbage["data"]["password"] = json!("enc:v1:AAAA");
        assert!(cipher.open(&mut garbage).is_err());
    }

    #[test]
    fn other_kinds_are_untouched() {
        let cipher = SecretCipher::new(&[1u8; SECRET_KEY_BYTES]);
        let mut object = json!({"apiVersion": "v1alpha1", "kind": "Secret", "data": {"a": "YQ=="}});
        let before = object.clone();
        cipher.seal(&mut object, None).unwrap();
        assert_eq!(object, before);
    }

    #[test]
    fn key_files_are_private_and_checked() {
        let dir = std::env::temp_dir().join(format!("ferrocore-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.key");
        let _ = std::fs::remove_file(&path);
        let key = SecretCipher::generate_key().unwrap();
        SecretCipher::save_key(&path, &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            SecretCipher::save_key(&path, &key).is_err(),
            "never overwritten"
        );
        SecretCipher::load(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(SecretCipher::load(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
