//! The API's errors and how they travel: application codes 1000–1007 with a `data` member
//! `{"reason", "kind", "namespace", "name", "causes"}` (docs/rpc.md, Methods), or the JSON-RPC
//! codes for bad params and server faults.

use ferrocore_api::decode::DecodeError;
use ferrocore_api::field::{ErrorKind, ErrorList, FieldError};
use ferrocore_consensus::{ObjectKey, ProposeError, StoreError};
use ferrocore_runtime::{ErrorCode, RpcError};
use serde_json::{Value, json};

use super::secrets::CipherError;

/// The application error reasons, with their codes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Reason {
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    Timeout,
    Unavailable,
}

impl Reason {
    fn code(self) -> i32 {
        match self {
            Self::NotFound => 1000,
            Self::AlreadyExists => 1001,
            Self::Invalid => 1002,
            Self::Forbidden => 1003,
            Self::Conflict => 1004,
            Self::Gone => 1005,
            Self::Unavailable => 1006,
            Self::Timeout => 1007,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::AlreadyExists => "AlreadyExists",
            Self::Invalid => "Invalid",
            Self::Forbidden => "Forbidden",
            Self::Conflict => "Conflict",
            Self::Gone => "Gone",
            Self::Unavailable => "Unavailable",
            Self::Timeout => "Timeout",
        }
    }
}

/// Which object an error is about.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct Target {
    pub(crate) kind: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl From<&ObjectKey> for Target {
    fn from(key: &ObjectKey) -> Self {
        Self {
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        }
    }
}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// An application error (1000–1007).
    #[error("{message}")]
    App {
        reason: Reason,
        message: String,
        target: Option<Target>,
        causes: Vec<FieldError>,
    },
    /// The params do not fit the method (-32602).
    #[error("{0}")]
    Params(String),
    /// The server failed (-32603).
    #[error("{0}")]
    Internal(String),
    /// An error another controller answered with (a forwarded call), passed on as it is.
    #[error("{0}")]
    Remote(RpcError),
}

impl ApiError {
    pub(crate) fn app(reason: Reason, message: impl Into<String>) -> Self {
        Self::App {
            reason,
            message: message.into(),
            target: None,
            causes: Vec::new(),
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::app(Reason::Unavailable, message)
    }

    /// Attaches the object the error is about (if none is attached yet).
    pub(crate) fn about(mut self, about: &Target) -> Self {
        if let Self::App { target, .. } = &mut self
            && target.is_none()
        {
            *target = Some(about.clone());
        }
        self
    }

    /// Admission refused the object: 1002 with every field error as a cause.
    pub(crate) fn invalid(target: &Target, errors: ErrorList) -> Self {
        let message = format!(
            "{} {:?} is invalid: {}",
            target.kind,
            target.name,
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
        Self::App {
            reason: Reason::Invalid,
            message,
            target: Some(target.clone()),
            causes: errors.into_iter().collect(),
        }
    }

    /// A decoding failure of a client's object: 1002, with field errors as causes.
    pub(crate) fn decode(target: &Target, error: DecodeError) -> Self {
        match error {
            DecodeError::Fields { errors, partial } => {
                let mut all = errors;
                if let Some(partial) = partial {
                    let mut partial = *partial;
                    partial.set_defaults();
                    all.extend(partial.validate());
                }
                Self::invalid(target, all)
            }
            other => Self::App {
                reason: Reason::Invalid,
                message: other.to_string(),
                target: Some(target.clone()),
                causes: Vec::new(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (reason, target) = match &e {
            StoreError::NotFound(key) => (Reason::NotFound, Some(Target::from(key))),
            StoreError::AlreadyExists(key) => (Reason::AlreadyExists, Some(Target::from(key))),
            StoreError::Conflict { key, .. } => (Reason::Conflict, Some(Target::from(key))),
            StoreError::Invalid(m) if m.contains("is being deleted") => (Reason::Forbidden, None),
            StoreError::Invalid(_) => (Reason::Invalid, None),
            StoreError::Compacted { .. } => (Reason::Gone, None),
        };
        Self::App {
            reason,
            message: e.to_string(),
            target,
            causes: Vec::new(),
        }
    }
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::Store(e) => e.into(),
            ProposeError::ForwardToLeader { leader: None } => {
                Self::unavailable("No leader is elected yet; retry shortly")
            }
            ProposeError::ForwardToLeader { leader: Some(_) } => {
                Self::unavailable("The leader is not ready yet; retry shortly")
            }
            // A forwarded write whose leader did not answer may still be applied.
            ProposeError::Raft(m) if m.contains("did not answer in time") => Self::app(
                Reason::Timeout,
                format!("The write was not confirmed in time and may still be applied: {m}"),
            ),
            ProposeError::Raft(m) => Self::unavailable(format!("The cluster cannot commit: {m}")),
        }
    }
}

impl From<CipherError> for ApiError {
    fn from(e: CipherError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<ApiError> for RpcError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::App {
                reason,
                message,
                target,
                causes,
            } => {
                let target = target.unwrap_or_default();
                let mut data = json!({
                    "reason": reason.name(),
                    "kind": target.kind,
                    "namespace": target.namespace,
                    "name": target.name,
                });
                if reason == Reason::Invalid {
                    data["causes"] = Value::Array(causes.iter().map(cause).collect());
                }
                Self::new(ErrorCode::new(reason.code()), message).with_data(data)
            }
            ApiError::Params(m) => Self::invalid_params(m),
            ApiError::Internal(m) => Self::internal(m),
            ApiError::Remote(e) => e,
        }
    }
}

/// One cause of an `Invalid` error: `{"field", "type", "message"}`.
fn cause(e: &FieldError) -> Value {
    let kind = match &e.kind {
        ErrorKind::Required => "Required",
        ErrorKind::Invalid(_) => "Invalid",
        ErrorKind::Forbidden => "Forbidden",
        ErrorKind::Duplicate(_) => "Duplicate",
        ErrorKind::NotSupported(..) => "NotSupported",
        ErrorKind::TooLong(_) => "TooLong",
        ErrorKind::UnknownField => "UnknownField",
        ErrorKind::TypeInvalid => "TypeInvalid",
    };
    json!({"field": e.path.as_str(), "type": kind, "message": e.to_string()})
}

#[cfg(test)]
mod tests {
    use ferrocore_api::field::FieldPath;

    use super::*;

    #[test]
    fn invalid_carries_every_cause_and_the_target() {
        let target = Target {
            kind: "Machine".into(),
            namespace: "ns".into(),
            name: "m".into(),
        };
        let errors: ErrorList = [
            FieldError::not_supported(FieldPath::new("spec").child("power"), "Up", &["On"]),
            FieldError::required(FieldPath::new("spec").child("machineClassRef"), ""),
        ]
        .into_iter()
        .collect();
        let rpc = RpcError::from(ApiError::invalid(&target, errors));
        assert_eq!(rpc.code.value(), 1002);
        let data = rpc.data.unwrap();
        assert_eq!(data["reason"], "Invalid");
        assert_eq!(data["name"], "m");
        assert_eq!(data["causes"][0]["field"], "spec.power");
        assert_eq!(data["causes"][0]["type"], "NotSupported");
        assert!(
            data["causes"][1]["message"]
                .as_str()
                .unwrap()
                .starts_with("spec.machineClassRef: Required value")
        );
    }

    #[test]
    fn store_errors_map_to_their_codes() {
        let key = ObjectKey::new("compute.ironcore.dev", "Machine", "ns", "m");
        let code = |e: StoreError| RpcError::from(ApiError::from(e)).code.value();
        assert_eq!(code(StoreError::NotFound(key.clone())), 1000);
        assert_eq!(code(StoreError::AlreadyExists(key.clone())), 1001);
        let conflict = StoreError::Conflict {
            key,
            reason: "stale".into(),
        };
        assert_eq!(code(conflict), 1004);
        let gone = StoreError::Compacted {
            requested: ferrocore_consensus::Revision(1),
            oldest: ferrocore_consensus::Revision(5),
        };
        assert_eq!(code(gone), 1005);
        let timeout = ProposeError::Raft("leader 2 did not answer in time".into());
        assert_eq!(RpcError::from(ApiError::from(timeout)).code.value(), 1007);
    }
}
