//! Five controllers: two spares are added and two original members removed while writes
//! continue; every acknowledged write is on every remaining member.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use ferrocore_runtime::ClientAuth;
use ferrocore_tests::cluster::{Cluster, ClusterOptions};
use serde_json::json;

use super::support::{Writers, call_retrying, list_names, runtime};

#[test]
fn members_are_added_and_removed_while_writes_continue() {
    runtime().block_on(run()).expect("membership changes");
}

async fn run() -> anyhow::Result<()> {
    let mut options = ClusterOptions::new(5);
    options.voters = Some(3);
    let mut cluster = Cluster::bootstrap(&options)?;
    for id in 1..=5 {
        cluster.start(id)?;
    }
    for id in 1..=3 {
        cluster.wait_ready(id, Duration::from_secs(60)).await?;
    }
    let configs = (1..=5)
        .map(|id| cluster.client_config(id, ClientAuth::Certificate(cluster.admin().clone())))
        .collect();
    let writers = Writers::start(configs, "member", 1_000_000, 6);

    while writers.acked() < 20 {
        ferrocore_runtime::sleep(Duration::from_millis(50)).await;
    }
    let before = writers.acked();
    for id in [4, 5] {
        let addr = cluster.addr(id).to_string();
        call_retrying(
            &cluster,
            1,
            "cluster.add_member",
            json!({"id": id, "addr": addr}),
        )
        .await?;
    }
    let members = voters(&cluster, 3).await?;
    ensure!(
        members == BTreeSet::from([1, 2, 3, 4, 5]),
        "five voters: {members:?}"
    );
    for id in [1, 2] {
        call_retrying(&cluster, 3, "cluster.remove_member", json!({"id": id})).await?;
    }
    let during = writers.acked() - before;
    writers.stop();
    let acked = writers.finish().await?;
    ensure!(
        during >= 20,
        "writes continued during the changes: {during} acknowledged"
    );
    cluster.kill(1);
    cluster.kill(2);
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    ensure!(
        [3, 4, 5].contains(&leader),
        "the leader is a remaining member: {leader}"
    );
    let members = voters(&cluster, leader).await?;
    ensure!(
        members == BTreeSet::from([3, 4, 5]),
        "three voters left: {members:?}"
    );
    for id in [3, 4, 5] {
        let names = list_names(&cluster, id).await?;
        let missing: Vec<&String> = acked.difference(&names).take(5).collect();
        ensure!(missing.is_empty(), "controller {id} misses {missing:?}");
    }
    Ok(())
}

/// The voters (leader and followers) as controller `id` sees them.
async fn voters(cluster: &Cluster, id: u64) -> anyhow::Result<BTreeSet<u64>> {
    let members = call_retrying(cluster, id, "cluster.members", json!({})).await?;
    members["members"]
        .as_array()
        .context("members")?
        .iter()
        .filter(|m| m["role"] != "learner")
        .map(|m| m["id"].as_u64().context("id"))
        .collect()
}
