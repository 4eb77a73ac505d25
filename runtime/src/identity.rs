//! Who is on the other end of a connection: the identity a cluster certificate names in its
//! common name (CN), parsed into a closed set of roles.

use std::fmt;
use std::str::FromStr;

/// The role and name a cluster certificate vouches for.
///
/// The CN spellings are `controller:<id>` (a decimal Raft node id), `node:<name>`,
/// `user:<name>` and `admin`. Certificates the cluster CA issues always use one of these, so a
/// CN that parses as none of them is refused rather than guessed at.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Identity {
    /// The cluster administrator (what `cluster bootstrap` writes into the admin client config).
    Admin,
    /// A controller, by its Raft node id.
    Controller(u64),
    /// A node agent (compute, storage, network), by its node name.
    Node(String),
    /// A named API user.
    User(String),
}

/// Longest name accepted after `node:` or `user:`: a DNS label set fits, and a CN longer than
/// this is garbage, not a name.
const NAME_LEN_MAX: usize = 253;

/// A common name that names no ferrocore identity.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("Certificate common name {cn:?} is not a ferrocore identity")]
pub struct IdentityParseError {
    /// The offending common name (cut to a printable length).
    pub cn: String,
}

impl Identity {
    /// The common name that encodes this identity.
    pub fn common_name(&self) -> String {
        self.to_string()
    }

    /// Whether this is a controller.
    pub fn is_controller(&self) -> bool {
        matches!(self, Self::Controller(_))
    }

    /// Whether this is a node agent.
    pub fn is_node(&self) -> bool {
        matches!(self, Self::Node(_))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Controller(id) => write!(f, "controller:{id}"),
            Self::Node(name) => write!(f, "node:{name}"),
            Self::User(name) => write!(f, "user:{name}"),
        }
    }
}

impl FromStr for Identity {
    type Err = IdentityParseError;

    fn from_str(cn: &str) -> Result<Self, Self::Err> {
        let err = || IdentityParseError {
            cn: cn.chars().take(80).collect(),
        };
        if cn == "admin" {
            return Ok(Self::Admin);
        }
        let (role, name) = cn.split_once(':').ok_or_else(err)?;
        let valid_name = !name.is_empty()
            && name.len() <= NAME_LEN_MAX
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid_name {
            return Err(err());
        }
        match role {
            "controller" => {
                // Reject "+1" and leading zeros so that one id has exactly one spelling.
                let canonical = name.bytes().all(|b| b.is_ascii_digit())
                    && (name == "0" || !name.starts_with('0'));
                if !canonical {
                    return Err(err());
                }
                name.parse().map(Self::Controller).map_err(|_| err())
            }
            "node" => Ok(Self::Node(name.to_owned())),
            "user" => Ok(Self::User(name.to_owned())),
            _ => Err(err()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for id in [
            Identity::Admin,
            Identity::Controller(0),
            Identity::Controller(42),
            Identity::Node("compute-1.rack2".into()),
            Identity::User("alice_b".into()),
        ] {
            assert_eq!(id.common_name().parse::<Identity>().unwrap(), id);
        }
    }

    #[test]
    fn rejects_what_is_not_an_identity() {
        for cn in [
            "",
            "admin:",
            "root",
            "controller:",
            "controller:01",
            "controller:+1",
            "controller:x",
            "controller:99999999999999999999999",
            "node:",
            "node:a b",
            "node:a/b",
            "nodes:a",
        ] {
            assert!(cn.parse::<Identity>().is_err(), "{cn:?}");
        }
    }
}
