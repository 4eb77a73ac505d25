//! The leader is SIGKILLed while 200 Machines are created: every one ends Running, held by
//! exactly one node, once (the nodes' `objects.json`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use ferrocore_runtime::{ClientError, timeout};
use serde_json::{Value, json};

use super::{World, name, now, small_machine, state};

/// Machines created while the leader is killed.
const LOAD_MACHINES: usize = 200;

fn load_machine(i: usize) -> Value {
    // Both hypervisors qualify (hv-zone-b's NoSchedule taint is tolerated), so the load spreads.
    let tolerates = json!([{"key": "maintenance", "operator": "Exists"}]);
    let mut m = small_machine("load", &format!("m-{i:03}"), None, &tolerates);
    m["spec"]["machinePoolSelector"] = json!({"topology.ironcore.dev/region": "eu-central"});
    m
}

/// Creates `objects` through whichever controller answers; `AlreadyExists` after a retry
/// means the earlier attempt committed (the object exists once, by name).
async fn create_all(
    configs: Vec<ferrocore_runtime::ClientConfig>,
    objects: Vec<Value>,
) -> anyhow::Result<()> {
    let mut at = 0usize;
    let mut client: Option<ferrocore_runtime::RpcClient> = None;
    for object in objects {
        let deadline = now() + Duration::from_secs(60);
        loop {
            if client.is_none() {
                let config = configs[at % configs.len()].clone();
                client = timeout(
                    Duration::from_secs(3),
                    ferrocore_runtime::RpcClient::connect(config),
                )
                .await
                .ok()
                .and_then(Result::ok);
            }
            let result = match &client {
                Some(c) => timeout(
                    Duration::from_secs(10),
                    c.call("object.create", json!({ "object": object.clone() })),
                )
                .await
                .ok(),
                None => None,
            };
            match result {
                Some(Ok(_)) => break,
                Some(Err(ClientError::Rpc(e))) if e.code.value() == 1001 => break,
                Some(Err(ClientError::Rpc(e)))
                    if !matches!(e.code.value(), 1006 | 1007 | -32603) =>
                {
                    bail!("create {}: {e}", object["metadata"]["name"]);
                }
                _ => {
                    client = None;
                    at += 1;
                    if now() > deadline {
                        bail!(
                            "create {}: no controller took it",
                            object["metadata"]["name"]
                        );
                    }
                    ferrocore_runtime::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn leader_killed_mid_creation(w: &mut World) -> anyhow::Result<()> {
    let leader = w.cluster.leader(Duration::from_secs(20)).await?;
    let configs: Vec<_> = w
        .cluster
        .ids()
        .into_iter()
        .map(|id| {
            let auth = ferrocore_runtime::ClientAuth::Certificate(w.cluster.admin().clone());
            w.cluster.client_config(id, auth)
        })
        .collect();
    const WRITERS: usize = 4;
    let mut tasks = Vec::new();
    for k in 0..WRITERS {
        let objects: Vec<Value> = (0..LOAD_MACHINES)
            .filter(|i| i % WRITERS == k)
            .map(load_machine)
            .collect();
        tasks.push(ferrocore_runtime::spawn(create_all(
            configs.clone(),
            objects,
        )));
    }
    let started = now();
    eventually!(Duration::from_secs(30), w, {
        let n = w.list("Machine", Some("load")).await?.len();
        (n < LOAD_MACHINES / 4).then(|| format!("{n} machines created"))
    });
    w.cluster.kill(leader);
    eprintln!("leader {leader} killed after {:?}", started.elapsed());
    for t in tasks {
        t.await??;
    }
    eventually!(Duration::from_secs(60), w, {
        let ms = w.list("Machine", Some("load")).await?;
        let running = ms.iter().filter(|m| state(m) == "Running").count();
        (running != LOAD_MACHINES).then(|| format!("{running} of {} running", ms.len()))
    });
    eprintln!(
        "{LOAD_MACHINES} machines running {:?} after the first create",
        started.elapsed()
    );
    let store: BTreeMap<String, String> = w
        .list("Machine", Some("load"))
        .await?
        .iter()
        .map(|m| {
            (
                name(m).to_owned(),
                m["metadata"]["uid"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(store.len(), LOAD_MACHINES);
    held_once(w, &store).await
}

/// Every machine of the store is held by exactly one node, once; no node holds others.
async fn held_once(w: &mut World, store: &BTreeMap<String, String>) -> anyhow::Result<()> {
    // Every node writes objects.json after its next poll; give them a moment, then count.
    eventually!(Duration::from_secs(5), w, {
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for n in ["node-a", "node-b"] {
            for o in w.node(n).held() {
                if o["kind"] == "Machine" && o["namespace"] == "load" {
                    let uid = o["uid"].as_str().unwrap_or("").to_owned();
                    held.entry(uid).or_default().push(n.to_owned());
                }
            }
        }
        let dup = held.iter().find(|(_, on)| on.len() > 1);
        assert!(dup.is_none(), "a machine held twice: {dup:?}");
        let missing: Vec<&String> = store
            .iter()
            .filter(|(_, uid)| !held.contains_key(*uid))
            .map(|(n, _)| n)
            .collect();
        let stray = held
            .keys()
            .filter(|uid| !store.values().any(|u| u == *uid))
            .count();
        assert_eq!(stray, 0, "nodes hold machines the store does not have");
        (!missing.is_empty()).then(|| format!("not held by any node: {missing:?}"))
    });
    let on_b = w
        .node("node-b")
        .held()
        .iter()
        .filter(|o| o["namespace"] == "load")
        .count();
    assert!(on_b > 0, "the load spread over both hypervisors");
    Ok(())
}
