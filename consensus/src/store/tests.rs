//! Object-store semantics, driven through `apply` as Raft would.

use serde_json::{Value, json};

use super::*;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:00:01Z";

fn obj(name: &str, spec: Value) -> JsonObject {
    JsonObject::new(json!({
        "apiVersion": "compute.ironcore.dev/v1alpha1",
        "kind": "Machine",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("compute.ironcore.dev", "Machine", "default", name)
}

fn create(store: &mut ObjectStore, object: JsonObject, uid: &str) -> Outcome {
    store
        .apply(&Command::Create {
            object,
            uid: uid.into(),
            now: T0.into(),
        })
        .unwrap()
}

fn with_meta(object: &JsonObject, field: &str, value: Value) -> JsonObject {
    let mut v = object.value().clone();
    v["metadata"][field] = value;
    JsonObject::new(v)
}

fn delete(store: &mut ObjectStore, name: &str) -> CommandResult {
    store.apply(&Command::Delete {
        key: key(name),
        precondition: Precondition::default(),
        now: T1.into(),
    })
}

#[test]
fn create_assigns_uid_time_generation_and_version() {
    let mut store = ObjectStore::new(100);
    let out = create(&mut store, obj("m", json!({"cpu": 1})), "u1");
    let m = &out.object.value()["metadata"];
    assert_eq!(m["uid"], "u1");
    assert_eq!(m["creationTimestamp"], T0);
    assert_eq!(m["generation"], 1);
    assert_eq!(m["resourceVersion"], "1");
    assert_eq!(out.revision, Revision(1));
    let again = store.apply(&Command::Create {
        object: obj("m", json!({})),
        uid: "u2".into(),
        now: T0.into(),
    });
    assert_eq!(again, Err(StoreError::AlreadyExists(key("m"))));
}

#[test]
fn stale_resource_version_is_a_conflict_and_empty_is_unconditional() {
    let mut store = ObjectStore::new(100);
    let first = create(&mut store, obj("m", json!({"cpu": 1})), "u1");
    let v1 = first.object.resource_version().unwrap().to_owned();
    let upd = with_meta(&obj("m", json!({"cpu": 2})), "resourceVersion", json!(v1));
    store
        .apply(&Command::Update {
            object: upd.clone(),
        })
        .unwrap();
    let stale = store.apply(&Command::Update { object: upd });
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    let blind = store.apply(&Command::Update {
        object: obj("m", json!({"cpu": 3})),
    });
    assert_eq!(blind.unwrap().object.value()["spec"]["cpu"], 3);
}

#[test]
fn generation_moves_with_spec_only_and_status_only_with_update_status() {
    let mut store = ObjectStore::new(100);
    create(&mut store, obj("m", json!({"cpu": 1})), "u1");
    let labelled = with_meta(&obj("m", json!({"cpu": 1})), "labels", json!({"a": "b"}));
    let out = store.apply(&Command::Update { object: labelled }).unwrap();
    assert_eq!(
        out.object.value()["metadata"]["generation"],
        1,
        "labels are not spec"
    );
    let out = store
        .apply(&Command::Update {
            object: obj("m", json!({"cpu": 2})),
        })
        .unwrap();
    assert_eq!(out.object.value()["metadata"]["generation"], 2);
    assert!(
        out.object.value()["metadata"].get("labels").is_none(),
        "update replaces metadata"
    );
    let mut with_status = obj("m", json!({"cpu": 99})).value().clone();
    with_status["status"] = json!({"state": "Running"});
    let out = store
        .apply(&Command::UpdateStatus {
            object: JsonObject::new(with_status.clone()),
        })
        .unwrap();
    assert_eq!(out.object.value()["status"]["state"], "Running");
    assert_eq!(
        out.object.value()["spec"]["cpu"],
        2,
        "status call leaves spec alone"
    );
    assert_eq!(out.object.value()["metadata"]["generation"], 2);
    with_status["status"] = json!({"state": "Hacked"});
    with_status["spec"] = json!({"cpu": 2});
    let out = store
        .apply(&Command::Update {
            object: JsonObject::new(with_status),
        })
        .unwrap();
    assert_eq!(
        out.object.value()["status"]["state"],
        "Running",
        "update ignores status"
    );
}

#[test]
fn noop_update_keeps_the_revision() {
    let mut store = ObjectStore::new(100);
    create(&mut store, obj("m", json!({"cpu": 1})), "u1");
    let out = store
        .apply(&Command::Update {
            object: obj("m", json!({"cpu": 1})),
        })
        .unwrap();
    assert_eq!(out.revision, Revision(1));
    assert_eq!(store.revision(), Revision(1));
}

#[test]
fn finalizer_blocks_removal_until_the_last_one_goes() {
    let mut store = ObjectStore::new(100);
    let fin = with_meta(&obj("m", json!({})), "finalizers", json!(["a", "b"]));
    create(&mut store, fin, "u1");
    let marked = delete(&mut store, "m").unwrap();
    assert!(!marked.removed);
    assert_eq!(marked.object.value()["metadata"]["deletionTimestamp"], T1);
    let again = delete(&mut store, "m").unwrap();
    assert_eq!(again.revision, marked.revision, "second delete is a no-op");
    let add = with_meta(&obj("m", json!({})), "finalizers", json!(["a", "b", "c"]));
    assert!(matches!(
        store.apply(&Command::Update { object: add }),
        Err(StoreError::Invalid(_))
    ));
    let out = store
        .apply(&Command::RemoveFinalizer {
            key: key("m"),
            finalizer: "a".into(),
        })
        .unwrap();
    assert!(!out.removed);
    let only_b = with_meta(&obj("m", json!({})), "finalizers", json!([]));
    let out = store.apply(&Command::Update { object: only_b }).unwrap();
    assert!(
        out.removed,
        "removing the last finalizer of a deleting object removes it"
    );
    assert!(store.get(&key("m")).is_none());
}

fn owned(name: &str, owners: &[&str], finalizers: &[&str]) -> JsonObject {
    let refs: Vec<Value> = owners
        .iter()
        .map(|u| json!({"uid": u, "kind": "Machine"}))
        .collect();
    let o = with_meta(&obj(name, json!({})), "ownerReferences", json!(refs));
    if finalizers.is_empty() {
        o
    } else {
        with_meta(&o, "finalizers", json!(finalizers))
    }
}

#[test]
fn deleting_an_owner_cascades_transitively() {
    let mut store = ObjectStore::new(100);
    create(&mut store, obj("owner", json!({})), "u-owner");
    create(&mut store, owned("child", &["u-owner"], &[]), "u-child");
    create(&mut store, owned("grandchild", &["u-child"], &[]), "u-gc");
    create(
        &mut store,
        owned("guarded", &["u-owner"], &["keep"]),
        "u-guarded",
    );
    create(&mut store, obj("other", json!({})), "u-other");
    create(
        &mut store,
        owned("shared", &["u-owner", "u-other"], &[]),
        "u-shared",
    );
    delete(&mut store, "owner").unwrap();
    assert!(store.get(&key("child")).is_none());
    assert!(store.get(&key("grandchild")).is_none());
    let guarded = store.get(&key("guarded")).unwrap();
    assert_eq!(guarded.value()["metadata"]["deletionTimestamp"], T1);
    let shared = store.get(&key("shared")).unwrap();
    assert_eq!(
        meta::owner_uids(shared.value()),
        vec!["u-other".to_string()]
    );
    store
        .apply(&Command::RemoveFinalizer {
            key: key("guarded"),
            finalizer: "keep".into(),
        })
        .unwrap();
    assert!(store.get(&key("guarded")).is_none());
    store.check_invariants();
}

#[test]
fn watch_delivers_every_change_once_in_order_and_reports_compaction() {
    let mut store = ObjectStore::new(5);
    create(&mut store, obj("a", json!({})), "ua");
    create(&mut store, obj("b", json!({})), "ub");
    store
        .apply(&Command::Update {
            object: obj("a", json!({"x": 1})),
        })
        .unwrap();
    delete(&mut store, "b").unwrap();
    let events = store.watch_since(Revision(1), 100).unwrap();
    let seen: Vec<(EventType, u64, String)> = events
        .iter()
        .map(|e| (e.kind, e.revision.0, e.key.name.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (EventType::Added, 2, "b".into()),
            (EventType::Modified, 3, "a".into()),
            (EventType::Deleted, 4, "b".into()),
        ]
    );
    assert_eq!(events[2].object.resource_version(), Some("4"));
    for i in 0..5 {
        create(
            &mut store,
            obj(&format!("n{i}"), json!({})),
            &format!("un{i}"),
        );
    }
    let err = store.watch_since(Revision(2), 100).unwrap_err();
    assert_eq!(
        err,
        StoreError::Compacted {
            requested: Revision(2),
            oldest: Revision(4)
        }
    );
    assert_eq!(store.watch_since(Revision(4), 100).unwrap().len(), 5);
    assert!(store.watch_since(Revision(9), 100).unwrap().is_empty());
}

#[test]
fn list_filters_by_namespace_and_labels_and_pages() {
    let mut store = ObjectStore::new(100);
    for i in 0..7 {
        let tier = if i % 2 == 0 { "web" } else { "db" };
        let o = with_meta(
            &obj(&format!("m{i}"), json!({})),
            "labels",
            json!({"tier": tier}),
        );
        create(&mut store, o, &format!("u{i}"));
    }
    let mut other = obj("elsewhere", json!({})).value().clone();
    other["metadata"]["namespace"] = json!("prod");
    create(&mut store, JsonObject::new(other), "u-prod");
    let group = "compute.ironcore.dev";
    let all = store
        .list(group, "Machine", &ListOptions::default())
        .unwrap();
    assert_eq!(all.items.len(), 8);
    let mut opts = ListOptions {
        namespace: Some("default".into()),
        selector: Selector::parse("tier in (web)").unwrap(),
        limit: Some(3),
        continue_token: None,
    };
    let mut names = Vec::new();
    loop {
        let page = store.list(group, "Machine", &opts).unwrap();
        assert!(page.items.len() <= 3);
        names.extend(
            page.items
                .iter()
                .map(|o| o.value()["metadata"]["name"].clone()),
        );
        match page.continue_token {
            Some(token) => opts.continue_token = Some(token),
            None => break,
        }
    }
    assert_eq!(
        names,
        vec![json!("m0"), json!("m2"), json!("m4"), json!("m6")]
    );
    opts.continue_token = Some("not a token!".into());
    assert!(store.list(group, "Machine", &opts).is_err());
}

#[test]
fn malformed_commands_are_refused_not_panicked_on() {
    let mut store = ObjectStore::new(100);
    for bad in [
        json!(null),
        json!({"kind": "X"}),
        json!({"apiVersion": "v1", "kind": "X"}),
    ] {
        let r = store.apply(&Command::Create {
            object: JsonObject::new(bad),
            uid: "u".into(),
            now: T0.into(),
        });
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
    assert_eq!(
        delete(&mut store, "nope"),
        Err(StoreError::NotFound(key("nope")))
    );
    assert_eq!(store.revision(), Revision(0));
}

#[test]
fn image_round_trip_rebuilds_indexes() {
    let mut store = ObjectStore::new(100);
    create(&mut store, obj("owner", json!({})), "u-owner");
    create(&mut store, owned("child", &["u-owner"], &[]), "u-child");
    let bytes = bincode::serde::encode_to_vec(store.image(), bincode::config::standard()).unwrap();
    let (image, _): (StoreImage, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let mut restored = ObjectStore::from_image(image).unwrap();
    restored.check_invariants();
    delete(&mut restored, "owner").unwrap();
    assert!(
        restored.get(&key("child")).is_none(),
        "dependents index survived the image"
    );
}
