//! Fixture: a cluster CA, a controller endpoint on 127.0.0.1:0 serving the RPC ALPN with a test
//! handler, and helpers to connect well-behaved and hostile clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrocore_runtime::frame::{self, MaxFrameLen};
use ferrocore_runtime::{
    Alpn, BearerToken, BoxFuture, Call, CertRequest, ClientAuth, ClientConfig, Clock, ClusterCa,
    Credentials, Endpoint, ErrorCode, Handler, Identity, PeerConnection, Reply, Router, RpcClient,
    RpcError, RpcServer, RpcServerConfig, Subscription, SystemClock, TokenSet, TransportLimits,
    TrustRoots, sleep, spawn,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The test methods. Counts every call that reached it, so tests can prove "no work was done".
#[derive(Debug, Default)]
pub(crate) struct TestHandler {
    pub(crate) calls: AtomicU64,
    /// Incremented when a `forever` subscription notices its client is gone.
    pub(crate) gone: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct CountParams {
    n: u64,
}

#[derive(Deserialize)]
struct AddParams {
    a: i64,
    b: i64,
}

impl Handler for TestHandler {
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, RpcError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let gone = self.gone.clone();
        Box::pin(async move {
            match call.method.as_str() {
                "echo" => Ok(Reply::Value(call.params.unwrap_or(Value::Null))),
                "add" => {
                    let p: AddParams = call.params()?;
                    Ok(Reply::Value(json!(p.a + p.b)))
                }
                "whoami" => Ok(Reply::Value(json!(call.principal.to_string()))),
                "slow" => {
                    sleep(Duration::from_millis(50)).await;
                    Ok(Reply::Value(json!("done")))
                }
                "panic" => panic!("handler bug"),
                "big" => Ok(Reply::Value(json!("x".repeat(2 * 1024 * 1024)))),
                "count" => count(call.params::<CountParams>()?.n),
                "fail_stream" => {
                    let (tx, sub) = Subscription::channel(json!("started"));
                    spawn(async move {
                        let _ = tx.send(json!(1)).await;
                        tx.fail(RpcError::new(ErrorCode::new(1001), "revision compacted"))
                            .await;
                    });
                    Ok(Reply::Stream(sub))
                }
                "forever" => {
                    let (tx, sub) = Subscription::channel(json!("started"));
                    spawn(async move {
                        let mut i = 0u64;
                        while tx.send(json!(i)).await.is_ok() {
                            i += 1;
                            sleep(Duration::from_millis(5)).await;
                        }
                        gone.fetch_add(1, Ordering::SeqCst);
                    });
                    Ok(Reply::Stream(sub))
                }
                other => Err(RpcError::method_not_found(other)),
            }
        })
    }
}

fn count(n: u64) -> Result<Reply, RpcError> {
    let (tx, sub) = Subscription::channel(json!({ "count": n }));
    spawn(async move {
        for i in 0..n {
            if tx.send(json!({ "i": i })).await.is_err() {
                return;
            }
        }
    });
    Ok(Reply::Stream(sub))
}

pub(crate) fn now() -> ferrocore_runtime::WallTime {
    SystemClock::new().wall()
}

/// A controller serving RPC on loopback.
pub(crate) struct Server {
    pub(crate) ca: ClusterCa,
    pub(crate) trust: TrustRoots,
    pub(crate) addr: SocketAddr,
    pub(crate) token: BearerToken,
    pub(crate) handler: Arc<TestHandler>,
    pub(crate) admin: Credentials,
}

/// Server settings short enough for tests.
pub(crate) fn test_rpc_config(token: &BearerToken) -> RpcServerConfig {
    RpcServerConfig {
        tokens: TokenSet::new().with(token, "ci"),
        max_request_frame: MaxFrameLen::mib(1),
        request_timeout: Duration::from_millis(500),
        ..RpcServerConfig::default()
    }
}

pub(crate) fn controller_creds(ca: &ClusterCa, id: u64) -> Credentials {
    let req = CertRequest::server(
        Identity::Controller(id),
        vec!["localhost".into()],
        vec!["127.0.0.1".parse().unwrap()],
    );
    ca.issue(&req, now()).unwrap()
}

pub(crate) fn start_server() -> Server {
    let ca = ClusterCa::generate("test", now()).unwrap();
    let trust = ca.trust_roots();
    let creds = controller_creds(&ca, 1);
    let limits = TransportLimits::default();
    let endpoint =
        Endpoint::server("127.0.0.1:0".parse().unwrap(), &creds, &trust, &limits).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let token = BearerToken::generate().unwrap();
    let handler = Arc::new(TestHandler::default());
    let rpc = RpcServer::new(handler.clone(), test_rpc_config(&token));
    endpoint.serve(Router::new().route(Alpn::Rpc, rpc));
    let admin = ca
        .issue(&CertRequest::client(Identity::Admin), now())
        .unwrap();
    Server {
        ca,
        trust,

        addr,
        token,
        handler,
        admin,
    }
}

impl Server {
    pub(crate) fn config(&self, auth: ClientAuth) -> ClientConfig {
        ClientConfig::new(self.addr, "localhost", self.trust.clone(), auth)
    }

    pub(crate) async fn admin_client(&self) -> RpcClient {
        RpcClient::connect(self.config(ClientAuth::Certificate(self.admin.clone())))
            .await
            .unwrap()
    }

    pub(crate) async fn token_client(&self) -> RpcClient {
        RpcClient::connect(self.config(ClientAuth::Token(self.token.clone())))
            .await
            .unwrap()
    }

    /// A raw connection on `alpn`, with `creds` or none, for sending hand-made frames.
    pub(crate) async fn raw(&self, alpn: Alpn, creds: Option<&Credentials>) -> PeerConnection {
        let ep = Endpoint::client(
            "127.0.0.1:0".parse().unwrap(),
            creds,
            &self.trust,
            &TransportLimits::default(),
        )
        .unwrap();
        ep.connect(self.addr, "localhost", alpn).await.unwrap()
    }

    pub(crate) fn calls(&self) -> u64 {
        self.handler.calls.load(Ordering::SeqCst)
    }
}

/// Sends `payload` as one frame on a new stream and reads the one response frame.
pub(crate) async fn raw_request(conn: &PeerConnection, payload: &[u8]) -> Value {
    let (mut send, mut recv) = conn.quinn().open_bi().await.unwrap();
    frame::write_frame(&mut send, payload, MaxFrameLen::mib(64))
        .await
        .unwrap();
    send.finish().unwrap();
    frame::read_json(&mut recv, MaxFrameLen::mib(64))
        .await
        .unwrap()
        .expect("a response frame")
}

pub(crate) fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error response: {response}"))
}
