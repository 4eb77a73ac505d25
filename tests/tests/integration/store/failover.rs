//! Leader failure under load: no acknowledged write is lost, followers read their own writes,
//! watches deliver every change exactly once across the leader change, and a killed controller
//! catches up by log (short outage) and by snapshot (after compaction).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use ferrocore_runtime::{ClientAuth, ClientSubscription, sleep, spawn, timeout};
use ferrocore_tests::cluster::{Cluster, ClusterOptions, Timing};
use serde_json::{Value, json};

use super::support::{NS, Writers, call_retrying, list_names, named, network, runtime};

/// Writes in the leader-kill run, and how many are acknowledged before the kill.
const WRITES: usize = 1_000;
const KILL_AFTER: usize = 300;

#[test]
fn acknowledged_writes_survive_a_leader_kill_and_the_victim_catches_up_by_log() {
    runtime()
        .block_on(leader_kill_run())
        .expect("leader kill run");
}

async fn leader_kill_run() -> anyhow::Result<()> {
    let mut cluster = Cluster::start_all(&ClusterOptions::new(3)).await?;
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .context("follower")?;
    follower_reads_its_writes(&cluster, leader, follower).await?;

    let start: u64 = cluster.status(follower).await?["revision"]
        .as_str()
        .context("revision")?
        .parse()?;
    let watch = cluster.client(follower).await?;
    let sub = watch
        .subscribe(
            "object.watch",
            json!({"resourceVersion": start.to_string()}),
        )
        .await?;
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let collector = spawn(collect_events(sub, target.clone()));

    let configs = cluster
        .ids()
        .into_iter()
        .map(|id| cluster.client_config(id, ClientAuth::Certificate(cluster.admin().clone())))
        .collect();
    let writers = Writers::start(configs, "load", WRITES, 12);
    while writers.acked() < KILL_AFTER {
        sleep(Duration::from_millis(20)).await;
    }
    cluster.kill(leader);
    let acked = writers.finish().await?;
    ensure!(
        acked.len() > WRITES * 9 / 10,
        "only {} acknowledged",
        acked.len()
    );

    let new_leader = cluster.leader(Duration::from_secs(30)).await?;
    ensure!(new_leader != leader, "a new leader took over");
    for id in cluster.running() {
        check_present(&cluster, id, &acked).await?;
    }
    let end = revision_now(&cluster, new_leader).await?;
    target.store(end, Ordering::Release);
    let events = timeout(Duration::from_secs(60), collector)
        .await
        .context("the watch did not reach the last revision")???;
    watch.close();
    check_watch(&events, start, end, &acked)?;

    cluster.start(leader)?;
    cluster.wait_ready(leader, Duration::from_secs(60)).await?;
    check_present(&cluster, leader, &acked).await?;
    let snapshots = snapshot_files(&cluster, leader)?;
    ensure!(
        snapshots.is_empty(),
        "caught up by log, no snapshot: {snapshots:?}"
    );
    Ok(())
}

/// A linearizable read on a follower right after an acknowledged write sees it.
async fn follower_reads_its_writes(
    cluster: &Cluster,
    leader: u64,
    follower: u64,
) -> anyhow::Result<()> {
    let writer = cluster.client(leader).await?;
    let reader = cluster.client(follower).await?;
    for i in 0..20 {
        let name = format!("ryw-{i}");
        writer
            .call("object.create", json!({"object": network(&name)}))
            .await?;
        let got = reader.call("object.get", named(&name)).await?;
        ensure!(got["object"]["metadata"]["name"] == name.as_str());
    }
    Ok(())
}

async fn revision_now(cluster: &Cluster, id: u64) -> anyhow::Result<u64> {
    let page = call_retrying(
        cluster,
        id,
        "object.list",
        json!({"kind": "Network", "limit": 1}),
    )
    .await?;
    Ok(page["resourceVersion"]
        .as_str()
        .context("resourceVersion")?
        .parse()?)
}

async fn check_present(cluster: &Cluster, id: u64, acked: &BTreeSet<String>) -> anyhow::Result<()> {
    let names = list_names(cluster, id).await?;
    let missing: Vec<&String> = acked.difference(&names).take(5).collect();
    ensure!(
        missing.is_empty(),
        "controller {id} lost acknowledged writes: {missing:?}"
    );
    Ok(())
}

/// Collects watch events until one at or past `target` (set once the writes are done).
async fn collect_events(
    mut sub: ClientSubscription,
    target: Arc<AtomicU64>,
) -> anyhow::Result<Vec<Value>> {
    let mut events = Vec::new();
    let mut last = 0;
    loop {
        if last >= target.load(Ordering::Acquire) {
            return Ok(events);
        }
        let Ok(item) = timeout(Duration::from_millis(500), sub.next()).await else {
            continue;
        };
        let event = item.context("the watch ended")??;
        last = event["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        events.push(event);
    }
}

/// The watch from `start` delivered revisions start+1..=end, each once and in order, and an
/// ADDED event for every acknowledged object.
fn check_watch(
    events: &[Value],
    start: u64,
    end: u64,
    acked: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let revisions: Vec<u64> = events
        .iter()
        .map(|e| {
            e["revision"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let expected: Vec<u64> = (start + 1..=end).collect();
    if revisions != expected {
        let first_bad = revisions.iter().zip(&expected).position(|(a, b)| a != b);
        bail!(
            "watch from {start}: {} events, expected {} (revisions {}..={end} once, in order); first difference at {first_bad:?}",
            revisions.len(),
            expected.len(),
            start + 1
        );
    }
    let added: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["type"] == "ADDED")
        .filter_map(|e| e["object"]["metadata"]["name"].as_str())
        .collect();
    let unseen: Vec<&String> = acked
        .iter()
        .filter(|n| !added.contains(n.as_str()))
        .take(5)
        .collect();
    ensure!(unseen.is_empty(), "no ADDED event for {unseen:?}");
    Ok(())
}

fn snapshot_files(cluster: &Cluster, id: u64) -> anyhow::Result<Vec<String>> {
    let dir = cluster.data_dir(id).join("raft/snapshots");
    let mut out = Vec::new();
    if dir.exists() {
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("snap-") {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// How often (every 250 ms) the test asks the new leader whether it has compacted yet: 20 s.
const COMPACTION_POLLS: usize = 80;

#[test]
fn a_controller_down_past_compaction_catches_up_by_snapshot_and_secrets_stay_sealed() {
    runtime().block_on(snapshot_run()).expect("snapshot run");
}

async fn snapshot_run() -> anyhow::Result<()> {
    let mut options = ClusterOptions::new(3);
    options.timing = Timing {
        snapshot_logs: 100,
        snapshot_keep_logs: 20,
        ..Timing::default()
    };
    let mut cluster = Cluster::start_all(&options).await?;
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let canary = format!("plaintext-canary-{}", std::process::id());
    let secret = super::secrets::secret_with(&canary);
    call_retrying(&cluster, leader, "object.create", json!({"object": secret})).await?;

    let victim_index = cluster.status(leader).await?["lastLogIndex"]
        .as_u64()
        .context("index")?;
    cluster.kill(leader);
    let configs = cluster
        .running()
        .into_iter()
        .map(|id| cluster.client_config(id, ClientAuth::Certificate(cluster.admin().clone())))
        .collect();
    let acked = Writers::start(configs, "snap", 400, 4).finish().await?;
    let new_leader = cluster.leader(Duration::from_secs(30)).await?;
    // Snapshots are built off the Raft task and the purge is queued behind the log writer's
    // appends, so compaction may finish a moment after the last acknowledged write.
    let mut purged = 0;
    for _ in 0..COMPACTION_POLLS {
        purged = cluster.status(new_leader).await?["purgedIndex"]
            .as_u64()
            .unwrap_or(0);
        if purged > victim_index {
            break;
        }
        sleep(Duration::from_millis(250)).await;
    }
    ensure!(
        purged > victim_index,
        "the leader compacted past the victim's log ({purged} <= {victim_index}): only a snapshot can catch it up"
    );

    cluster.start(leader)?;
    cluster.wait_ready(leader, Duration::from_secs(60)).await?;
    check_present(&cluster, leader, &acked).await?;
    ensure!(
        !snapshot_files(&cluster, leader)?.is_empty(),
        "the victim holds a snapshot"
    );
    let got = call_retrying(
        &cluster,
        leader,
        "object.get",
        json!({"kind": "Secret", "namespace": NS, "name": "canary"}),
    )
    .await?;
    ensure!(got["object"]["data"]["token"] == super::secrets::b64(&canary));
    super::secrets::assert_sealed_on_disk(&cluster, &canary)
}
