//! Well-behaved clients: calls, typed calls, notifications, subscriptions.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrocore_runtime::{ClientError, ErrorCode, Identity, sleep};
use serde_json::{Value, json};

use crate::common::start_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_return_results_and_errors() {
    let server = start_server();
    let client = server.admin_client().await;
    assert_eq!(client.server_identity(), Some(&Identity::Controller(1)));
    let echoed = client.call("echo", json!({"x": [1, 2]})).await.unwrap();
    assert_eq!(echoed, json!({"x": [1, 2]}));
    let sum: i64 = client
        .call_as("add", &json!({"a": 2, "b": 40}))
        .await
        .unwrap();
    assert_eq!(sum, 42);
    // A result of `null` is a result, not a missing one.
    assert_eq!(client.call("echo", Value::Null).await.unwrap(), Value::Null);

    let err = client
        .call("add", json!({"a": "two", "b": 1}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Rpc(ref e) if e.code == ErrorCode::INVALID_PARAMS),
        "{err}"
    );
    let err = client.call("nope", json!({})).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Rpc(ref e) if e.code == ErrorCode::METHOD_NOT_FOUND),
        "{err}"
    );
    // A panicking handler costs one call, not the server.
    let err = client.call("panic", json!({})).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Rpc(ref e) if e.code == ErrorCode::INTERNAL_ERROR),
        "{err}"
    );
    // A reply over the server's response limit (64 MiB default is not hit; 2 MiB is fine).
    let big = client.call("big", json!({})).await.unwrap();
    assert_eq!(big.as_str().map(str::len), Some(2 * 1024 * 1024));
    assert_eq!(client.call("echo", json!([1])).await.unwrap(), json!([1]));

    // A notification runs the method and gets no answer.
    let before = server.calls();
    client.notify("echo", json!({})).await.unwrap();
    for _ in 0..100 {
        if server.calls() > before {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.calls(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_stream_in_order_and_end() {
    let server = start_server();
    let client = server.token_client().await;
    let mut sub = client.subscribe("count", json!({"n": 500})).await.unwrap();
    assert_eq!(sub.initial(), &json!({"count": 500}));
    for i in 0..500 {
        let item = sub.next().await.unwrap().unwrap();
        assert_eq!(item, json!({"i": i}));
    }
    assert!(sub.next().await.is_none());

    // An error ends the stream after the notifications before it.
    let mut sub = client.subscribe("fail_stream", Value::Null).await.unwrap();
    assert_eq!(sub.next().await.unwrap().unwrap(), json!(1));
    let err = sub.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, ClientError::Rpc(ref e) if e.code.value() == 1001 && e.code.is_application()),
        "{err}"
    );
    assert!(sub.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscription_stops_the_producer() {
    let server = start_server();
    let client = server.admin_client().await;
    let mut sub = client.subscribe("forever", Value::Null).await.unwrap();
    for _ in 0..3 {
        sub.next().await.unwrap().unwrap();
    }
    drop(sub);
    for _ in 0..200 {
        if server.handler.gone.load(Ordering::SeqCst) == 1 {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        server.handler.gone.load(Ordering::SeqCst),
        1,
        "producer never saw the client go"
    );
    // The connection is still good.
    assert_eq!(client.call("echo", json!([1])).await.unwrap(), json!([1]));
}
