//! Raft clusters in one process on openraft's simulated runtime and simulated disks: writes,
//! leader crash, re-election, catch-up by log and by snapshot, membership change under writes,
//! watches across a leader change, and determinism (same seed, same outcome).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_consensus::{
    Command, EventType, InProcessNetwork, ListOptions, Node, NodeAddr, NodeConfig, NodeId,
    ObjectKey, Precondition, ProposeError, Revision, SimRuntime, Types,
};
use ferrocore_runtime::{ManualClock, SeededRng, SimDisk, Tear, WallTime};
use openraft::AsyncRuntime;
use openraft::type_config::TypeConfigExt;
use serde_json::json;

type Rt = SimRuntime;
const WAIT: Option<Duration> = Some(Duration::from_secs(30));

struct Cluster {
    net: InProcessNetwork<Rt>,
    disks: BTreeMap<u64, SimDisk>,
    nodes: BTreeMap<u64, Node<Rt>>,
    seed: u64,
}

fn config(id: u64) -> NodeConfig {
    let mut c = NodeConfig::new(NodeId(id), PathBuf::from(format!("/node{id}")));
    c.raft.snapshot_policy = openraft::SnapshotPolicy::LogsSinceLast(40);
    c.raft.max_in_snapshot_log_to_keep = 5;
    c.raft.purge_batch_size = 8;
    c.segment_bytes_max = 4096;
    c
}

fn addr(id: u64) -> NodeAddr {
    NodeAddr::new(format!("node{id}:7700"))
}

impl Cluster {
    fn new(seed: u64) -> Self {
        Self {
            net: InProcessNetwork::new(),
            disks: BTreeMap::new(),
            nodes: BTreeMap::new(),
            seed,
        }
    }

    async fn start(&mut self, id: u64) {
        let disk = self.disks.entry(id).or_default().clone();
        let clock = ManualClock::new(WallTime::from_unix_nanos(1_767_225_600_000_000_000));
        let node = Node::<Rt>::open(
            config(id),
            Arc::new(disk),
            self.net.transport(NodeId(id)),
            Arc::new(clock),
            Box::new(SeededRng::new(self.seed * 1000 + id)),
        )
        .await
        .expect("node opens");
        self.net.register(NodeId(id), node.server());
        self.nodes.insert(id, node);
    }

    async fn boot(seed: u64, ids: &[u64]) -> Self {
        let mut cluster = Self::new(seed);
        for id in ids {
            cluster.start(*id).await;
        }
        let members = ids.iter().map(|id| (NodeId(*id), addr(*id))).collect();
        cluster.nodes[&ids[0]].initialize(members).await.unwrap();
        cluster
    }

    /// Power loss on `id`: the process stops and unsynced writes are lost.
    async fn crash(&mut self, id: u64) {
        self.net.unregister(NodeId(id));
        let node = self.nodes.remove(&id).expect("crash a running node");
        node.shutdown().await;
        self.disks[&id].crash(Tear::LoseAll);
    }

    async fn leader(&self) -> Node<Rt> {
        // Poll (in virtual time) for a node that is leader by its own account: a restarted node
        // may report a stale leader from its persisted vote.
        for _ in 0..3_000 {
            let found = self.nodes.values().find(|n| {
                let m = n.metrics();
                m.state == openraft::ServerState::Leader && m.current_leader == Some(n.id())
            });
            if let Some(leader) = found {
                // A new leader serves writes only once its blank entry is applied.
                let last = leader.metrics().last_log_index;
                leader
                    .raft()
                    .wait(WAIT)
                    .applied_index_at_least(last, "blank applied")
                    .await
                    .unwrap();
                return leader.clone();
            }
            Types::<Rt>::sleep(Duration::from_millis(10)).await;
        }
        panic!("no leader elected within 30 s of virtual time");
    }

    async fn converge(&self) {
        let leader = self.leader().await;
        let last = leader.metrics().last_log_index;
        for node in self.nodes.values() {
            node.raft()
                .wait(WAIT)
                .applied_index_at_least(last, "converge")
                .await
                .unwrap();
        }
    }

    fn dump(&self, id: u64) -> (Revision, Vec<serde_json::Value>) {
        self.nodes[&id].read_stale(|s| {
            let page = s.list("", "ConfigMap", &ListOptions::default()).unwrap();
            (
                s.revision(),
                page.items.iter().map(|o| o.value().clone()).collect(),
            )
        })
    }

    fn assert_same(&self) {
        let mut dumps = self.nodes.keys().map(|id| (*id, self.dump(*id)));
        let (first_id, first) = dumps.next().unwrap();
        for (id, dump) in dumps {
            assert_eq!(dump, first, "node {id} differs from node {first_id}");
        }
    }
}

fn cm(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": {"k": name}})
}

async fn write(node: &Node<Rt>, name: &str) -> Revision {
    node.propose(node.create_command(cm(name)))
        .await
        .unwrap()
        .revision
}

async fn leader_crash_reelect_and_catch_up(seed: u64) -> (u64, Revision) {
    let mut cluster = Cluster::boot(seed, &[1, 2, 3]).await;
    let leader = cluster.leader().await;
    for i in 0..30 {
        write(&leader, &format!("a{i}")).await;
    }
    let old = leader.id().0;
    cluster.crash(old).await;
    let leader = cluster.leader().await;
    assert_ne!(leader.id().0, old, "a survivor leads");
    for i in 0..50 {
        write(&leader, &format!("b{i}")).await;
    }
    cluster.start(old).await; // catches up by log
    cluster.nodes[&old]
        .wait_recovered(Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        cluster.dump(old).1.len() >= 30,
        "recovered at least what it had before the crash"
    );
    cluster.converge().await;
    cluster.assert_same();
    for i in 0..100 {
        write(&leader, &format!("c{i}")).await;
    }
    cluster.converge().await;
    let (first, last) = leader.log().index_range().unwrap();
    assert!(
        first > 100,
        "the log is compacted behind snapshots: entries {first}..={last}"
    );
    // A new member starts with an empty log below the purge point: it catches up by snapshot.
    cluster.start(4).await;
    leader.add_learner(NodeId(4), addr(4)).await.unwrap();
    cluster.converge().await;
    cluster.assert_same();
    assert!(
        cluster.nodes[&4].metrics().snapshot.is_some(),
        "the learner installed a snapshot"
    );
    let (revision, items) = cluster.dump(4);
    assert_eq!(items.len(), 180);
    (leader.id().0, revision)
}

#[test]
fn leader_crash_reelection_and_catch_up_by_snapshot() {
    Rt::with_seed(1).block_on(leader_crash_reelect_and_catch_up(1));
}

#[test]
fn same_seed_same_outcome_and_same_trace() {
    let run = |seed: u64| {
        let mut rt = Rt::with_seed(seed);
        rt.record_trace(true);
        let outcome = rt.block_on(leader_crash_reelect_and_catch_up(seed));
        (outcome, rt.take_trace())
    };
    let (a, trace_a) = run(7);
    let (b, trace_b) = run(7);
    assert_eq!(a, b);
    assert!(trace_a.len() > 1_000, "the trace records the run");
    assert!(trace_a == trace_b, "same seed, same executor trace");
}

#[test]
fn a_lagging_follower_catches_up_by_log() {
    Rt::with_seed(2).block_on(async {
        let cluster = Cluster::boot(2, &[1, 2, 3]).await;
        let leader = cluster.leader().await;
        let follower = *cluster
            .nodes
            .keys()
            .find(|id| **id != leader.id().0)
            .unwrap();
        cluster.net.isolate(NodeId(follower), true);
        for i in 0..20 {
            write(&leader, &format!("c{i}")).await;
        }
        assert!(cluster.dump(follower).1.len() < 20);
        cluster.net.isolate(NodeId(follower), false);
        cluster.converge().await;
        cluster.assert_same();
    });
}

#[test]
fn membership_change_under_writes() {
    Rt::with_seed(3).block_on(async {
        let mut cluster = Cluster::boot(3, &[1, 2, 3]).await;
        let leader = cluster.leader().await;
        let writer = leader.clone();
        let writes = Types::<Rt>::spawn(async move {
            for i in 0..60 {
                // A proposal may be cut off by the membership change; retry it once.
                let cmd = writer.create_command(cm(&format!("m{i}")));
                if writer.propose(cmd.clone()).await.is_err() {
                    let _ = writer.propose(cmd).await;
                }
            }
        });
        cluster.start(4).await;
        leader.add_learner(NodeId(4), addr(4)).await.unwrap();
        leader
            .change_voters(BTreeSet::from([NodeId(1), NodeId(2), NodeId(3), NodeId(4)]))
            .await
            .unwrap();
        let voters: BTreeSet<NodeId> = [2, 3, 4].map(NodeId).into();
        leader.change_voters(voters.clone()).await.unwrap();
        writes.await.unwrap();
        let m = leader.metrics();
        let members: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        assert_eq!(members, voters);
        cluster.net.unregister(NodeId(1));
        let gone = cluster.nodes.remove(&1).unwrap();
        gone.shutdown().await;
        let leader = cluster.leader().await;
        write(&leader, "after").await;
        cluster.converge().await;
        cluster.assert_same();
        assert!(
            cluster.dump(4).1.len() >= 60,
            "the new member holds every write"
        );
    });
}

#[test]
fn watch_from_revision_is_exactly_once_in_order_across_a_leader_change() {
    Rt::with_seed(4).block_on(async {
        let mut cluster = Cluster::boot(4, &[1, 2, 3]).await;
        let leader = cluster.leader().await;
        let start = write(&leader, "w0").await;
        let watcher = *cluster
            .nodes
            .keys()
            .find(|id| **id != leader.id().0)
            .unwrap();
        let mut stream = cluster.nodes[&watcher].watch(start).unwrap();
        for i in 1..10 {
            write(&leader, &format!("w{i}")).await;
        }
        let key = ObjectKey::new("", "ConfigMap", "ns", "w1");
        let delete = Command::Delete {
            key,
            precondition: Precondition::default(),
            now: leader.now(),
        };
        leader.propose(delete).await.unwrap();
        cluster.crash(leader.id().0).await;
        let leader = cluster.leader().await;
        let mut last = Revision(0);
        for i in 10..20 {
            last = write(&leader, &format!("w{i}")).await;
        }
        let mut seen = Vec::new();
        while seen.last().is_none_or(|r: &Revision| *r < last) {
            for event in stream.next_batch().await.unwrap() {
                seen.push(event.revision);
                if event.revision.0 == start.0 + 10 {
                    assert_eq!(event.kind, EventType::Deleted);
                }
            }
        }
        let expected: Vec<Revision> = (start.0 + 1..=last.0).map(Revision).collect();
        assert_eq!(seen, expected, "every change once, in order, no gaps");
    });
}

#[test]
fn follower_read_after_acknowledged_write_and_conflicts() {
    Rt::with_seed(5).block_on(async {
        let cluster = Cluster::boot(5, &[1, 2, 3]).await;
        let leader = cluster.leader().await;
        let out = leader
            .propose(leader.create_command(cm("r")))
            .await
            .unwrap();
        let follower = cluster
            .nodes
            .values()
            .find(|n| n.id() != leader.id())
            .unwrap();
        assert!(matches!(
            follower.read_index().await,
            Err(ProposeError::ForwardToLeader { .. })
        ));
        // The follower asks the leader for a read index (forwarded by the API layer), then waits.
        let index = leader.read_index().await.unwrap();
        follower
            .wait_applied(index, Duration::from_secs(5))
            .await
            .unwrap();
        let key = ObjectKey::new("", "ConfigMap", "ns", "r");
        assert!(follower.read_stale(|s| s.get(&key).is_some()));
        let mut stale = cm("r");
        stale["metadata"]["resourceVersion"] = json!("0");
        let err = leader
            .propose(Command::Update {
                object: ferrocore_consensus::JsonObject::new(stale),
            })
            .await;
        assert!(matches!(
            err,
            Err(ProposeError::Store(
                ferrocore_consensus::StoreError::Conflict { .. }
            ))
        ));
        let on_follower = follower.propose(follower.create_command(cm("x"))).await;
        assert!(matches!(
            on_follower,
            Err(ProposeError::ForwardToLeader { leader: Some(_) })
        ));
        // `write` and `read_linearizable` work on any node: the follower forwards to the leader.
        let forwarded = follower
            .write(follower.create_command(cm("y")))
            .await
            .unwrap();
        let seen = follower.read_linearizable(|s| s.revision()).await.unwrap();
        assert!(
            seen >= forwarded.revision,
            "a follower read sees an acknowledged write"
        );
        assert!(leader.read(|s| s.revision()).await.unwrap() > out.revision);
    });
}

#[test]
fn patch_and_hostile_raft_frames() {
    Rt::with_seed(6).block_on(async {
        let cluster = Cluster::boot(6, &[1, 2, 3]).await;
        let leader = cluster.leader().await;
        write(&leader, "p").await;
        let key = ObjectKey::new("", "ConfigMap", "ns", "p");
        let out = leader
            .patch(
                &key,
                &json!({"data": {"k": null, "n": "1"}, "metadata": {"labels": {"a": "b"}}}),
            )
            .await
            .unwrap();
        assert_eq!(out.object.value()["data"], json!({"n": "1"}));
        assert_eq!(out.object.value()["metadata"]["labels"]["a"], "b");
        let stale = json!({"metadata": {"resourceVersion": "1"}, "data": {"x": "y"}});
        assert!(matches!(
            leader.patch(&key, &stale).await,
            Err(ProposeError::Store(_))
        ));
        // Garbage on the Raft port is refused without reaching Raft, and the cluster keeps going.
        let server = leader.server();
        for frame in [vec![], vec![0xff; 64], vec![3, 200, 200, 200, 200, 200]] {
            assert!(!server.handle(&frame).await.is_empty());
        }
        write(&leader, "after-garbage").await;
        cluster.converge().await;
        cluster.assert_same();
    });
}
