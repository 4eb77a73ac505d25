//! The JSON-RPC 2.0 server over QUIC: one request per bidirectional stream, answered by a
//! [`Handler`] that knows the methods (this crate knows none). A handler may answer with a
//! [`Subscription`]: the server then keeps writing notification frames on that stream until the
//! handler ends it or the client stops reading.
//!
//! Admission (docs/rpc.md §Authentication): a connection with a verified client certificate is
//! authenticated by it. A connection without one must carry `"auth": {"token": ...}` in the
//! request on its first stream; until that request is checked no other stream is accepted, and
//! if the token is missing or unknown the client gets a -32001 error and the connection is
//! closed. The handler never runs for an unauthenticated caller.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::{RecvStream, SendStream, VarInt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::auth::{Principal, TokenSet};
use crate::frame::{self, FrameError, MaxFrameLen};
use crate::jsonrpc::{self, ErrorCode, Request, RpcError};
use crate::quic::{BoxFuture, CloseCode, ConnectionHandler, PeerConnection};
use crate::task::{spawn, timeout};

/// Notifications a handler may queue on one subscription before `Notifier::send` waits: enough
/// to absorb a burst of watch events while the client reads, small enough that a stalled client
/// holds little memory. What to do with a client that stays stalled is the handler's decision.
pub const SUBSCRIPTION_BUFFER: usize = 256;

/// How long the server waits for the client to acknowledge a refusal before closing the
/// connection, so the -32001 error is actually delivered.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

/// STOP_SENDING code when the server will not read the rest of a request stream.
const STOP_OVERSIZE: VarInt = VarInt::from_u32(1);

/// Limits of the RPC server.
#[derive(Clone, Debug)]
pub struct RpcServerConfig {
    /// Bearer tokens accepted from clients without a certificate.
    pub tokens: TokenSet,
    /// Largest request frame read; larger ones are refused from the header (-32002). Sized for
    /// the largest API object plus envelope (Kubernetes caps objects near 1.5 MiB).
    pub max_request_frame: MaxFrameLen,
    /// Largest response or notification frame written; a larger reply becomes -32603.
    pub max_response_frame: MaxFrameLen,
    /// Time a client has, after opening a stream, to deliver its whole request (-32003 after):
    /// a client that opens streams and sends nothing cannot hold stream slots for ever.
    pub request_timeout: Duration,
}

impl Default for RpcServerConfig {
    fn default() -> Self {
        Self {
            tokens: TokenSet::new(),
            max_request_frame: MaxFrameLen::mib(4),
            max_response_frame: MaxFrameLen::mib(64),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// One call as a [`Handler`] sees it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method name.
    pub method: String,
    /// The params member (an object or an array), if present.
    pub params: Option<Value>,
    /// Who is calling.
    pub principal: Principal,
    /// The client's UDP address.
    pub remote: SocketAddr,
}

impl Call {
    /// The params decoded as `T` (absent params decode from `null`), or -32602 saying why not.
    ///
    /// # Errors
    /// [`RpcError`] with [`ErrorCode::INVALID_PARAMS`].
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, RpcError> {
        let params = self.params.clone().unwrap_or(Value::Null);
        serde_json::from_value(params).map_err(|e| RpcError::invalid_params(e.to_string()))
    }
}

/// A handler's answer.
#[derive(Debug)]
pub enum Reply {
    /// One result; the stream ends after it.
    Value(Value),
    /// An initial result, then notifications until the handler or the client ends them.
    Stream(Subscription),
}

/// The server side of a subscription: an initial result and a queue of notifications.
#[derive(Debug)]
pub struct Subscription {
    initial: Value,
    rx: mpsc::Receiver<Result<Value, RpcError>>,
}

impl Subscription {
    /// A subscription whose response carries `initial`, and the [`Notifier`] that feeds it.
    pub fn channel(initial: Value) -> (Notifier, Self) {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_BUFFER);
        (Notifier { tx }, Self { initial, rx })
    }
}

/// Feeds a subscription. Dropping it ends the stream normally.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: mpsc::Sender<Result<Value, RpcError>>,
}

/// The client is gone (it stopped reading or disconnected): stop producing notifications.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("Subscriber is gone")]
pub struct SubscriberGone;

impl Notifier {
    /// Queues one notification (its `params`), waiting while the queue is full.
    ///
    /// # Errors
    /// [`SubscriberGone`] once the stream has ended.
    pub async fn send(&self, params: Value) -> Result<(), SubscriberGone> {
        self.tx.send(Ok(params)).await.map_err(|_| SubscriberGone)
    }

    /// Queues one notification without waiting; `Ok(false)` if the queue is full (a slow
    /// subscriber: the handler decides whether to wait, drop or end the stream).
    ///
    /// # Errors
    /// [`SubscriberGone`] once the stream has ended.
    pub fn try_send(&self, params: Value) -> Result<bool, SubscriberGone> {
        match self.tx.try_send(Ok(params)) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SubscriberGone),
        }
    }

    /// Ends the stream with an error frame (e.g. "revision compacted").
    pub async fn fail(self, error: RpcError) {
        let _ = self.tx.send(Err(error)).await;
    }

    /// Resolves when the client is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// The methods: what the API service implements.
pub trait Handler: Send + Sync + 'static {
    /// Answers one call. Runs as its own task; a panic becomes -32603 for this call only.
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, RpcError>>;
}

/// The JSON-RPC server: register it as the endpoint's handler for `Alpn::Rpc`.
#[derive(Clone)]
pub struct RpcServer {
    handler: Arc<dyn Handler>,
    config: Arc<RpcServerConfig>,
}

impl fmt::Debug for RpcServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RpcServer {
    /// A server that answers with `handler` under `config`.
    pub fn new(handler: Arc<dyn Handler>, config: RpcServerConfig) -> Arc<Self> {
        Arc::new(Self {
            handler,
            config: Arc::new(config),
        })
    }
}

impl ConnectionHandler for RpcServer {
    fn handle(&self, conn: PeerConnection) -> BoxFuture<'static, ()> {
        let server = self.clone();
        Box::pin(async move { server.serve_connection(conn).await })
    }
}

/// One request stream as read: the parsed request, or the answer already decided.
enum Incoming {
    Request(Request),
    Answer { id: Value, error: RpcError },
    Nothing,
}

impl RpcServer {
    async fn serve_connection(self, conn: PeerConnection) {
        let principal = match conn.identity() {
            Some(id) => Principal::Certificate(id.clone()),
            None => match self.authenticate(&conn).await {
                Some(principal) => principal,
                None => return,
            },
        };
        while let Ok((send, recv)) = conn.quinn().accept_bi().await {
            let this = self.clone();
            let (conn, principal) = (conn.clone(), principal.clone());
            spawn(async move {
                let incoming = this.read_request(recv).await;
                this.answer(&conn, principal, incoming, send).await;
            });
        }
    }

    /// Reads the first stream of a connection without a certificate and checks its token.
    /// Returns the principal (the first request has been dispatched), or `None` after refusing.
    async fn authenticate(&self, conn: &PeerConnection) -> Option<Principal> {
        let Ok(Ok((mut send, recv))) =
            timeout(self.config.request_timeout, conn.quinn().accept_bi()).await
        else {
            conn.close(CloseCode::UNAUTHENTICATED, "no request");
            return None;
        };
        let incoming = self.read_request(recv).await;
        let (id, reason) = match self.verdict(&incoming) {
            Ok(name) => {
                let principal = Principal::Token(name);
                let this = self.clone();
                let (conn, p) = (conn.clone(), principal.clone());
                spawn(async move { this.answer(&conn, p, incoming, send).await });
                return Some(principal);
            }
            Err(refusal) => refusal,
        };
        let error = RpcError::unauthenticated(reason);
        self.write_value(&mut send, &jsonrpc::error_response(&id, &error))
            .await;
        refuse(conn, send, reason).await;
        None
    }

    /// The token holder's name if the first request of an anonymous connection carries a valid
    /// token; otherwise the id to answer and why it is refused.
    fn verdict(&self, incoming: &Incoming) -> Result<String, (Value, &'static str)> {
        match incoming {
            Incoming::Request(r) => {
                let id = r.id.clone().unwrap_or(Value::Null);
                match r.token.as_deref().map(|t| self.config.tokens.check(t)) {
                    Some(Some(name)) => Ok(name.to_owned()),
                    Some(None) => Err((id, "invalid bearer token")),
                    None => Err((
                        id,
                        "no client certificate and no auth.token in the first request",
                    )),
                }
            }
            Incoming::Answer { id, .. } => {
                Err((id.clone(), "first request is not a valid request"))
            }
            Incoming::Nothing => Err((Value::Null, "first stream carried no request")),
        }
    }

    /// Reads and parses the one request frame of a stream, within the request timeout.
    async fn read_request(&self, mut recv: RecvStream) -> Incoming {
        let max = self.config.max_request_frame;
        let read = async {
            let Some(len) = frame::read_header(&mut recv).await? else {
                return Ok(None);
            };
            frame::read_payload(&mut recv, len, max).await.map(Some)
        };
        let bytes = match timeout(self.config.request_timeout, read).await {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None)) => return Incoming::Nothing,
            Ok(Err(e @ FrameError::TooLarge { .. })) => {
                // Tell the client to stop sending the rest; we will not read it.
                let _ = recv.stop(STOP_OVERSIZE);
                return answer(ErrorCode::FRAME_TOO_LARGE, e.to_string());
            }
            Ok(Err(e)) => return answer(ErrorCode::INVALID_REQUEST, e.to_string()),
            Err(_) => {
                return answer(
                    ErrorCode::REQUEST_TIMEOUT,
                    format!(
                        "No complete request within {:?}",
                        self.config.request_timeout
                    ),
                );
            }
        };
        match jsonrpc::parse_request(&bytes) {
            Ok(request) => Incoming::Request(request),
            Err(rejected) => Incoming::Answer {
                id: rejected.id,
                error: rejected.error,
            },
        }
    }

    /// Answers one stream: runs the handler for a valid request, writes the reply, ends the
    /// stream.
    async fn answer(
        &self,
        conn: &PeerConnection,
        principal: Principal,
        incoming: Incoming,
        mut send: SendStream,
    ) {
        let request = match incoming {
            Incoming::Request(request) => request,
            Incoming::Answer { id, error } => {
                self.write_value(&mut send, &jsonrpc::error_response(&id, &error))
                    .await;
                let _ = send.finish();
                return;
            }
            Incoming::Nothing => {
                let _ = send.finish();
                return;
            }
        };
        // A token on a later request is checked too: a wrong one is a refusal, never ignored.
        if let Some(token) = &request.token
            && self.config.tokens.check(token).is_none()
        {
            let id = request.id.unwrap_or(Value::Null);
            let error = RpcError::unauthenticated("invalid bearer token");
            self.write_value(&mut send, &jsonrpc::error_response(&id, &error))
                .await;
            refuse(conn, send, "invalid bearer token").await;
            return;
        }
        let method = request.method.clone();
        let call = Call {
            method: request.method,
            params: request.params,
            principal,
            remote: conn.remote_address(),
        };
        let outcome = match spawn(self.handler.call(call)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(RpcError::internal("The handler failed")),
        };
        let Some(id) = request.id else {
            let _ = send.finish(); // A notification gets no response.
            return;
        };
        match outcome {
            Err(error) => {
                self.write_value(&mut send, &jsonrpc::error_response(&id, &error))
                    .await;
            }
            Ok(Reply::Value(result)) => {
                self.write_value(&mut send, &jsonrpc::response(&id, &result))
                    .await;
            }
            Ok(Reply::Stream(sub)) => self.stream(&mut send, &id, &method, sub).await,
        }
        let _ = send.finish();
    }

    /// Writes a subscription's initial result, then its notifications, until the handler ends
    /// it or the client stops reading.
    async fn stream(&self, send: &mut SendStream, id: &Value, method: &str, mut sub: Subscription) {
        if !self
            .write_value(send, &jsonrpc::response(id, &sub.initial))
            .await
        {
            return;
        }
        // `stopped` resolves when the client stops the stream or the connection dies; it owns
        // what it needs, so it can be polled while `send` is written to.
        let stopped = send.stopped();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                item = sub.rx.recv() => {
                    let frame = match item {
                        None => return,
                        Some(Ok(params)) => jsonrpc::notification(method, params),
                        Some(Err(error)) => {
                            self.write_value(send, &jsonrpc::error_response(id, &error)).await;
                            return;
                        }
                    };
                    if !self.write_value(send, &frame).await {
                        return;
                    }
                }
                _ = &mut stopped => return,
            }
        }
    }

    /// Writes one frame; a reply over the response limit becomes -32603 instead. Returns
    /// whether the stream is still writable.
    async fn write_value(&self, send: &mut SendStream, value: &Value) -> bool {
        let max = self.config.max_response_frame;
        match frame::write_json(send, value, max).await {
            Ok(()) => true,
            Err(FrameError::TooLarge { len, max }) => {
                let id = value.get("id").cloned().unwrap_or(Value::Null);
                let error = RpcError::internal(format!(
                    "Response of {len} bytes exceeds the server's limit of {max} bytes"
                ));
                frame::write_json(
                    send,
                    &jsonrpc::error_response(&id, &error),
                    MaxFrameLen::mib(1),
                )
                .await
                .is_ok()
            }
            Err(_) => false,
        }
    }
}

fn answer(code: ErrorCode, message: String) -> Incoming {
    Incoming::Answer {
        id: Value::Null,
        error: RpcError::new(code, message),
    }
}

/// Ends the refused stream, gives the error a moment to reach the client, closes the
/// connection.
async fn refuse(conn: &PeerConnection, mut send: SendStream, reason: &str) {
    let _ = send.finish();
    let _ = timeout(REFUSAL_LINGER, send.stopped()).await;
    conn.close(CloseCode::UNAUTHENTICATED, reason);
}
