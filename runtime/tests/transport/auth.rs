//! Admission: certificate, token, neither, wrong CA, wrong ALPN for the identity.

use std::time::Duration;

use ferrocore_runtime::{
    Alpn, BearerToken, CertRequest, ClientAuth, ClientError, ClusterCa, ErrorCode, Identity,
    RpcClient, sleep,
};
use serde_json::json;

use crate::common::{error_code, now, raw_request, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_and_token_clients_are_admitted_with_their_principal() {
    let server = start_server();
    let admin = server.admin_client().await;
    assert_eq!(
        admin.call("whoami", json!({})).await.unwrap(),
        json!("admin")
    );
    let token = server.token_client().await;
    // Many concurrent first calls: whichever stream is first carries the token.
    let calls: Vec<_> = (0..20).map(|_| token.call("whoami", json!({}))).collect();
    for result in futures_join(calls).await {
        assert_eq!(result.unwrap(), json!("token:ci"));
    }
}

async fn futures_join<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await);
    }
    out
}

async fn assert_refused(client: &RpcClient) {
    let err = client.call("echo", json!({})).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Rpc(ref e) if e.code == ErrorCode::UNAUTHENTICATED),
        "{err}"
    );
    // ... and then the connection is closed.
    let mut closed = false;
    for _ in 0..50 {
        if client.call("echo", json!({})).await.is_err() {
            closed = true;
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "connection stayed open after refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_and_no_or_bad_token_is_refused_before_any_work() {
    let server = start_server();
    let bad = RpcClient::connect(server.config(ClientAuth::Token(BearerToken::new("guess"))))
        .await
        .unwrap();
    assert_refused(&bad).await;

    // No token at all: a raw connection without certificate sends a bare request.
    let raw = server.raw(Alpn::Rpc, None).await;
    let resp = raw_request(&raw, br#"{"jsonrpc":"2.0","id":1,"method":"echo"}"#).await;
    assert_eq!(error_code(&resp), -32001);
    assert_eq!(resp["id"], 1);
    // Garbage as the first request of an anonymous connection is a refusal too.
    let raw = server.raw(Alpn::Rpc, None).await;
    let resp = raw_request(&raw, b"\xff\xfe not json").await;
    assert_eq!(error_code(&resp), -32001);

    assert_eq!(
        server.calls(),
        0,
        "a handler ran for an unauthenticated caller"
    );
    // Everyone else is still served.
    let admin = server.admin_client().await;
    assert_eq!(admin.call("echo", json!([5])).await.unwrap(), json!([5]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_on_a_later_request_closes_the_connection() {
    let server = start_server();
    let raw = server.raw(Alpn::Rpc, None).await;
    let t = server.token.as_str();
    let first = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":[1],"auth":{{"token":"{t}"}}}}"#
    );
    assert_eq!(
        raw_request(&raw, first.as_bytes()).await["result"],
        json!([1])
    );
    // Later requests need no token...
    let plain = raw_request(
        &raw,
        br#"{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}"#,
    )
    .await;
    assert_eq!(plain["result"], json!([2]));
    // ...but a wrong one is a refusal.
    let wrong = raw_request(
        &raw,
        br#"{"jsonrpc":"2.0","id":3,"method":"echo","auth":{"token":"x"}}"#,
    )
    .await;
    assert_eq!(error_code(&wrong), -32001);
    let reason = raw.quinn().closed().await;
    assert!(
        reason.to_string().contains("invalid bearer token"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused() {
    let server = start_server();
    let rogue = ClusterCa::generate("rogue", now()).unwrap();
    let creds = rogue
        .issue(&CertRequest::client(Identity::Admin), now())
        .unwrap();
    // In TLS 1.3 the client may believe the handshake done before the server rejects its
    // certificate, so the failure can surface at connect or at the first call.
    if let Ok(client) = RpcClient::connect(server.config(ClientAuth::Certificate(creds))).await {
        assert!(client.call("echo", json!({})).await.is_err());
    }
    assert_eq!(server.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_and_node_alpns_need_the_right_certificate() {
    let server = start_server();
    // No certificate on Raft: closed as unauthenticated.
    let conn = server.raw(Alpn::Raft, None).await;
    let reason = conn.quinn().closed().await.to_string();
    assert!(reason.contains("not admitted"), "{reason}");
    // A node certificate on Raft: forbidden.
    let node = server
        .ca
        .issue(&CertRequest::client(Identity::Node("n1".into())), now())
        .unwrap();
    let conn = server.raw(Alpn::Raft, Some(&node)).await;
    let reason = conn.quinn().closed().await.to_string();
    assert!(reason.contains("not admitted"), "{reason}");
    // A node certificate on the node ALPN is admitted, but this server has no node service.
    let conn = server.raw(Alpn::Node, Some(&node)).await;
    let reason = conn.quinn().closed().await.to_string();
    assert!(reason.contains("no service"), "{reason}");
}
