//! The API service over a real one-node cluster (tokio, real disk): every method's params,
//! results and error codes. Forwarding between controllers and watches over QUIC are tested
//! with real processes in `tests/tests/integration/store.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrocore_consensus::{Node, NodeAddr, NodeConfig, NodeId, ObjectKey, TokioRuntime};
use ferrocore_runtime::{
    Call, Handler, Identity, Principal, Reply, RpcError, SeededRng, StdDisk, SystemClock,
};
use serde_json::{Value, json};

use super::{ApiService, ApiSettings, SECRET_KEY_BYTES, SecretCipher};

struct Harness {
    api: ApiService,
    node: Node<TokioRuntime>,
    dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

async fn harness() -> Harness {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ferrocore-api-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = ferrocore_consensus::InProcessNetwork::<TokioRuntime>::new();
    let node = Node::<TokioRuntime>::open(
        NodeConfig::new(NodeId(1), dir.clone()),
        Arc::new(StdDisk),
        net.transport(NodeId(1)),
        Arc::new(SystemClock::new()),
        Box::new(SeededRng::new(n)),
    )
    .await
    .unwrap();
    net.register(NodeId(1), node.server());
    node.initialize(BTreeMap::from([(NodeId(1), NodeAddr::new("n1"))]))
        .await
        .unwrap();
    node.raft()
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "leader")
        .await
        .unwrap();
    let cipher = SecretCipher::new(&[9u8; SECRET_KEY_BYTES]);
    let api = ApiService::standalone(node.clone(), cipher, ApiSettings::default(), "t".into());
    api.set_ready();
    Harness { api, node, dir }
}

impl Harness {
    async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let call = Call {
            method: method.into(),
            params: Some(params),
            principal: Principal::Certificate(Identity::Admin),
            remote: "127.0.0.1:1".parse().unwrap(),
        };
        match self.api.call(call).await? {
            Reply::Value(v) => Ok(v),
            Reply::Stream(_) => panic!("{method} answered with a stream"),
        }
    }

    async fn ok(&self, method: &str, params: Value) -> Value {
        match self.call(method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e:?}"),
        }
    }

    async fn code(&self, method: &str, params: Value) -> i32 {
        match self.call(method, params).await {
            Ok(v) => panic!("{method} succeeded: {v}"),
            Err(e) => e.code.value(),
        }
    }
}

fn network(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "networking.ironcore.dev/v1alpha1", "kind": "Network",
           "metadata": {"namespace": "default", "name": name, "labels": labels}})
}

fn rt() -> tokio::runtime::Runtime {
    ferrocore_runtime::build_runtime().unwrap()
}

#[test]
fn objects_round_trip_with_selectors_and_pages() {
    rt().block_on(async {
        let h = harness().await;
        for i in 0..5 {
            let labels = json!({"app": if i % 2 == 0 { "web" } else { "db" }});
            let out = h
                .ok(
                    "object.create",
                    json!({"object": network(&format!("n{i}"), labels)}),
                )
                .await;
            assert_eq!(out["object"]["metadata"]["generation"], 1);
            assert!(out["object"]["metadata"]["uid"].is_string());
        }
        let got = h
            .ok(
                "object.get",
                json!({"kind": "Network", "namespace": "default", "name": "n3"}),
            )
            .await;
        assert_eq!(got["object"]["metadata"]["labels"]["app"], "db");
        let web = h
            .ok(
                "object.list",
                json!({"kind": "Network", "labelSelector": "app=web"}),
            )
            .await;
        assert_eq!(web["items"].as_array().unwrap().len(), 3);
        let page = h
            .ok(
                "object.list",
                json!({"kind": "networks", "namespace": "default", "limit": 2}),
            )
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let token = page["continue"].as_str().unwrap();
        let rest = h
            .ok(
                "object.list",
                json!({"kind": "Network", "limit": 10, "continue": token}),
            )
            .await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 3);
        assert!(rest.get("continue").is_none());
        let stale = h
            .ok(
                "object.get",
                json!({"kind": "Network", "namespace": "default", "name": "n0", "stale": true}),
            )
            .await;
        assert_eq!(stale["object"]["metadata"]["name"], "n0");
        let gone = json!({"kind": "Network", "namespace": "default", "name": "nope"});
        assert_eq!(h.code("object.get", gone).await, 1000);
        let again = json!({"object": network("n0", json!({}))});
        assert_eq!(h.code("object.create", again).await, 1001);
    });
}

#[test]
fn admission_refuses_bad_objects_with_every_cause() {
    rt().block_on(async {
        let h = harness().await;
        let mut bad = network("x", json!({}));
        bad["spec"] = json!({"bogus": 1});
        bad["metadata"]["name"] = json!("Not_A_Name");
        let err = h
            .call("object.create", json!({"object": bad}))
            .await
            .unwrap_err();
        assert_eq!(err.code.value(), 1002);
        let data = err.data.unwrap();
        assert_eq!(data["reason"], "Invalid");
        let fields: Vec<&str> = data["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"spec.bogus"), "{fields:?}");
        assert!(fields.contains(&"metadata.name"), "{fields:?}");
        let mut no_ns = network("x", json!({}));
        no_ns["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        assert_eq!(
            h.code("object.create", json!({"object": no_ns})).await,
            1002
        );
        assert_eq!(h.code("object.create", json!({"object": 7})).await, 1002);
        assert_eq!(h.code("object.create", json!({"nothing": 1})).await, -32602);
        assert_eq!(
            h.code("object.get", json!({"kind": "Pod", "name": "p"}))
                .await,
            -32602
        );
        assert_eq!(h.code("object.frobnicate", json!({})).await, -32601);
    });
}

#[test]
fn updates_check_versions_and_keep_status_and_generation_rules() {
    rt().block_on(async {
        let h = harness().await;
        let created = h.ok("object.create", json!({"object": network("n", json!({"a": "1"}))})).await;
        let rv = created["object"]["metadata"]["resourceVersion"].clone();
        let mut next = network("n", json!({"a": "2"}));
        next["metadata"]["resourceVersion"] = rv.clone();
        let updated = h.ok("object.update", json!({"object": next.clone()})).await;
        assert_eq!(updated["object"]["metadata"]["labels"]["a"], "2");
        assert_eq!(updated["object"]["metadata"]["generation"], 1, "labels are not spec");
        let err = h.call("object.update", json!({"object": next})).await.unwrap_err();
        assert_eq!(err.code.value(), 1004, "stale resourceVersion");
        assert_eq!(err.data.unwrap()["reason"], "Conflict");
        // Without a version, the service reads and admits against the newest object.
        let unpinned = h.ok("object.update", json!({"object": network("n", json!({"a": "3"}))})).await;
        assert_eq!(unpinned["object"]["metadata"]["labels"]["a"], "3");
        let patch = json!({"kind": "Network", "namespace": "default", "name": "n",
                           "patch": {"metadata": {"labels": {"b": "x", "a": null}}, "status": {"x": 1}}});
        let patched = h.ok("object.patch", patch).await;
        assert_eq!(patched["object"]["metadata"]["labels"], json!({"b": "x"}));
        assert!(patched["object"].get("status").is_none(), "patch does not write status");
        let stale_patch = json!({"kind": "Network", "namespace": "default", "name": "n",
                                 "patch": {"metadata": {"labels": {"c": "y"}}}, "resourceVersion": rv});
        assert_eq!(h.code("object.patch", stale_patch).await, 1004);
        let missing = json!({"object": network("zzz", json!({}))});
        assert_eq!(h.code("object.update", missing).await, 1000);
    });
}

#[test]
fn secrets_are_sealed_in_the_store_and_open_for_clients() {
    rt().block_on(async {
        let h = harness().await;
        let plain = "correct horse battery staple";
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, plain);
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"namespace": "default", "name": "s"},
                            "data": {"password": encoded}});
        let created = h
            .ok("object.create", json!({"object": secret.clone()}))
            .await;
        assert_eq!(created["object"]["data"]["password"], encoded);
        let key = ObjectKey::new("", "Secret", "default", "s");
        let stored = h.node.read_stale(|s| s.get(&key).cloned()).unwrap();
        let text = stored.value().to_string();
        assert!(text.contains("enc:v1:"), "{text}");
        assert!(!text.contains(&encoded) && !text.contains(plain));
        let before = h.node.read_stale(|s| s.revision());
        let same = h.ok("object.update", json!({"object": secret})).await;
        assert_eq!(same["object"]["data"]["password"], encoded);
        assert_eq!(
            h.node.read_stale(|s| s.revision()),
            before,
            "a no-op stays a no-op"
        );
        let got = h
            .ok(
                "object.get",
                json!({"kind": "Secret", "namespace": "default", "name": "s"}),
            )
            .await;
        assert_eq!(got["object"]["data"]["password"], encoded);
    });
}

#[test]
fn volume_resize_follows_its_class() {
    rt().block_on(async {
        let h = harness().await;
        let class = json!({"apiVersion": "storage.ironcore.dev/v1alpha1", "kind": "VolumeClass",
                           "metadata": {"name": "fast"}, "capabilities": {"tps": "100Mi", "iops": "100"}});
        h.ok("object.create", json!({"object": class})).await;
        let volume = |size: &str| {
            json!({"apiVersion": "storage.ironcore.dev/v1alpha1", "kind": "Volume",
                   "metadata": {"namespace": "default", "name": "v"},
                   "spec": {"volumeClassRef": {"name": "fast"}, "resources": {"storage": size}}})
        };
        h.ok("object.create", json!({"object": volume("10Gi")})).await;
        let err = h.call("object.update", json!({"object": volume("20Gi")})).await.unwrap_err();
        assert_eq!(err.code.value(), 1002, "a Static class forbids resizing: {err:?}");
    });
}

#[test]
fn finalizers_block_removal_and_owners_take_dependents_along() {
    rt().block_on(async {
        let h = harness().await;
        let mut held = network("held", json!({}));
        held["metadata"]["finalizers"] = json!(["example.com/keep"]);
        h.ok("object.create", json!({"object": held})).await;
        let target = json!({"kind": "Network", "namespace": "default", "name": "held"});
        let deleted = h.ok("object.delete", target.clone()).await;
        assert_eq!(deleted["removed"], false);
        assert!(deleted["object"]["metadata"]["deletionTimestamp"].is_string());
        h.ok("object.get", target.clone()).await;
        let clear = json!({"kind": "Network", "namespace": "default", "name": "held",
                           "patch": {"metadata": {"finalizers": null}}});
        h.ok("object.patch", clear).await;
        assert_eq!(h.code("object.get", target).await, 1000);

        let owner = h.ok("object.create", json!({"object": network("owner", json!({}))})).await;
        let uid = owner["object"]["metadata"]["uid"].clone();
        let mut child = network("child", json!({}));
        child["metadata"]["ownerReferences"] = json!([{"apiVersion": "networking.ironcore.dev/v1alpha1",
            "kind": "Network", "name": "owner", "uid": uid}]);
        h.ok("object.create", json!({"object": child})).await;
        let removed = h
            .ok("object.delete", json!({"kind": "Network", "namespace": "default", "name": "owner"}))
            .await;
        assert_eq!(removed["removed"], true);
        let child = json!({"kind": "Network", "namespace": "default", "name": "child"});
        assert_eq!(h.code("object.get", child).await, 1000);
    });
}

#[test]
fn status_writes_only_status_and_cluster_status_describes_the_member() {
    rt().block_on(async {
        let h = harness().await;
        let volume = json!({"apiVersion": "storage.ironcore.dev/v1alpha1", "kind": "Volume",
                            "metadata": {"namespace": "default", "name": "v"},
                            "spec": {"volumeClassRef": {"name": "any"}, "resources": {"storage": "1Gi"}}});
        h.ok("object.create", json!({"object": volume.clone()}))
            .await;
        let mut with_status = volume;
        with_status["status"] = json!({"state": "Available"});
        with_status["spec"]["resources"]["storage"] = json!("5Gi");
        let out = h
            .ok("object.update_status", json!({"object": with_status}))
            .await;
        assert_eq!(out["object"]["status"]["state"], "Available");
        assert_eq!(out["object"]["spec"]["resources"]["storage"], "1Gi");
        let status = h.ok("cluster.status", json!({})).await;
        assert_eq!(status["cluster"], "t");
        assert_eq!(status["self"], 1);
        assert_eq!(status["leader"], 1);
        assert_eq!(status["members"][0]["role"], "leader");
        assert_eq!(status["members"][0]["lag"], 0);
        let members = h.ok("cluster.members", json!({})).await;
        assert_eq!(members["members"].as_array().unwrap().len(), 1);
        assert_eq!(
            h.code("cluster.remove_member", json!({"id": 9})).await,
            1000
        );
    });
}
