//! A hostile node with a real certificate: garbage frames, another node's pool, absurd
//! capacity, reports about objects it does not serve or from the future. All refused; the
//! store is unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use ferrocore_api::iri::protocol::{
    ControllerMessage, ErrorCode as NodeErrorCode, Frame, NodeMessage, ObjectRef, PROTOCOL_VERSION,
    PoolCapacity, PoolKind, PoolRef, PoolRegistration, Register, Report, ReportedState,
    decode_frame, encode_frame,
};
use ferrocore_api::meta::{Generation, Uid};
use ferrocore_api::{Kind, ObjectKey};
use ferrocore_runtime::frame::{read_frame, write_frame};
use ferrocore_runtime::{Alpn, Credentials, Endpoint, MaxFrameLen, TransportLimits, timeout};
use ferrocore_tests::cluster::SERVER_NAME;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{World, machine_pool, now, small_machine, state};

/// A node connection speaking raw frames.
struct RawNode {
    send: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    recv: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    seq: u64,
    _conn: ferrocore_runtime::PeerConnection,
    _endpoint: Endpoint,
}

fn max() -> MaxFrameLen {
    MaxFrameLen::new(8 << 20)
}

impl RawNode {
    async fn connect(w: &mut World, credentials: &Credentials) -> anyhow::Result<Self> {
        let leader = w.cluster.leader(Duration::from_secs(20)).await?;
        let limits = TransportLimits::default();
        let bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let endpoint = Endpoint::client(bind, Some(credentials), w.cluster.trust(), &limits)?;
        let conn = endpoint
            .connect(w.cluster.addr(leader), SERVER_NAME, Alpn::Node)
            .await?;
        let stream = conn.open_bi().await?;
        Ok(Self {
            send: stream.send,
            recv: stream.recv,
            seq: 0,
            _conn: conn,
            _endpoint: endpoint,
        })
    }

    async fn send(&mut self, body: NodeMessage) -> anyhow::Result<u64> {
        self.seq += 1;
        let bytes = encode_frame(&Frame {
            seq: self.seq,
            body,
        })?;
        write_frame(&mut self.send, &bytes, max()).await?;
        Ok(self.seq)
    }

    /// The controller's answer to frame `seq` (skipping other traffic), within 5 s.
    async fn answer(&mut self, seq: u64) -> anyhow::Result<ControllerMessage> {
        let deadline = now() + Duration::from_secs(5);
        while now() < deadline {
            let bytes = timeout(Duration::from_secs(5), read_frame(&mut self.recv, max()))
                .await??
                .context("stream closed")?;
            let frame: Frame<ControllerMessage> = decode_frame(&bytes)?;
            match &frame.body {
                ControllerMessage::Ack { seq: s } if *s == seq => return Ok(frame.body),
                ControllerMessage::Error(e) if e.seq == seq => return Ok(frame.body),
                _ => {}
            }
        }
        bail!("no answer to frame {seq}")
    }
}

fn refused_with(answer: &ControllerMessage, code: NodeErrorCode) -> bool {
    matches!(answer, ControllerMessage::Error(e) if e.code == code)
}

pub(super) async fn hostile_node_changes_nothing(w: &mut World) -> anyhow::Result<()> {
    let (credentials, target, pool_a) = hostile_setup(w).await?;
    garbage_closes(w, &credentials).await?;
    let mut raw = RawNode::connect(w, &credentials).await?;
    registrations_refused(&mut raw).await?;
    let mine = reports_refused(w, &mut raw, &target).await?;
    replay_ignored(w, &mut raw, &mine).await?;
    store_unchanged(w, &target, &pool_a).await?;
    drop(raw);
    let params = json!({"kind": "Machine", "namespace": "hostile", "name": "target"});
    w.call("object.delete", params).await?;
    Ok(())
}

/// A third node joins for real (its own pool, hv-x), then stops: its certificate is the
/// hostile node's. Returns it, a machine on node-a's pool to lie about, and that pool.
async fn hostile_setup(w: &mut World) -> anyhow::Result<(Credentials, Value, Value)> {
    // A third node joins for real (its own pool), then its certificate turns hostile.
    w.add_node("node-x", &machine_pool("hv-x", "elsewhere", "elsewhere-x"))?;
    eventually!(Duration::from_secs(10), w, {
        let pool = w.get("MachinePool", "", "hv-x").await?;
        pool.is_none().then(|| "hv-x not registered".to_owned())
    });
    let x = w.nodes.get_mut("node-x").context("node-x")?;
    x.kill();
    let credentials = Credentials::load(&x.state, "node")?;
    // A machine on node-a's pool that the hostile node will lie about.
    let object = small_machine("hostile", "target", Some("hv-zone-a"), &json!([]));
    w.call("object.create", json!({ "object": object })).await?;
    eventually!(Duration::from_secs(10), w, {
        let m = w.get("Machine", "hostile", "target").await?;
        m.filter(|m| state(m) == "Running")
            .is_none()
            .then(|| "target not Running".to_owned())
    });
    let target = w
        .get("Machine", "hostile", "target")
        .await?
        .context("target")?;
    let pool_a = w
        .get("MachinePool", "", "hv-zone-a")
        .await?
        .context("hv-zone-a")?;
    Ok((credentials, target, pool_a))
}

/// Garbage: the connection is closed, nothing else happens.
async fn garbage_closes(w: &mut World, credentials: &Credentials) -> anyhow::Result<()> {
    let mut raw = RawNode::connect(w, credentials).await?;
    raw.send
        .write_all(&[0, 0, 0, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb])
        .await?;
    let closed = timeout(Duration::from_secs(5), async {
        loop {
            match read_frame(&mut raw.recv, max()).await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a garbage frame closes the connection");
    Ok(())
}

/// Another node's pool, absurd capacity: refused; its own pool: accepted.
async fn registrations_refused(raw: &mut RawNode) -> anyhow::Result<()> {
    // Another node's pool, with capacity it does not have.
    let mut stolen = machine_registration("hv-zone-a", 1_000_000);
    let seq = raw
        .send(NodeMessage::Register(Register {
            protocol_version: PROTOCOL_VERSION,
            pools: vec![stolen.clone()],
        }))
        .await?;
    let answer = raw.answer(seq).await?;
    assert!(refused_with(&answer, NodeErrorCode::NotOwner), "{answer:?}");
    // Absurd capacity for its own pool: refused before anything is written.
    stolen.name = "hv-x".into();
    stolen.capacity = absurd_capacity();
    let seq = raw
        .send(NodeMessage::Register(Register {
            protocol_version: PROTOCOL_VERSION,
            pools: vec![stolen],
        }))
        .await?;
    let answer = raw.answer(seq).await?;
    assert!(refused_with(&answer, NodeErrorCode::Invalid), "{answer:?}");
    // Register its own pool honestly, then lie about node-a's machine.
    let seq = raw
        .send(NodeMessage::Register(Register {
            protocol_version: PROTOCOL_VERSION,
            pools: vec![machine_registration("hv-x", 4)],
        }))
        .await?;
    let answer = raw.answer(seq).await?;
    assert!(
        matches!(answer, ControllerMessage::Ack { .. }),
        "{answer:?}"
    );
    Ok(())
}

/// Reports about another node's object, a wrong pool, a future generation: refused.
async fn reports_refused(
    w: &mut World,
    raw: &mut RawNode,
    target: &Value,
) -> anyhow::Result<ObjectRef> {
    let target_ref = ObjectRef {
        key: ObjectKey {
            kind: Kind::Machine,
            namespace: "hostile".into(),
            name: "target".into(),
        },
        uid: Uid(target["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned()),
    };
    let generation = target["metadata"]["generation"].as_i64().unwrap_or(1);
    // A machine on its own pool, to claim a generation the store never had.
    let object = small_machine("hostile", "mine", Some("hv-x"), &json!([]));
    let mine = w.call("object.create", json!({ "object": object })).await?;
    let mine_ref = ObjectRef {
        key: ObjectKey {
            kind: Kind::Machine,
            namespace: "hostile".into(),
            name: "mine".into(),
        },
        uid: Uid(mine["object"]["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned()),
    };
    for (about, pool, generation, code) in [
        (
            &target_ref,
            "hv-zone-a",
            generation,
            NodeErrorCode::NotOwner,
        ),
        (&target_ref, "hv-x", generation, NodeErrorCode::Invalid),
        (&mine_ref, "hv-x", 100, NodeErrorCode::Stale),
    ] {
        let seq = raw
            .send(NodeMessage::Report(Report {
                object: about.clone(),
                generation: Generation(generation),
                pool: PoolRef {
                    kind: PoolKind::Machine,
                    name: pool.into(),
                },
                state: ReportedState::Absent,
            }))
            .await?;
        let answer = raw.answer(seq).await?;
        assert!(
            refused_with(&answer, code),
            "{pool}@{generation}: {answer:?}"
        );
    }
    Ok(mine_ref)
}

/// Its own machine: a current report is taken; a replayed older one (claiming the machine is
/// gone) is not.
async fn replay_ignored(w: &mut World, raw: &mut RawNode, mine: &ObjectRef) -> anyhow::Result<()> {
    use ferrocore_api::iri::machine::{Machine, MachineState};
    let report = |generation: i64, state: ReportedState| {
        NodeMessage::Report(Report {
            object: mine.clone(),
            generation: Generation(generation),
            pool: PoolRef {
                kind: PoolKind::Machine,
                name: "hv-x".into(),
            },
            state,
        })
    };
    let mut running = Machine::default();
    running.status.state = MachineState::Running;
    running.status.observed_generation = 1;
    raw.send(report(1, ReportedState::Machine(running))).await?;
    eventually!(Duration::from_secs(5), w, {
        let m = w.get("Machine", "hostile", "mine").await?.context("mine")?;
        (state(&m) != "Running").then(|| format!("mine: {}", m["status"]))
    });
    raw.send(report(0, ReportedState::Absent)).await?;
    ferrocore_runtime::sleep(Duration::from_millis(1500)).await;
    let m = w.get("Machine", "hostile", "mine").await?.context("mine")?;
    assert_eq!(
        state(&m),
        "Running",
        "a replayed old report changed the store: {m}"
    );
    assert_eq!(m["metadata"]["uid"].as_str(), Some(mine.uid.0.as_str()));
    Ok(())
}

async fn store_unchanged(w: &mut World, target: &Value, pool_a: &Value) -> anyhow::Result<()> {
    // Nothing changed: the machine is Running, still bound to node-a's pool; the pool is
    // unchanged (owner, capacity).
    ferrocore_runtime::sleep(Duration::from_secs(1)).await;
    let after = w
        .get("Machine", "hostile", "target")
        .await?
        .context("target")?;
    assert_eq!(state(&after), "Running");
    assert_eq!(after["metadata"]["uid"], target["metadata"]["uid"]);
    let pool_after = w
        .get("MachinePool", "", "hv-zone-a")
        .await?
        .context("hv-zone-a")?;
    assert_eq!(
        pool_after["metadata"]["annotations"],
        pool_a["metadata"]["annotations"]
    );
    assert_eq!(
        pool_after["status"]["capacity"],
        pool_a["status"]["capacity"]
    );
    assert_eq!(
        pool_after["spec"]["providerID"],
        pool_a["spec"]["providerID"]
    );
    Ok(())
}

fn machine_registration(pool: &str, quantity: i64) -> PoolRegistration {
    use ferrocore_api::iri::machine::{MachineClass, MachineClassName, MachineClassStatus};
    PoolRegistration {
        name: pool.into(),
        provider_id: format!("libvirt://{pool}"),
        labels: BTreeMap::new(),
        capacity: PoolCapacity::Machine(vec![MachineClassStatus {
            machine_class: MachineClass {
                name: MachineClassName("x86-small".into()),
                capabilities: BTreeMap::from([("cpu".into(), 1), ("memory".into(), 1 << 30)]),
            },
            quantity,
        }]),
    }
}

fn absurd_capacity() -> PoolCapacity {
    let PoolCapacity::Machine(mut classes) = machine_registration("x", 1).capacity else {
        unreachable!("a machine registration");
    };
    classes[0].quantity = i64::MAX;
    PoolCapacity::Machine(classes)
}
