//! `ferrocore apply -f FILE|DIR|-`: create each object, or update it when it exists, and say
//! per object `created`, `configured` or `unchanged`, as kubectl does.
//!
//! An update merges the manifest into the stored object (RFC 7386 merge semantics: the fields
//! the manifest sets win, fields it leaves out keep their stored values), so fields that
//! controllers set (a scheduled pool, finalizers, owner references) survive a re-apply. The
//! object is `unchanged` when that merge changes nothing. The stored `resourceVersion` goes along,
//! so a concurrent change makes the update fail with Conflict, and apply re-reads and retries.

use std::path::PathBuf;
use std::process::ExitCode;

use ferrocore_api::Object;
use serde_json::Value;

use crate::client::manifests::{self, Manifest};
use crate::client::output::qualified_name;
use crate::client::{self, Api, ApiError, ConnectArgs, ObjectRef, Reason};

/// How often one object is re-read and re-sent when its update meets a Conflict (another
/// writer changed it in between), or its create meets AlreadyExists: a few rounds settle any
/// realistic contention.
const CONFLICT_RETRIES: u32 = 5;

/// Arguments of `ferrocore apply`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: ConnectArgs,
    /// A manifest file, a directory (read recursively: *.yaml, *.yml, *.json) or `-` for
    /// standard input. May be repeated.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Namespace for namespaced objects that name none (default: the context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed and was updated.
    Configured,
    /// It existed and already matched the manifest.
    Unchanged,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
        }
    }
}

/// Runs `ferrocore apply`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let api = args.conn.api()?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.session().context().namespace.clone());
    let docs = manifests::load(&args.files, &namespace)?;
    let failed = client::block_on(apply_all(&api, docs))??;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{failed} object(s) failed");
        ExitCode::from(1)
    })
}

/// Applies every document in order; returns how many failed. Stops early only when the cluster
/// cannot be reached or refuses the credentials (every later object would fail the same way).
async fn apply_all(api: &Api, docs: Vec<Manifest>) -> Result<usize, ApiError> {
    let mut failed = 0;
    for doc in docs {
        let obj = match doc {
            Manifest::Object(obj) => *obj,
            Manifest::Problem(p) => {
                failed += 1;
                println!("{}: invalid", p.at);
                for c in &p.causes {
                    println!("  {c}");
                }
                continue;
            }
        };
        let name = qualified_name(obj.kind(), &obj.meta().name);
        match apply_one(api, obj).await {
            Ok(outcome) => println!("{name} {}", outcome.word()),
            Err(e @ (ApiError::NoServer { .. } | ApiError::Unauthenticated { .. })) => {
                return Err(e);
            }
            Err(e) => {
                failed += 1;
                println!("{name}: {}", indent_rest(&e.to_string()));
            }
        }
    }
    Ok(failed)
}

fn indent_rest(text: &str) -> String {
    text.replace('\n', "\n  ")
}

/// Creates or updates one object.
pub(crate) async fn apply_one(api: &Api, mut obj: Object) -> Result<Outcome, ApiError> {
    obj.set_defaults();
    let desired = obj.to_value();
    let r = ObjectRef::new(obj.kind(), &obj.meta().namespace, &obj.meta().name);
    let mut attempt = 0;
    loop {
        let stored = match api.get(&r).await {
            Ok(stored) => stored,
            Err(e) if e.reason() == Some(Reason::NotFound) => {
                match api.create(&desired).await {
                    Ok(_) => return Ok(Outcome::Created),
                    // Created by someone else (or by our own retried call) in between.
                    Err(e)
                        if e.reason() == Some(Reason::AlreadyExists)
                            && attempt < CONFLICT_RETRIES =>
                    {
                        attempt += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let Some(update) = plan_update(&stored, &desired) else {
            return Ok(Outcome::Unchanged);
        };
        match api.update(&update).await {
            Ok(_) => return Ok(Outcome::Configured),
            Err(e) if e.reason() == Some(Reason::Conflict) && attempt < CONFLICT_RETRIES => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The object to send to bring `stored` to the manifest `desired`, or `None` when it already
/// matches: `desired`'s top-level sections (everything but apiVersion, kind, metadata, status)
/// and its metadata labels and annotations, merged into `stored`.
pub(crate) fn plan_update(stored: &Value, desired: &Value) -> Option<Value> {
    let mut merged = stored.clone();
    let Some(target) = merged.as_object_mut() else {
        return Some(desired.clone());
    };
    for (key, value) in desired.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
            continue;
        }
        merge(target.entry(key.clone()).or_insert(Value::Null), value);
    }
    for field in ["labels", "annotations"] {
        if let Some(v) = desired.pointer(&format!("/metadata/{field}")) {
            let meta = target
                .entry("metadata")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(m) = meta.as_object_mut() {
                merge(m.entry(field).or_insert(Value::Null), v);
            }
        }
    }
    (merged != *stored).then_some(merged)
}

/// RFC 7386 JSON merge patch of `patch` into `target` (a `null` in the patch removes the key).
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch_map {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({"apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                         "labels": {"app": "web"}, "finalizers": ["compute.ironcore.dev/machine"]},
            "spec": {"machineClassRef": {"name": "x86-small"}, "power": "On",
                     "machinePoolRef": {"name": "hv-zone-a"}},
            "status": {"state": "Running"}})
    }

    fn desired() -> Value {
        json!({"apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"machineClassRef": {"name": "x86-small"}, "power": "On"}})
    }

    #[test]
    fn server_set_fields_do_not_count_as_changes() {
        assert_eq!(plan_update(&stored(), &desired()), None);
    }

    #[test]
    fn a_spec_change_is_merged_into_the_stored_object() {
        let mut d = desired();
        d["spec"]["power"] = json!("Off");
        let u = plan_update(&stored(), &d).expect("a change");
        assert_eq!(u["spec"]["power"], "Off");
        assert_eq!(u["spec"]["machinePoolRef"]["name"], "hv-zone-a");
        assert_eq!(u["metadata"]["resourceVersion"], "7");
        assert_eq!(
            u["metadata"]["finalizers"][0],
            "compute.ironcore.dev/machine"
        );
    }

    #[test]
    fn label_and_annotation_changes_count() {
        let mut d = desired();
        d["metadata"]["labels"]["tier"] = json!("frontend");
        let u = plan_update(&stored(), &d).expect("a change");
        assert_eq!(
            u["metadata"]["labels"],
            json!({"app": "web", "tier": "frontend"})
        );
        let mut d = desired();
        d["metadata"]["annotations"] = json!({"note": "x"});
        assert!(plan_update(&stored(), &d).is_some());
    }

    #[test]
    fn top_level_sections_other_than_spec_compare_too() {
        let s = json!({"kind": "Secret", "metadata": {"name": "a"}, "type": "Opaque", "data": {"k": "dg=="}});
        let same = json!({"kind": "Secret", "metadata": {"name": "a"}, "type": "Opaque", "data": {"k": "dg=="}});
        assert_eq!(plan_update(&s, &same), None);
        let changed = json!({"kind": "Secret", "metadata": {"name": "a"}, "data": {"k": "dw=="}});
        assert_eq!(plan_update(&s, &changed).unwrap()["data"]["k"], "dw==");
    }

    #[test]
    fn merge_patch_semantics() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut t, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(t, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }
}
