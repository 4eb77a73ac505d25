//! JSON-RPC 2.0 messages as they travel in frames: parsing requests strictly (so a hostile
//! client gets a precise error, never a panic), shaping responses, notifications and errors.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only protocol version spoken.
pub const JSONRPC_VERSION: &str = "2.0";

/// Longest method name accepted: real names are short; a megabyte of "method" is an attack.
const METHOD_LEN_MAX: usize = 256;

/// A JSON-RPC error code.
///
/// The spec's codes, ferrocore's transport codes in the spec's "server error" range
/// (-32000..=-32099), and the application range [`ErrorCode::APPLICATION_MIN`]..=
/// [`ErrorCode::APPLICATION_MAX`] that the API service assigns (see docs/rpc.md).
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct ErrorCode(i32);

impl ErrorCode {
    /// The frame's payload is not valid JSON.
    pub const PARSE_ERROR: Self = Self(-32700);
    /// Valid JSON, but not a valid request object.
    pub const INVALID_REQUEST: Self = Self(-32600);
    /// No such method.
    pub const METHOD_NOT_FOUND: Self = Self(-32601);
    /// The params do not fit the method.
    pub const INVALID_PARAMS: Self = Self(-32602);
    /// The server failed (a bug or an unexpected condition), not the request.
    pub const INTERNAL_ERROR: Self = Self(-32603);
    /// The connection has neither a client certificate nor a valid bearer token; the server
    /// closes it after sending this.
    pub const UNAUTHENTICATED: Self = Self(-32001);
    /// The request frame exceeds the server's limit; it was not read.
    pub const FRAME_TOO_LARGE: Self = Self(-32002);
    /// The request did not arrive completely within the server's request timeout.
    pub const REQUEST_TIMEOUT: Self = Self(-32003);
    /// Lowest code of the application range (the API service's errors).
    pub const APPLICATION_MIN: i32 = 1000;
    /// Highest code of the application range.
    pub const APPLICATION_MAX: i32 = 1999;

    /// A code from its number.
    pub const fn new(code: i32) -> Self {
        Self(code)
    }

    /// The number on the wire.
    pub const fn value(self) -> i32 {
        self.0
    }

    /// Whether the code is in the application range.
    pub const fn is_application(self) -> bool {
        self.0 >= Self::APPLICATION_MIN && self.0 <= Self::APPLICATION_MAX
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize, thiserror::Error)]
#[error("{message} (JSON-RPC error {code})")]
pub struct RpcError {
    /// What kind of error.
    pub code: ErrorCode,
    /// A short sentence for humans.
    pub message: String,
    /// Structured detail, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message` and no data.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Adds structured detail.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700.
    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, message)
    }

    /// -32600.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }

    /// -32601 for `method`.
    pub fn method_not_found(method: &str) -> Self {
        let shown: String = method.chars().take(METHOD_LEN_MAX).collect();
        Self::new(ErrorCode::METHOD_NOT_FOUND, format!("No method {shown:?}"))
    }

    /// -32602.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// -32603.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }

    /// -32001.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UNAUTHENTICATED, message)
    }
}

/// A request that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Request {
    /// `None` for a notification (no `id` member): it gets no response.
    pub(crate) id: Option<Value>,
    pub(crate) method: String,
    pub(crate) params: Option<Value>,
    /// `auth.token`, if the request carried one.
    pub(crate) token: Option<String>,
}

/// A request that failed validation: the id to answer with (null if unknown) and the error.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rejected {
    pub(crate) id: Value,
    pub(crate) error: RpcError,
}

/// Parses one request frame.
pub(crate) fn parse_request(bytes: &[u8]) -> Result<Request, Rejected> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Rejected {
        id: Value::Null,
        error: RpcError::parse_error(format!("Not JSON: {e}")),
    })?;
    let Value::Object(mut obj) = value else {
        let what = if value.is_array() {
            "Batches are not supported: send one request per stream"
        } else {
            "A request must be a JSON object"
        };
        return Err(Rejected {
            id: Value::Null,
            error: RpcError::invalid_request(what),
        });
    };
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(id),
        Some(_) => {
            return Err(Rejected {
                id: Value::Null,
                error: RpcError::invalid_request("\"id\" must be a string, number or null"),
            });
        }
    };
    let reject = |message: &str| Rejected {
        id: id.clone().unwrap_or(Value::Null),
        error: RpcError::invalid_request(message),
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some(JSONRPC_VERSION) {
        return Err(reject("\"jsonrpc\" must be \"2.0\""));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) if !m.is_empty() && m.len() <= METHOD_LEN_MAX => m,
        Some(Value::String(_)) => return Err(reject("\"method\" must be 1 to 256 bytes")),
        _ => return Err(reject("\"method\" must be a string")),
    };
    let params = match obj.remove("params") {
        None => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
        Some(_) => return Err(reject("\"params\" must be an object or an array")),
    };
    let token = parse_auth(obj.remove("auth")).map_err(reject)?;
    Ok(Request {
        id,
        method,
        params,
        token,
    })
}

fn parse_auth(auth: Option<Value>) -> Result<Option<String>, &'static str> {
    let Some(auth) = auth else {
        return Ok(None);
    };
    let Value::Object(mut auth) = auth else {
        return Err("\"auth\" must be an object");
    };
    match auth.remove("token") {
        Some(Value::String(token)) => Ok(Some(token)),
        _ => Err("\"auth.token\" must be a string"),
    }
}

/// A success response frame.
pub(crate) fn response(id: &Value, result: &Value) -> Value {
    let mut obj = envelope();
    obj.insert("id".into(), id.clone());
    obj.insert("result".into(), result.clone());
    Value::Object(obj)
}

/// An error response frame.
pub(crate) fn error_response(id: &Value, error: &RpcError) -> Value {
    let mut obj = envelope();
    obj.insert("id".into(), id.clone());
    // An RpcError always serialises (three plain fields).
    obj.insert(
        "error".into(),
        serde_json::to_value(error).unwrap_or(Value::Null),
    );
    Value::Object(obj)
}

/// A notification frame on a subscription stream.
pub(crate) fn notification(method: &str, params: Value) -> Value {
    let mut obj = envelope();
    obj.insert("method".into(), Value::String(method.to_owned()));
    obj.insert("params".into(), params);
    Value::Object(obj)
}

/// A request frame as a client sends it.
pub(crate) fn request(id: Option<u64>, method: &str, params: Value, token: Option<&str>) -> Value {
    let mut obj = envelope();
    if let Some(id) = id {
        obj.insert("id".into(), Value::from(id));
    }
    obj.insert("method".into(), Value::String(method.to_owned()));
    if !params.is_null() {
        obj.insert("params".into(), params);
    }
    if let Some(token) = token {
        obj.insert("auth".into(), serde_json::json!({ "token": token }));
    }
    Value::Object(obj)
}

fn envelope() -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("jsonrpc".into(), Value::String(JSONRPC_VERSION.into()));
    obj
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: &Value) -> Result<Request, Rejected> {
        parse_request(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn valid_requests_parse() {
        let r = parse(
            &json!({"jsonrpc":"2.0","id":7,"method":"m","params":{"a":1},
            "auth":{"token":"t"}}),
        )
        .unwrap();
        assert_eq!(r.id, Some(json!(7)));
        assert_eq!(r.method, "m");
        assert_eq!(r.params, Some(json!({"a":1})));
        assert_eq!(r.token.as_deref(), Some("t"));
        let n = parse(&json!({"jsonrpc":"2.0","method":"m","params":[1]})).unwrap();
        assert_eq!(n.id, None);
    }

    #[test]
    fn invalid_requests_get_precise_codes() {
        assert_eq!(
            parse_request(b"{nope").unwrap_err().error.code,
            ErrorCode::PARSE_ERROR
        );
        let cases = [
            json!([{"jsonrpc":"2.0","id":1,"method":"m"}]),
            json!(5),
            json!({"jsonrpc":"1.0","id":1,"method":"m"}),
            json!({"id":1,"method":"m"}),
            json!({"jsonrpc":"2.0","id":1,"method":5}),
            json!({"jsonrpc":"2.0","id":1,"method":""}),
            json!({"jsonrpc":"2.0","id":{"x":1},"method":"m"}),
            json!({"jsonrpc":"2.0","id":1,"method":"m","params":"s"}),
            json!({"jsonrpc":"2.0","id":1,"method":"m","auth":"t"}),
            json!({"jsonrpc":"2.0","id":1,"method":"m","auth":{"token":1}}),
            json!({"jsonrpc":"2.0","id":1,"method":"x".repeat(300)}),
        ];
        for case in cases {
            let rejected = parse(&case).unwrap_err();
            assert_eq!(rejected.error.code, ErrorCode::INVALID_REQUEST, "{case}");
        }
        // The id is echoed when it could be read.
        let r = parse(&json!({"jsonrpc":"2.0","id":"abc","method":5})).unwrap_err();
        assert_eq!(r.id, json!("abc"));
    }

    #[test]
    fn responses_have_the_spec_shape() {
        let ok = response(&json!(1), &Value::Null);
        assert_eq!(ok, json!({"jsonrpc":"2.0","id":1,"result":null}));
        let err = error_response(&Value::Null, &RpcError::method_not_found("x"));
        assert_eq!(err["error"]["code"], -32601);
        assert!(err["error"].get("data").is_none());
        let req = request(Some(3), "m", Value::Null, Some("t"));
        assert_eq!(
            req,
            json!({"jsonrpc":"2.0","id":3,"method":"m","auth":{"token":"t"}})
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = parse_request(&bytes);
        }
    }
}
