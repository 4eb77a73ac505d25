//! A volume is attached to at most one machine: no Volume appears as `Attached` in the status
//! of two live Machines (IronCore's storage rule: a Volume has one `claimRef`, and the compute
//! node attaches only what the Machine claimed; reference/ironcore-api.md). Checked on the
//! agreed store after every step, whatever wrote the statuses.
//!
//! Today no component of the simulation attaches volumes (the schedulers and the compute and
//! storage fakes have not joined it, docs/simulator.md): the rule holds the agreed store to it
//! now, and bites as soon as they do.

use std::collections::BTreeMap;

use ferrocore_api::Kind;
use ferrocore_consensus::{JsonObject, ObjectKey};
use serde_json::Value;

use super::Violation;

const NAME: &str = "volume_attachment";

pub(crate) fn check(objects: &BTreeMap<ObjectKey, JsonObject>, out: &mut Vec<Violation>) {
    // (namespace, volume name) -> the machine that has it attached.
    let mut holders: BTreeMap<(&str, &str), &ObjectKey> = BTreeMap::new();
    for (key, object) in objects {
        if key.kind != Kind::Machine.name() {
            continue;
        }
        for volume in attached_volumes(object.value()) {
            if let Some(other) = holders.insert((key.namespace.as_str(), volume), key)
                && other != key
            {
                out.push(Violation::new(
                    NAME,
                    format!(
                        "Volume {}/{volume} is attached to both {other} and {key}",
                        key.namespace
                    ),
                ));
            }
        }
    }
}

/// The Volumes a Machine's status reports as `Attached`.
fn attached_volumes(machine: &Value) -> impl Iterator<Item = &str> {
    machine
        .pointer("/status/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("state").and_then(Value::as_str) == Some("Attached"))
        .filter_map(|v| v.pointer("/volumeRef/name").and_then(Value::as_str))
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn machine(name: &str, volumes: &[(&str, &str)]) -> (ObjectKey, JsonObject) {
        let status: Vec<Value> = volumes
            .iter()
            .map(|(volume, state)| json!({"name": "disk", "state": state, "volumeRef": {"name": volume}}))
            .collect();
        let key = ObjectKey {
            group: "compute.ironcore.dev".into(),
            kind: Kind::Machine.name().into(),
            namespace: "sim".into(),
            name: name.into(),
        };
        let value =
            json!({"kind": "Machine", "metadata": {"name": name}, "status": {"volumes": status}});
        (key, JsonObject::new(value))
    }

    fn violations(machines: Vec<(ObjectKey, JsonObject)>) -> Vec<Violation> {
        let mut out = Vec::new();
        check(&machines.into_iter().collect(), &mut out);
        out
    }

    #[test]
    fn one_volume_on_two_machines_is_caught() {
        let out = violations(vec![
            machine("m1", &[("v1", "Attached")]),
            machine("m2", &[("v2", "Attached"), ("v1", "Attached")]),
        ]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].detail.contains("sim/v1"), "{}", out[0]);
    }

    #[test]
    fn pending_or_distinct_volumes_are_fine() {
        let out = violations(vec![
            machine("m1", &[("v1", "Attached")]),
            machine("m2", &[("v1", "Pending"), ("v2", "Attached")]),
        ]);
        assert!(out.is_empty(), "{out:?}");
    }
}
