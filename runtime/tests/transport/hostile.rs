//! Hostile clients: each gets an error or a refusal, and the server keeps serving others.

use std::time::Duration;

use ferrocore_runtime::frame::{self, MaxFrameLen};
use ferrocore_runtime::{Alpn, Clock, SystemClock, spawn, timeout};
use serde_json::{Value, json};

use crate::common::{Server, error_code, raw_request, start_server};

/// A well-behaved client still gets answers promptly.
async fn others_are_served(server: &Server) {
    let client = server.admin_client().await;
    let answer = timeout(
        Duration::from_secs(10),
        client.call("echo", json!(["still here"])),
    )
    .await
    .expect("the server stopped answering")
    .unwrap();
    assert_eq!(answer, json!(["still here"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_spec_errors_on_a_connection_that_stays_up() {
    let server = start_server();
    let conn = server.raw(Alpn::Rpc, Some(&server.admin)).await;
    let cases: [(&[u8], i64); 10] = [
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,", -32700),
        (b"\x00\x01\x02", -32700),
        (b"", -32700),
        (b"[]", -32600),
        (
            b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}]",
            -32600,
        ),
        (b"\"just a string\"", -32600),
        (b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", -32600),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"echo\"}",
            -32600,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":3}",
            -32600,
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":[],\"b\":{}}}",
            -32602,
        ),
    ];
    for (payload, code) in cases {
        let resp = raw_request(&conn, payload).await;
        assert_eq!(
            error_code(&resp),
            code,
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    let resp = raw_request(&conn, br#"{"jsonrpc":"2.0","id":"u","method":"no.such"}"#).await;
    assert_eq!(error_code(&resp), -32601);
    assert_eq!(resp["id"], "u");
    // A stream cut off inside a frame is answered too (or at worst dropped), never fatal.
    let (mut send, _recv) = conn.quinn().open_bi().await.unwrap();
    send.write_all(&[0, 0, 0, 50, b'{']).await.unwrap();
    send.finish().unwrap();
    let ok = raw_request(
        &conn,
        br#"{"jsonrpc":"2.0","id":9,"method":"echo","params":[9]}"#,
    )
    .await;
    assert_eq!(ok["result"], json!([9]));
    others_are_served(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_frame_is_refused_from_its_header() {
    let server = start_server();
    let conn = server.raw(Alpn::Rpc, Some(&server.admin)).await;
    let (mut send, mut recv) = conn.quinn().open_bi().await.unwrap();
    let announced: u32 = 100 * 1000 * 1000;
    send.write_all(&announced.to_be_bytes()).await.unwrap();
    // Try to push the whole 100 MB; the server stops the stream long before.
    let chunk = vec![b'x'; 1024 * 1024];
    let mut sent = 0usize;
    while sent < announced as usize {
        if send.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(
        sent < announced as usize,
        "server read the whole oversize frame"
    );
    let resp: Value = frame::read_json(&mut recv, MaxFrameLen::mib(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(error_code(&resp), -32002);
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100000000")
    );
    // The same connection keeps working.
    let ok = raw_request(
        &conn,
        br#"{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}"#,
    )
    .await;
    assert_eq!(ok["result"], json!([2]));
    others_are_served(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_streams_are_all_answered_while_others_are_served() {
    let server = start_server();
    let hog = std::sync::Arc::new(server.admin_client().await);
    let clock = SystemClock::new();
    let started = clock.now();
    let tasks: Vec<_> = (0..10_000u64)
        .map(|i| {
            let hog = hog.clone();
            spawn(async move { hog.call("echo", json!([i])).await })
        })
        .collect();
    // While the hog's streams queue behind its stream limit, another client gets through.
    others_are_served(&server).await;
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap().unwrap();
        assert_eq!(answer, json!([i]));
    }
    eprintln!(
        "10,000 concurrent calls on one connection: {:?}",
        clock.now() - started
    );
    others_are_served(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_send_nothing_time_out_and_free_their_slots() {
    let server = start_server();
    let conn = server.raw(Alpn::Rpc, Some(&server.admin)).await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        // 200 > the 128-stream limit: the later opens wait for the earlier ones to time out.
        let conn = conn.clone();
        idle.push(spawn(async move {
            let (mut send, mut recv) = conn.quinn().open_bi().await.unwrap();
            // A partial header, then nothing: a slowloris.
            send.write_all(&[0, 0]).await.unwrap();
            let resp: Value = frame::read_json(&mut recv, MaxFrameLen::mib(1))
                .await
                .unwrap()
                .unwrap();
            drop(send);
            error_code(&resp)
        }));
    }
    others_are_served(&server).await;
    for task in idle {
        assert_eq!(task.await.unwrap(), -32003);
    }
    assert_eq!(
        server.calls(),
        1,
        "only the well-behaved call reached the handler"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_anonymous_connections_are_refused_while_others_are_served() {
    let server = start_server();
    let mut refused = Vec::new();
    for _ in 0..20 {
        let conn = server.raw(Alpn::Rpc, None).await;
        refused.push(spawn(async move {
            let resp = raw_request(&conn, br#"{"jsonrpc":"2.0","id":1,"method":"echo"}"#).await;
            error_code(&resp)
        }));
    }
    others_are_served(&server).await;
    for task in refused {
        assert_eq!(task.await.unwrap(), -32001);
    }
    assert_eq!(server.calls(), 1);
}
