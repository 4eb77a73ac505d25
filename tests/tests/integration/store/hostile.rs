//! Object semantics over QUIC (conflicts, finalizers, owners) and hostile clients at process
//! level: malformed frames, a 100 MB frame, 10,000 concurrent calls, connections without
//! a certificate or token, a client on the Raft ALPN. Each is refused while another client is
//! served throughout.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use ferrocore_runtime::{Alpn, Endpoint, TransportLimits, spawn, timeout};
use ferrocore_tests::cluster::{Cluster, ClusterOptions, SERVER_NAME};
use serde_json::json;

use super::support::{NS, code_of, framed, named, network, raw_connection, raw_exchange, runtime};

#[test]
fn conflicts_finalizers_owners_and_hostile_clients() {
    runtime()
        .block_on(run())
        .expect("semantics and hostile clients");
}

async fn run() -> anyhow::Result<()> {
    let mut cluster = Cluster::start_all(&ClusterOptions::new(3)).await?;
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .context("follower")?;
    semantics(&cluster, follower).await?;

    // A well-behaved client keeps writing while the hostile ones run.
    let good = cluster.token_client(follower).await?;
    let good_task = spawn(async move {
        for i in 0..40 {
            let name = format!("good-{i}");
            good.call("object.create", json!({"object": network(&name)}))
                .await?;
            good.call("object.get", named(&name)).await?;
        }
        anyhow::Ok(())
    });
    hostile(&cluster, leader).await?;
    timeout(Duration::from_secs(60), good_task)
        .await
        .context("the good client was starved")???;
    ensure!(cluster.running().len() == 3, "every controller is still up");
    Ok(())
}

/// A Secret in [`NS`]: the object-semantics checks use a kind the control plane never writes,
/// so its own finalizers and status writes (it runs on these controllers) cannot move the
/// resourceVersion between the test's calls.
fn secret(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"namespace": NS, "name": name, "labels": {"test": "store"}},
           "data": {"k": "dg=="}})
}

/// The params naming a Secret in [`NS`].
fn secret_named(name: &str) -> serde_json::Value {
    json!({"kind": "Secret", "namespace": NS, "name": name})
}

async fn semantics(cluster: &Cluster, id: u64) -> anyhow::Result<()> {
    let c = cluster.client(id).await?;
    let created = c
        .call("object.create", json!({"object": secret("sem")}))
        .await?;
    let mut stale = secret("sem");
    stale["metadata"]["resourceVersion"] = created["object"]["metadata"]["resourceVersion"].clone();
    stale["metadata"]["labels"]["v"] = json!("1");
    c.call("object.update", json!({"object": stale.clone()}))
        .await?;
    let conflict = c.call("object.update", json!({"object": stale})).await;
    ensure!(
        code_of(&conflict) == Some(1004),
        "stale resourceVersion: {conflict:?}"
    );

    let mut held = secret("held");
    held["metadata"]["finalizers"] = json!(["test.ferrocore/hold"]);
    c.call("object.create", json!({"object": held})).await?;
    let deleted = c.call("object.delete", secret_named("held")).await?;
    ensure!(deleted["removed"] == false, "a finalizer holds the object");
    c.call("object.get", secret_named("held")).await?;
    let clear = json!({"kind": "Secret", "namespace": NS, "name": "held",
                       "patch": {"metadata": {"finalizers": []}}});
    c.call("object.patch", clear).await?;
    ensure!(
        code_of(&c.call("object.get", secret_named("held")).await) == Some(1000),
        "removed once cleared"
    );

    let owner = c
        .call("object.create", json!({"object": secret("owner")}))
        .await?;
    let mut child = secret("child");
    child["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1",
        "kind": "Secret", "name": "owner", "uid": owner["object"]["metadata"]["uid"]}]);
    c.call("object.create", json!({"object": child})).await?;
    c.call("object.delete", secret_named("owner")).await?;
    ensure!(
        code_of(&c.call("object.get", secret_named("child")).await) == Some(1000),
        "dependent deleted"
    );
    Ok(())
}

async fn hostile(cluster: &Cluster, id: u64) -> anyhow::Result<()> {
    let addr = cluster.addr(id);
    let (_ep, conn) = raw_connection(addr, cluster.trust(), Some(cluster.admin())).await?;
    let garbage = raw_exchange(&conn, &framed(b"{not json")).await?;
    ensure!(garbage["error"]["code"] == -32700, "garbage: {garbage}");
    let wrong = raw_exchange(
        &conn,
        &framed(br#"{"jsonrpc":"2.0","id":1,"method":"object.get","params":{"kind":7}}"#),
    )
    .await?;
    ensure!(wrong["error"]["code"] == -32602, "wrong types: {wrong}");
    let unknown = raw_exchange(
        &conn,
        &framed(br#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#),
    )
    .await?;
    ensure!(
        unknown["error"]["code"] == -32601,
        "unknown method: {unknown}"
    );
    let mut huge = (100u32 * 1024 * 1024).to_be_bytes().to_vec();
    huge.extend_from_slice(&[b'x'; 64 * 1024]);
    let big = raw_exchange(&conn, &huge).await?;
    ensure!(big["error"]["code"] == -32002, "100 MB frame: {big}");

    // Many concurrent calls on one connection: QUIC stream credit queues them, none fails.
    let client = std::sync::Arc::new(cluster.client(id).await?);
    let calls: Vec<_> = (0..10_000)
        .map(|_| {
            let client = client.clone();
            spawn(async move { client.call("cluster.members", json!({})).await })
        })
        .collect();
    let all = async {
        for call in calls {
            call.await??;
        }
        anyhow::Ok(())
    };
    timeout(Duration::from_secs(120), all)
        .await
        .context("10,000 concurrent calls did not finish")??;

    let (_anon_ep, anon) = raw_connection(addr, cluster.trust(), None).await?;
    let refused = raw_exchange(
        &anon,
        &framed(br#"{"jsonrpc":"2.0","id":1,"method":"cluster.status"}"#),
    )
    .await?;
    ensure!(
        refused["error"]["code"] == -32001,
        "no certificate, no token: {refused}"
    );
    let (_bad_ep, bad) = raw_connection(addr, cluster.trust(), None).await?;
    let wrong_token =
        br#"{"jsonrpc":"2.0","id":1,"method":"cluster.status","auth":{"token":"0000"}}"#;
    let refused = raw_exchange(&bad, &framed(wrong_token)).await?;
    ensure!(refused["error"]["code"] == -32001, "wrong token: {refused}");

    let endpoint = Endpoint::client(
        "127.0.0.1:0".parse()?,
        Some(cluster.admin()),
        cluster.trust(),
        &TransportLimits::default(),
    )?;
    let raft = endpoint.connect(addr, SERVER_NAME, Alpn::Raft).await?;
    let closed = timeout(Duration::from_secs(5), raft.accept_bi()).await;
    ensure!(
        matches!(closed, Ok(Err(_))),
        "an admin certificate is closed on the Raft ALPN"
    );
    Ok(())
}
