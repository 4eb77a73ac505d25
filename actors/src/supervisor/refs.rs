//! Which objects read which: the edges that decide whose actor wakes when an object changes.
//!
//! An object's edges are the objects it names: its owners and every `*Ref` field in its spec
//! and status (`machineClassRef`, `volumeRef`, `claimRef`, `networkRef`, `parentRef`, ...).
//! Edges are undirected for waking: when X changes, X, everything X names and everything that
//! names X are reconciled (a Machine reads its Volume, the Volume's release core reads its
//! claiming Machine; a pool change wakes every object bound to it). A few readers look at whole
//! namespaces instead of names (quota, load balancer selectors, IPAM selectors): [`wide`] lists
//! them. What this misses, the periodic resync catches (the cores are level-triggered).

use std::collections::{BTreeMap, BTreeSet};

use ferrocore_api::{Kind, ObjectKey};
use serde_json::Value;

/// Most keys one object may name (a Machine with hundreds of volumes is still far below): a
/// bound on what a hostile object can make the index hold.
const REFS_PER_OBJECT_MAX: usize = 4096;

/// The kind a `*Ref` field names.
fn ref_kind(field: &str) -> Option<Kind> {
    Some(match field {
        "machineClassRef" => Kind::MachineClass,
        "machinePoolRef" => Kind::MachinePool,
        "volumeClassRef" => Kind::VolumeClass,
        "volumePoolRef" => Kind::VolumePool,
        "bucketClassRef" => Kind::BucketClass,
        "bucketPoolRef" => Kind::BucketPool,
        "volumeRef" => Kind::Volume,
        "volumeSnapshotRef" => Kind::VolumeSnapshot,
        "networkInterfaceRef" | "targetRef" => Kind::NetworkInterface,
        "networkRef" => Kind::Network,
        "claimRef" | "machineRef" => Kind::Machine,
        "parentRef" | "prefixRef" => Kind::Prefix,
        "secretRef" | "ignitionRef" => Kind::Secret,
        "virtualIPRef" => Kind::VirtualIP,
        _ => return None,
    })
}

fn key(kind: Kind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: if kind.namespaced() {
            namespace.to_owned()
        } else {
            String::new()
        },
        name: name.to_owned(),
    }
}

/// The objects `object` (store JSON) names.
pub(crate) fn refs(object: &Value, namespace: &str) -> Vec<ObjectKey> {
    let mut out = Vec::new();
    if let Some(owners) = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    {
        for o in owners {
            let text = |f: &str| o.get(f).and_then(Value::as_str).unwrap_or("");
            if let Some(kind) = Kind::from_type(text("apiVersion"), text("kind")) {
                out.push(key(kind, namespace, text("name")));
            }
        }
    }
    for part in ["spec", "status"] {
        if let Some(v) = object.get(part) {
            walk(v, namespace, &mut out, 0);
        }
    }
    out.sort();
    out.dedup();
    out.truncate(REFS_PER_OBJECT_MAX);
    out
}

/// Nesting depth the walk follows (API objects are far shallower; the API refuses deeper ones).
const DEPTH_MAX: usize = 32;

fn walk(v: &Value, namespace: &str, out: &mut Vec<ObjectKey>, depth: usize) {
    if depth > DEPTH_MAX || out.len() >= REFS_PER_OBJECT_MAX {
        return;
    }
    match v {
        Value::Object(map) => {
            for (field, child) in map {
                if let Some(kind) = ref_kind(field)
                    && let Some(name) = child.get("name").and_then(Value::as_str)
                    && !name.is_empty()
                {
                    out.push(key(kind, namespace, name));
                }
                walk(child, namespace, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, namespace, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Kinds whose objects read a whole namespace of `changed`'s kind (by selector or sum), so a
/// change of `changed` wakes every object of these kinds in its namespace.
pub(crate) fn wide(changed: Kind) -> &'static [Kind] {
    match changed {
        Kind::Machine | Kind::Volume | Kind::Bucket => &[Kind::ResourceQuota],
        Kind::NetworkInterface => &[Kind::LoadBalancer],
        Kind::Prefix => &[Kind::Prefix, Kind::PrefixAllocation],
        Kind::Network => &[Kind::Network],
        _ => &[],
    }
}

/// Whether an object of a [`wide`] kind really reads by selector (the others name what they
/// read, and the edges already cover them).
pub(crate) fn reads_by_selector(object: &Value) -> bool {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    match kind {
        "Prefix" => object.pointer("/spec/parentSelector").is_some(),
        "PrefixAllocation" => object.pointer("/spec/prefixSelector").is_some(),
        _ => true,
    }
}

/// The edge index: what every object names, and the reverse.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    forward: BTreeMap<ObjectKey, Vec<ObjectKey>>,
    reverse: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
}

impl Edges {
    /// Sets what `from` names (replacing the previous set); `None` removes it.
    pub(crate) fn set(&mut self, from: &ObjectKey, to: Option<Vec<ObjectKey>>) {
        if let Some(old) = self.forward.remove(from) {
            for t in old {
                if let Some(set) = self.reverse.get_mut(&t) {
                    set.remove(from);
                    if set.is_empty() {
                        self.reverse.remove(&t);
                    }
                }
            }
        }
        if let Some(to) = to {
            for t in &to {
                self.reverse
                    .entry(t.clone())
                    .or_default()
                    .insert(from.clone());
            }
            self.forward.insert(from.clone(), to);
        }
    }

    /// What `from` names.
    pub(crate) fn named_by(&self, from: &ObjectKey) -> &[ObjectKey] {
        self.forward.get(from).map_or(&[], Vec::as_slice)
    }

    /// What names `to`.
    pub(crate) fn naming(&self, to: &ObjectKey) -> impl Iterator<Item = &ObjectKey> {
        self.reverse.get(to).into_iter().flatten()
    }

    /// Checks that both directions agree (tests).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for (from, tos) in &self.forward {
            for t in tos {
                assert!(
                    self.reverse[t].contains(from),
                    "{from} -> {t} missing reverse"
                );
            }
        }
        for (to, froms) in &self.reverse {
            assert!(!froms.is_empty());
            for f in froms {
                assert!(self.forward[f].contains(to), "{f} -> {to} missing forward");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs_cover_owners_and_ref_fields() {
        let m = json!({
            "apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine",
            "metadata": {"name": "m", "namespace": "shop", "ownerReferences": [
                {"apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine", "name": "o", "uid": "u"}]},
            "spec": {"machineClassRef": {"name": "small"}, "machinePoolRef": {"name": "hv"},
                "ignitionRef": {"name": "ign", "key": "x"},
                "volumes": [{"name": "root", "volumeRef": {"name": "vol"}}],
                "networkInterfaces": [{"name": "p", "networkInterfaceRef": {"name": "nic"}}]},
        });
        let names: Vec<String> = refs(&m, "shop").iter().map(ToString::to_string).collect();
        for want in [
            "MachineClass small",
            "MachinePool hv",
            "Secret shop/ign",
            "Volume shop/vol",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        assert!(names.iter().any(|n| n == "Machine shop/o"), "{names:?}");
        assert!(
            names.iter().any(|n| n == "NetworkInterface shop/nic"),
            "{names:?}"
        );
    }

    #[test]
    fn edges_stay_consistent_both_ways() {
        let k = |n: &str| key(Kind::Volume, "ns", n);
        let mut e = Edges::default();
        e.set(&k("a"), Some(vec![k("b"), k("c")]));
        e.set(&k("d"), Some(vec![k("b")]));
        e.check_invariants();
        assert_eq!(e.naming(&k("b")).count(), 2);
        e.set(&k("a"), Some(vec![k("c")]));
        e.check_invariants();
        assert_eq!(e.naming(&k("b")).count(), 1);
        e.set(&k("d"), None);
        e.check_invariants();
        assert_eq!(e.naming(&k("b")).count(), 0);
        assert_eq!(e.named_by(&k("a")), &[k("c")]);
    }

    #[test]
    fn hostile_depth_and_width_are_bounded() {
        let mut v = json!({"name": "x"});
        for _ in 0..100 {
            v = json!({"volumeRef": v});
        }
        let o = json!({"kind": "Machine", "metadata": {"name": "m"}, "spec": v});
        assert!(refs(&o, "ns").len() <= DEPTH_MAX + 1);
        let many: Vec<Value> = (0..10_000)
            .map(|i| json!({"volumeRef": {"name": format!("v{i}")}}))
            .collect();
        let o = json!({"kind": "Machine", "metadata": {"name": "m"}, "spec": {"volumes": many}});
        assert_eq!(refs(&o, "ns").len(), REFS_PER_OBJECT_MAX);
    }
}
