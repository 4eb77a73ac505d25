//! Round-trip latency of a JSON-RPC call over QUIC on loopback, compared in the same run with
//! its floor: a raw QUIC stream that echoes one frame with no JSON and no handler. The gap is
//! what the JSON-RPC layer costs.
//!
//! Run: `cargo run --release -p ferrocore-runtime --example rpc_roundtrip [calls]`

use std::sync::Arc;
use std::time::Duration;

use ferrocore_runtime::frame::{self, MaxFrameLen};
use ferrocore_runtime::{
    Alpn, BoxFuture, Call, CertRequest, ClientAuth, ClientConfig, Clock, ClusterCa,
    ConnectionHandler, Endpoint, Handler, Identity, PeerConnection, Reply, Router, RpcClient,
    RpcError, RpcServer, RpcServerConfig, SystemClock, TransportLimits, build_runtime, spawn,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;

const MAX: MaxFrameLen = MaxFrameLen::mib(1);

/// Answers every call with its params.
struct Echo;

impl Handler for Echo {
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, RpcError>> {
        Box::pin(async move { Ok(Reply::Value(call.params.unwrap_or_default())) })
    }
}

/// Echoes one raw frame per stream: the floor the RPC layer sits on.
struct RawEcho;

impl ConnectionHandler for RawEcho {
    fn handle(&self, conn: PeerConnection) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            while let Ok(mut s) = conn.accept_bi().await {
                spawn(async move {
                    if let Ok(Some(f)) = frame::read_frame(&mut s.recv, MAX).await {
                        let _ = frame::write_frame(&mut s.send, &f, MAX).await;
                        let _ = s.send.shutdown().await;
                    }
                });
            }
        })
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    (at(50), at(99))
}

async fn time_calls<F, Fut>(calls: usize, mut one: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let clock = SystemClock::new();
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = clock.now();
        one().await;
        samples.push(clock.now() - start);
    }
    percentiles(samples)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000);
    build_runtime()?.block_on(run(calls))
}

async fn run(calls: usize) -> Result<(), Box<dyn std::error::Error>> {
    let now = SystemClock::new().wall();
    let ca = ClusterCa::generate("bench", now)?;
    let trust = ca.trust_roots();
    let server_req = CertRequest::server(Identity::Controller(1), vec!["localhost".into()], vec![]);
    let server = ca.issue(&server_req, now)?;
    let admin = ca.issue(&CertRequest::client(Identity::Admin), now)?;
    let node = ca.issue(&CertRequest::client(Identity::Node("bench".into())), now)?;
    let limits = TransportLimits::default();
    let endpoint = Endpoint::server("127.0.0.1:0".parse()?, &server, &trust, &limits)?;
    let addr = endpoint.local_addr()?;
    let rpc = RpcServer::new(Arc::new(Echo), RpcServerConfig::default());
    endpoint.serve(
        Router::new()
            .route(Alpn::Rpc, rpc)
            .route(Alpn::Node, Arc::new(RawEcho)),
    );

    let payload = json!({"kind": "Machine", "name": "m-0001", "pad": "x".repeat(100)});
    let client = RpcClient::connect(ClientConfig::new(
        addr,
        "localhost",
        trust.clone(),
        ClientAuth::Certificate(admin),
    ))
    .await?;
    let raw_ep = Endpoint::client("127.0.0.1:0".parse()?, Some(&node), &trust, &limits)?;
    let raw = raw_ep.connect(addr, "localhost", Alpn::Node).await?;
    let raw_bytes = serde_json::to_vec(&payload)?;

    // Warm-up: connection windows, allocator, branch predictors.
    for _ in 0..200 {
        client.call("echo", payload.clone()).await?;
    }
    let (rpc_p50, rpc_p99) = time_calls(calls, || async {
        client
            .call("echo", payload.clone())
            .await
            .expect("rpc call");
    })
    .await;
    let (raw_p50, raw_p99) = time_calls(calls, || async {
        let mut s = raw.open_bi().await.expect("open");
        frame::write_frame(&mut s.send, &raw_bytes, MAX)
            .await
            .expect("write");
        s.send.shutdown().await.expect("finish");
        frame::read_frame(&mut s.recv, MAX).await.expect("read");
    })
    .await;
    println!(
        "sequential round trips on loopback, {calls} calls, {} B payload",
        raw_bytes.len()
    );
    println!("{:<28} {:>10} {:>10}", "", "p50", "p99");
    println!(
        "{:<28} {:>10.1?} {:>10.1?}",
        "JSON-RPC call (ours)", rpc_p50, rpc_p99
    );
    println!(
        "{:<28} {:>10.1?} {:>10.1?}",
        "raw QUIC frame echo (peer)", raw_p50, raw_p99
    );
    #[allow(clippy::cast_precision_loss)] // ratios of sub-second durations in nanoseconds
    let ratio = |a: Duration, b: Duration| a.as_nanos() as f64 / b.as_nanos().max(1) as f64;
    println!(
        "{:<28} {:>9.2}x {:>9.2}x",
        "ours / peer",
        ratio(rpc_p50, raw_p50),
        ratio(rpc_p99, raw_p99)
    );
    endpoint.close();
    Ok(())
}
