//! Who an RPC caller is: a certificate identity or a named bearer token from the cluster
//! config. Tokens are kept only as SHA-256 digests, so the set in memory does not hold secrets
//! and a lookup compares digests, not the secret, byte by byte.

use std::collections::BTreeMap;
use std::fmt;

use crate::identity::Identity;

/// Bytes of randomness in a generated token (256 bits).
const TOKEN_BYTES: usize = 32;

/// A bearer token: a secret string a client without a certificate presents.
#[derive(Clone, Eq, PartialEq)]
pub struct BearerToken(String);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// A token from its text (as read from a config file).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// A fresh random token: 64 lowercase hex digits.
    ///
    /// # Errors
    /// If the operating system has no entropy source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The secret text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tokens a server accepts, each with the name of whom it belongs to.
#[derive(Clone, Default)]
pub struct TokenSet {
    by_digest: BTreeMap<[u8; 32], String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.by_digest.values()).finish()
    }
}

impl TokenSet {
    /// An empty set: only certificate holders get in.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token`, naming its holder `name` (shown to handlers, logged).
    pub fn insert(&mut self, token: &BearerToken, name: impl Into<String>) {
        self.by_digest.insert(digest(token.as_str()), name.into());
    }

    /// Adds `token` named `name`, builder style.
    #[must_use]
    pub fn with(mut self, token: &BearerToken, name: impl Into<String>) -> Self {
        self.insert(token, name);
        self
    }

    /// The holder's name if `presented` is an accepted token.
    pub fn check(&self, presented: &str) -> Option<&str> {
        self.by_digest.get(&digest(presented)).map(String::as_str)
    }

    /// Whether no token is accepted.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Who made an RPC call, as established when the connection was admitted.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Principal {
    /// A client certificate signed by the cluster CA.
    Certificate(Identity),
    /// A bearer token, by its holder's name from the [`TokenSet`].
    Token(String),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(id) => write!(f, "{id}"),
            Self::Token(name) => write!(f, "token:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_value() {
        let t = BearerToken::generate().unwrap();
        assert_eq!(t.as_str().len(), 64);
        let set = TokenSet::new().with(&t, "ci");
        assert_eq!(set.check(t.as_str()), Some("ci"));
        assert_eq!(set.check("nope"), None);
        assert_eq!(set.check(""), None);
        assert!(!format!("{t:?}{set:?}").contains(t.as_str()));
    }
}
