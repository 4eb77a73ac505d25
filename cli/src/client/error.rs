//! What can go wrong between the CLI and the controllers, rendered so the user knows what to do
//! next: every message ends in a `hint:` line when there is something to try.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use ferrocore_runtime::{ClientError, CloseCode, ErrorCode, RpcError, TransportError};
use serde_json::Value;

use super::config::ConfigError;

/// The API's application error reasons (docs/rpc.md "Application error codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// 1000: no such object.
    NotFound,
    /// 1001: the name is taken.
    AlreadyExists,
    /// 1002: admission rejected the object.
    Invalid,
    /// 1003: not allowed.
    Forbidden,
    /// 1004: stale `resourceVersion`.
    Conflict,
    /// 1005: watch revision compacted.
    Gone,
    /// 1006: no leader yet.
    Unavailable,
    /// 1007: not committed in time.
    Timeout,
    /// Any other code.
    Other,
}

impl Reason {
    /// The reason of a JSON-RPC error code.
    pub(crate) fn of(code: ErrorCode) -> Self {
        match code.value() {
            1000 => Self::NotFound,
            1001 => Self::AlreadyExists,
            1002 => Self::Invalid,
            1003 => Self::Forbidden,
            1004 => Self::Conflict,
            1005 => Self::Gone,
            1006 => Self::Unavailable,
            1007 => Self::Timeout,
            _ => Self::Other,
        }
    }
}

/// One field error of an `Invalid` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cause {
    /// The full line (`spec.power: Unsupported value: ...`).
    pub(crate) message: String,
}

/// A failed API call or connection.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No usable client config.
    Config(ConfigError),
    /// The CA, certificate or key file could not be loaded.
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No controller answered.
    NoServer {
        /// The context's name.
        context: String,
        /// Each server tried, with why it failed.
        tried: Vec<(SocketAddr, String)>,
    },
    /// The controller refused our credentials.
    Unauthenticated {
        /// What the server or TLS said.
        message: String,
        /// The config file whose credentials were used.
        file: PathBuf,
    },
    /// The API answered with an error.
    Rpc {
        /// The code.
        code: ErrorCode,
        /// The reason for application codes.
        reason: Reason,
        /// The server's message.
        message: String,
        /// Every field error (for `Invalid`).
        causes: Vec<Cause>,
    },
    /// The connection broke and no other controller could finish the call.
    Transport(String),
    /// The server's answer does not fit the protocol.
    Protocol(String),
}

impl ApiError {
    /// The application reason, if this is an API error.
    pub(crate) fn reason(&self) -> Option<Reason> {
        match self {
            Self::Rpc { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// Whether a write of this kind may be retried on another controller or after a pause.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self.reason(), Some(Reason::Unavailable))
    }

    /// From an RPC error response.
    pub(crate) fn from_rpc(e: RpcError) -> Self {
        let causes = e
            .data
            .as_ref()
            .and_then(|d| d.get("causes"))
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(cause_of).collect())
            .unwrap_or_default();
        Self::Rpc {
            code: e.code,
            reason: Reason::of(e.code),
            message: e.message,
            causes,
        }
    }

    /// From a client error when no credentials file is at hand (`file` names the config).
    pub(crate) fn from_client(e: ClientError, file: &std::path::Path) -> Self {
        match e {
            ClientError::Rpc(rpc) if rpc.code == ErrorCode::UNAUTHENTICATED => {
                Self::Unauthenticated {
                    message: rpc.message,
                    file: file.to_path_buf(),
                }
            }
            ClientError::Rpc(rpc) => Self::from_rpc(rpc),
            ClientError::Protocol(m) => Self::Protocol(m),
            other => {
                if is_auth_refusal(&other) {
                    Self::Unauthenticated {
                        message: transport_text(&other),
                        file: file.to_path_buf(),
                    }
                } else {
                    Self::Transport(transport_text(&other))
                }
            }
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Config(_) => return None,
            Self::Credentials { .. } => {
                "the context's ca/cert/key paths are relative to the config file's directory; \
                 re-run `ferrocore cluster bootstrap` if the files are gone"
                    .into()
            }
            Self::NoServer { .. } => {
                "are the controllers running (`ferrocore controller --config FILE`)? check \
                 `servers` in the context, or `ferrocore cluster status` once one is up"
                    .into()
            }
            Self::Unauthenticated { file, .. } => format!(
                "check the context's cert/key (signed by this cluster's CA) or token in {}; \
                 a re-bootstrapped cluster has a new CA and token",
                file.display()
            ),
            Self::Rpc { reason, .. } => return rpc_hint(*reason).map(str::to_owned),
            Self::Transport(_) => {
                "the controller went away mid-call; retry (reads are safe; a write may or may \
                 not have been applied: `ferrocore get` it first)"
                    .into()
            }
            Self::Protocol(_) => {
                "the controller speaks another protocol version: use a matching ferrocore binary"
                    .into()
            }
        })
    }
}

fn rpc_hint(reason: Reason) -> Option<&'static str> {
    Some(match reason {
        Reason::NotFound => "list what exists with `ferrocore get KIND` (check -n NAMESPACE)",
        Reason::AlreadyExists => "use `ferrocore apply` to update it",
        Reason::Invalid => "fix the manifest (`ferrocore validate -f FILE` checks it offline)",
        Reason::Conflict => "the object changed since it was read: re-read it and retry",
        Reason::Gone => "the revision was compacted: list again and watch from the list's revision",
        Reason::Unavailable => "the cluster has no leader yet: retry in a few seconds",
        Reason::Timeout => "the write may still be applied: `ferrocore get` it before retrying",
        Reason::Forbidden | Reason::Other => return None,
    })
}

fn cause_of(v: &Value) -> Option<Cause> {
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        return Some(Cause {
            message: m.to_owned(),
        });
    }
    let field = v.get("field").and_then(Value::as_str)?;
    Some(Cause {
        message: format!("{field}: invalid"),
    })
}

/// Whether the server closed the connection because it refused our credentials, or the TLS
/// handshake failed over a certificate.
fn is_auth_refusal(e: &ClientError) -> bool {
    match e {
        ClientError::Transport(TransportError::Connection(c)) => match c {
            quinn::ConnectionError::ApplicationClosed(close) => {
                close.error_code == quinn::VarInt::from_u32(CloseCode::UNAUTHENTICATED.value())
                    || close.error_code == quinn::VarInt::from_u32(CloseCode::FORBIDDEN.value())
            }
            quinn::ConnectionError::TransportError(t) => t.to_string().contains("certificate"),
            quinn::ConnectionError::ConnectionClosed(c) => c.to_string().contains("certificate"),
            _ => false,
        },
        ClientError::Stream(s) => s.contains("closed by peer: 1") || s.contains("UNAUTH"),
        _ => false,
    }
}

/// A one-line description of a transport failure, with the error chain.
pub(crate) fn transport_text(e: &ClientError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}")?,
            Self::Credentials { path, message } => {
                write!(f, "cannot load {}: {message}", path.display())?;
            }
            Self::NoServer { context, tried } => {
                write!(f, "no controller of context {context:?} answered; tried:")?;
                for (addr, why) in tried {
                    write!(f, "\n  {addr}: {why}")?;
                }
            }
            Self::Unauthenticated { message, .. } => {
                write!(f, "the controller refused our credentials: {message}")?;
            }
            Self::Rpc {
                code,
                reason,
                message,
                causes,
            } => {
                let message = without_causes(message, causes);
                if *reason == Reason::Other {
                    write!(f, "{message} (code {})", code.value())?;
                } else {
                    write!(f, "{reason:?}: {message}")?;
                }
                for c in causes {
                    write!(f, "\n  {}", c.message)?;
                }
            }
            Self::Transport(m) => write!(f, "connection lost: {m}")?,
            Self::Protocol(m) => write!(f, "bad response from the controller: {m}")?,
        }
        if let Some(h) = self.hint() {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The message up to where it starts repeating the causes (servers often join them into the
/// message too; each is printed on its own line below it).
fn without_causes<'a>(message: &'a str, causes: &[Cause]) -> &'a str {
    causes
        .first()
        .and_then(|c| message.find(&c.message))
        .map_or(message, |pos| {
            message[..pos].trim_end_matches([':', ';', ' '])
        })
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_lists_every_cause_and_a_hint() {
        let rpc = RpcError::new(
            ErrorCode::new(1002),
            "Machine shop/web-1 is invalid: spec.power: Unsupported value: \"Of\"; spec.machineClassRef.name: Required value",
        )
        .with_data(
            json!({"reason": "Invalid", "causes": [
                {"field": "spec.power", "type": "NotSupported", "message": "spec.power: Unsupported value: \"Of\""},
                {"field": "spec.machineClassRef.name", "type": "Required", "message": "spec.machineClassRef.name: Required value"}
            ]}),
        );
        let text = ApiError::from_rpc(rpc).to_string();
        assert_eq!(
            text,
            "Invalid: Machine shop/web-1 is invalid\n  spec.power: Unsupported value: \"Of\"\n  \
             spec.machineClassRef.name: Required value\nhint: fix the manifest (`ferrocore \
             validate -f FILE` checks it offline)"
        );
    }

    #[test]
    fn no_server_names_every_address_tried() {
        let e = ApiError::NoServer {
            context: "lab".into(),
            tried: vec![
                (
                    "127.0.0.1:7700".parse().unwrap(),
                    "timed out after 3s".into(),
                ),
                (
                    "127.0.0.1:7701".parse().unwrap(),
                    "timed out after 3s".into(),
                ),
            ],
        };
        let text = e.to_string();
        assert!(text.contains("\n  127.0.0.1:7700: timed out"), "{text}");
        assert!(text.contains("\n  127.0.0.1:7701: timed out"), "{text}");
        assert!(text.contains("hint: are the controllers running"), "{text}");
    }

    #[test]
    fn unauthenticated_points_at_the_credentials() {
        let rpc = RpcError::new(ErrorCode::UNAUTHENTICATED, "unknown token");
        let e = ApiError::from_client(ClientError::Rpc(rpc), std::path::Path::new("/x/admin.toml"));
        let text = e.to_string();
        assert!(text.starts_with("the controller refused our credentials: unknown token"));
        assert!(text.contains("token in /x/admin.toml"), "{text}");
    }

    #[test]
    fn unknown_codes_show_the_code_and_no_hint() {
        let e = ApiError::from_rpc(RpcError::new(ErrorCode::new(1999), "new thing"));
        assert_eq!(e.to_string(), "new thing (code 1999)");
        let e = ApiError::from_rpc(RpcError::new(ErrorCode::new(1000), "Machine a/b not found"));
        assert_eq!(e.reason(), Some(Reason::NotFound));
        assert!(e.to_string().contains("hint: list what exists"));
    }
}
