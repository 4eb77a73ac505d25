//! End to end: the client verbs' building blocks against the fake API served by a real
//! `RpcServer` over loopback QUIC with real TLS (see `fake.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use ferrocore_api::Kind;
use serde_json::{Value, json};

use super::fake::Fake;
use super::manifests::{self, Manifest};
use super::{Api, ApiError, ConnectArgs, ObjectRef, Reason, Selection};
use crate::cmd_apply::{Outcome, apply_one};

const CERT: &str = "cert = \"admin.crt\"\nkey = \"admin.key\"";

fn connect(config: &Path) -> Api {
    ConnectArgs {
        config: Some(config.to_path_buf()),
        context: None,
    }
    .api()
    .unwrap()
}

/// A UDP socket that never answers: a controller that is down.
fn dead_server() -> (std::net::UdpSocket, SocketAddr) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

fn run<F: Future>(f: impl FnOnce() -> F) -> F::Output {
    let rt = ferrocore_runtime::build_runtime().unwrap();
    rt.block_on(async { f().await })
}

fn examples() -> Vec<ferrocore_api::Object> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    manifests::load(&[dir], "shop")
        .unwrap()
        .into_iter()
        .map(|m| match m {
            Manifest::Object(o) => *o,
            Manifest::Problem(p) => panic!("examples/ must decode: {p:?}"),
        })
        .collect()
}

#[test]
fn apply_creates_then_is_unchanged_then_configures() {
    run(|| async {
        let fake = Fake::start();
        let api = connect(&fake.config(&[fake.addr], CERT));
        let objs = examples();
        assert!(objs.len() > 20, "examples cover every kind");
        for o in objs.clone() {
            assert_eq!(apply_one(&api, o).await.unwrap(), Outcome::Created);
        }
        for o in objs.clone() {
            assert_eq!(apply_one(&api, o).await.unwrap(), Outcome::Unchanged);
        }
        let mut changed = objs
            .into_iter()
            .find(|o| o.kind() == Kind::Machine)
            .unwrap();
        changed
            .meta_mut()
            .labels
            .insert("tier".into(), "changed".into());
        let r = ObjectRef::new(Kind::Machine, "shop", &changed.meta().name.clone());
        assert_eq!(apply_one(&api, changed).await.unwrap(), Outcome::Configured);
        let stored = api.get(&r).await.unwrap();
        assert_eq!(stored["metadata"]["labels"]["tier"], "changed");
    });
}

#[test]
fn invalid_objects_report_every_cause() {
    run(|| async {
        let fake = Fake::start();
        let api = connect(&fake.config(&[fake.addr], CERT));
        let bad = json!({"apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine",
            "metadata": {"name": "Bad_Name", "namespace": "shop"},
            "spec": {"machineClassRef": {"name": ""}}});
        let err = api.create(&bad).await.unwrap_err();
        assert_eq!(err.reason(), Some(Reason::Invalid));
        let text = err.to_string();
        assert!(text.contains("metadata.name"), "{text}");
        assert!(text.contains("spec.machineClassRef.name"), "{text}");
        assert!(text.contains("hint: fix the manifest"), "{text}");
        let missing = api
            .get(&ObjectRef::new(Kind::Machine, "shop", "nope"))
            .await
            .unwrap_err();
        assert_eq!(missing.reason(), Some(Reason::NotFound));
    });
}

#[test]
fn list_follows_continue_across_pages() {
    run(|| async {
        let fake = Fake::start();
        let api = connect(&fake.config(&[fake.addr], CERT));
        let n = super::api::LIST_PAGE as usize * 2 + 7;
        for i in 0..n {
            let s = json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("s-{i:04}"), "namespace": "shop"}});
            api.create(&s).await.unwrap();
        }
        let sel = Selection {
            kind: Some(Kind::Secret),
            namespace: Some("shop".into()),
            selector: None,
        };
        let list = api.list(&sel).await.unwrap();
        assert_eq!(list.items.len(), n);
        let names: Vec<&str> = list
            .items
            .iter()
            .filter_map(|i| i.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "ordered, no duplicates"
        );
        let other = Selection {
            namespace: Some("elsewhere".into()),
            ..sel
        };
        assert!(api.list(&other).await.unwrap().items.is_empty());
    });
}

#[test]
fn fails_over_from_a_dead_controller_and_names_every_server_tried() {
    run(|| async {
        let fake = Fake::start();
        let (_keep, dead) = dead_server();
        let api = connect(&fake.config(&[dead, fake.addr], CERT));
        let status = api.cluster_status().await.unwrap();
        assert_eq!(status["leader"], 1);
        assert_eq!(api.session().server().await, Some(fake.addr));

        let (_keep2, dead2) = dead_server();
        let api = connect(&fake.config(&[dead, dead2], CERT));
        let err = api.cluster_status().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ApiError::NoServer { .. }), "{text}");
        assert!(
            text.contains(&dead.to_string()) && text.contains(&dead2.to_string()),
            "{text}"
        );
        assert!(text.contains("hint: are the controllers running"), "{text}");
    });
}

#[test]
fn token_auth_and_refusal() {
    run(|| async {
        let fake = Fake::start();
        let good = format!("token = \"{}\"", fake.token.as_str());
        let api = connect(&fake.config(&[fake.addr], &good));
        assert!(api.cluster_status().await.is_ok());
        let api = connect(&fake.config(&[fake.addr], "token = \"wrong\""));
        let err = api.cluster_status().await.unwrap_err();
        assert!(matches!(err, ApiError::Unauthenticated { .. }), "{err}");
        assert!(
            err.to_string().contains("check the context's cert/key"),
            "{err}"
        );
    });
}

#[test]
fn unavailable_is_retried_until_a_leader_answers() {
    run(|| async {
        let fake = Fake::start();
        fake.api.unavailable.store(3, Ordering::SeqCst);
        let api = connect(&fake.config(&[fake.addr], CERT));
        assert!(api.cluster_status().await.is_ok());
        assert_eq!(fake.api.unavailable.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn delete_reports_finalizers_and_watch_streams_changes() {
    run(|| async {
        let fake = Fake::start();
        let api = connect(&fake.config(&[fake.addr], CERT));
        let sel = Selection {
            kind: Some(Kind::Secret),
            namespace: Some("shop".into()),
            selector: None,
        };
        let mut watch = api.watch(&sel, None).await.unwrap();
        let kept = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "kept", "namespace": "shop", "finalizers": ["x.io/hold"]}});
        let plain = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "plain", "namespace": "shop"}});
        api.create(&kept).await.unwrap();
        api.create(&plain).await.unwrap();
        let d = api
            .delete(&ObjectRef::new(Kind::Secret, "shop", "kept"))
            .await
            .unwrap();
        assert_eq!(
            crate::cmd_delete::describe(&d),
            "marked for deletion (finalizers: x.io/hold)"
        );
        let d = api
            .delete(&ObjectRef::new(Kind::Secret, "shop", "plain"))
            .await
            .unwrap();
        assert_eq!(crate::cmd_delete::describe(&d), "deleted");
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let e = watch.next().await.unwrap().unwrap();
            seen.push(format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap()
            ));
        }
        assert_eq!(
            seen,
            [
                "ADDED kept",
                "ADDED plain",
                "MODIFIED kept",
                "DELETED plain"
            ]
        );

        fake.api.compact();
        let err = api.watch(&sel, Some("1")).await.unwrap_err();
        assert_eq!(err.reason(), Some(Reason::Gone), "{err}");
    });
}
