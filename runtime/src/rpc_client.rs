//! The JSON-RPC 2.0 client over QUIC: one connection, one stream per call, authenticated by a
//! client certificate or a bearer token (sent as `auth.token` on every request, so whichever
//! request reaches the server first carries it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use quinn::RecvStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::BearerToken;
use crate::frame::{self, FrameError, MaxFrameLen};
use crate::identity::Identity;
use crate::jsonrpc::{self, RpcError};
use crate::pki::{Credentials, TrustRoots};
use crate::quic::{Alpn, CloseCode, Endpoint, PeerConnection, TransportError, TransportLimits};

/// How a client proves who it is.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// A client certificate signed by the cluster CA.
    Certificate(Credentials),
    /// A bearer token from the cluster config.
    Token(BearerToken),
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The controller's UDP address.
    pub addr: SocketAddr,
    /// The name the controller's certificate is checked against (DNS name or IP in its SANs).
    pub server_name: String,
    /// The cluster CA.
    pub trust: TrustRoots,
    /// Certificate or token.
    pub auth: ClientAuth,
    /// QUIC limits (idle timeout and keep-alive matter for long watches).
    pub limits: TransportLimits,
    /// Largest request frame this client writes.
    pub max_request_frame: MaxFrameLen,
    /// Largest response or notification frame this client reads: a bound against a confused or
    /// malicious server.
    pub max_response_frame: MaxFrameLen,
}

impl ClientConfig {
    /// A config with default limits.
    pub fn new(
        addr: SocketAddr,
        server_name: impl Into<String>,
        trust: TrustRoots,
        auth: ClientAuth,
    ) -> Self {
        Self {
            addr,
            server_name: server_name.into(),
            trust,
            auth,
            limits: TransportLimits::default(),
            max_request_frame: MaxFrameLen::mib(64),
            max_response_frame: MaxFrameLen::mib(256),
        }
    }
}

/// What went wrong on the client side of a call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made or was lost.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A stream failed mid-call (the connection closed, the server reset the stream).
    #[error("Stream failed: {0}")]
    Stream(String),
    /// A frame was malformed or too large.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The server answered with a JSON-RPC error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The server's answer is not valid JSON-RPC, or the result does not decode.
    #[error("Bad response: {0}")]
    Protocol(String),
}

/// A connected JSON-RPC client. Calls may run concurrently; each uses its own stream.
#[derive(Debug)]
pub struct RpcClient {
    // Kept so the socket lives as long as the client.
    _endpoint: Endpoint,
    conn: PeerConnection,
    token: Option<BearerToken>,
    next_id: AtomicU64,
    max_request: MaxFrameLen,
    max_response: MaxFrameLen,
}

impl RpcClient {
    /// Connects to a controller's RPC service.
    ///
    /// A token is not checked until the first call; a certificate is checked now.
    ///
    /// # Errors
    /// [`ClientError::Transport`] if the socket, TLS or handshake fails.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let bind: SocketAddr = if config.addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let (cert, token) = match config.auth {
            ClientAuth::Certificate(c) => (Some(c), None),
            ClientAuth::Token(t) => (None, Some(t)),
        };
        let endpoint = Endpoint::client(bind, cert.as_ref(), &config.trust, &config.limits)?;
        let conn = endpoint
            .connect(config.addr, &config.server_name, Alpn::Rpc)
            .await?;
        Ok(Self {
            _endpoint: endpoint,
            conn,
            token,
            next_id: AtomicU64::new(1),
            max_request: config.max_request_frame,
            max_response: config.max_response_frame,
        })
    }

    /// Calls `method` with `params` (`Value::Null` for none) and returns its result.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] for an error response; the other variants for transport trouble.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let (id, mut recv) = self.send_request(method, params, true).await?;
        read_response(&mut recv, self.max_response, &id).await
    }

    /// [`RpcClient::call`] with typed params and result.
    ///
    /// # Errors
    /// As [`RpcClient::call`]; [`ClientError::Protocol`] if params or result do not convert.
    pub async fn call_as<P, R>(&self, method: &str, params: &P) -> Result<R, ClientError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let params =
            serde_json::to_value(params).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let result = self.call(method, params).await?;
        serde_json::from_value(result).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Sends a JSON-RPC notification (no id): the server runs it and answers nothing.
    ///
    /// # Errors
    /// Transport trouble only.
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), ClientError> {
        self.send_request(method, params, false).await.map(|_| ())
    }

    /// Calls a streaming method: returns its initial result and the notifications that follow.
    ///
    /// # Errors
    /// As [`RpcClient::call`] for the initial response.
    pub async fn subscribe(
        &self,
        method: &str,
        params: Value,
    ) -> Result<ClientSubscription, ClientError> {
        let (id, mut recv) = self.send_request(method, params, true).await?;
        let initial = read_response(&mut recv, self.max_response, &id).await?;
        Ok(ClientSubscription {
            id,
            initial,
            recv: Some(recv),
            max: self.max_response,
        })
    }

    /// The controller's identity from its certificate.
    pub fn server_identity(&self) -> Option<&Identity> {
        self.conn.identity()
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.conn.close(CloseCode::NORMAL, "client closed");
    }

    async fn send_request(
        &self,
        method: &str,
        params: Value,
        with_id: bool,
    ) -> Result<(Value, RecvStream), ClientError> {
        if !(params.is_null() || params.is_object() || params.is_array()) {
            return Err(ClientError::Protocol(
                "params must be an object, an array or null".into(),
            ));
        }
        let id = with_id.then(|| self.next_id.fetch_add(1, Ordering::Relaxed));
        let token = self.token.as_ref().map(BearerToken::as_str);
        let request = jsonrpc::request(id, method, params, token);
        let (mut send, recv) = self
            .conn
            .quinn()
            .open_bi()
            .await
            .map_err(|e| ClientError::Transport(e.into()))?;
        frame::write_json(&mut send, &request, self.max_request).await?;
        send.finish()
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        Ok((id.map_or(Value::Null, Value::from), recv))
    }
}

/// The client side of a subscription. Dropping it stops the stream (the server sees the
/// client stop reading and ends the subscription).
#[derive(Debug)]
pub struct ClientSubscription {
    id: Value,
    initial: Value,
    recv: Option<RecvStream>,
    max: MaxFrameLen,
}

impl ClientSubscription {
    /// The initial result.
    pub fn initial(&self) -> &Value {
        &self.initial
    }

    /// The next notification's params; `None` once the server has ended the stream.
    /// An error frame from the server arrives as `Some(Err(ClientError::Rpc(..)))`, then `None`.
    pub async fn next(&mut self) -> Option<Result<Value, ClientError>> {
        let recv = self.recv.as_mut()?;
        let frame = match frame::read_json::<_, Value>(recv, self.max).await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                self.recv = None;
                return None;
            }
            Err(e) => {
                self.recv = None;
                return Some(Err(e.into()));
            }
        };
        if frame.get("method").is_some() {
            return Some(
                frame
                    .get("params")
                    .cloned()
                    .ok_or_else(|| ClientError::Protocol("notification without params".into())),
            );
        }
        self.recv = None;
        Some(match parse_response(frame, &self.id) {
            Ok(_) => Err(ClientError::Protocol(
                "a second response on a subscription".into(),
            )),
            Err(e) => Err(e),
        })
    }
}

async fn read_response(
    recv: &mut RecvStream,
    max: MaxFrameLen,
    id: &Value,
) -> Result<Value, ClientError> {
    let frame = frame::read_json::<_, Value>(recv, max)
        .await?
        .ok_or_else(|| ClientError::Protocol("stream ended without a response".into()))?;
    parse_response(frame, id)
}

/// The result of a response frame, or its error. `expected_id` is checked when not null.
fn parse_response(frame: Value, expected_id: &Value) -> Result<Value, ClientError> {
    let Value::Object(mut obj) = frame else {
        return Err(ClientError::Protocol("response is not an object".into()));
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some(jsonrpc::JSONRPC_VERSION) {
        return Err(ClientError::Protocol("response is not JSON-RPC 2.0".into()));
    }
    if let Some(error) = obj.remove("error") {
        let error: RpcError =
            serde_json::from_value(error).map_err(|e| ClientError::Protocol(e.to_string()))?;
        return Err(ClientError::Rpc(error));
    }
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    if !expected_id.is_null() && id != *expected_id {
        return Err(ClientError::Protocol(format!(
            "response for id {id}, expected {expected_id}"
        )));
    }
    obj.remove("result")
        .ok_or_else(|| ClientError::Protocol("response has neither result nor error".into()))
}
