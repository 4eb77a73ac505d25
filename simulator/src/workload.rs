//! The workload generator: random API operations on a few Networks (the keys the linearizability
//! check follows) and VirtualIPs (which the IP allocator serves), valid and invalid.
//!
//! Every write carries a unique token — an annotation for spec writes, a status peering name
//! for status writes — so its effect can be found in the log even when the client never heard
//! back, and an invalid write can be shown never to have reached the store.

use std::collections::BTreeMap;

use ferrocore_api::Kind;
use ferrocore_consensus::ObjectKey;
use ferrocore_runtime::{Rng, SeededRng};
use serde_json::{Value, json};

use crate::front::Request;
use crate::history::OpKind;
use crate::options::{Config, u32_below};

/// The namespace every object of the workload lives in.
pub(crate) const NAMESPACE: &str = "sim";
/// The annotation that carries a spec write's token.
pub(crate) const TOKEN_ANNOTATION: &str = "sim.ferrocore.dev/op";

/// One generated operation.
#[derive(Clone, Debug)]
pub(crate) struct GeneratedOp {
    pub(crate) kind: OpKind,
    pub(crate) key: ObjectKey,
    pub(crate) request: Request,
    pub(crate) valid: bool,
    pub(crate) token: Option<String>,
    pub(crate) pinned: Option<u64>,
}

/// The key of Network `i`.
pub(crate) fn network_key(i: u32) -> ObjectKey {
    ObjectKey::new(
        Kind::Network.group(),
        Kind::Network.name(),
        NAMESPACE,
        &format!("net-{i}"),
    )
}

/// The key of VirtualIP `i`.
pub(crate) fn vip_key(i: u32) -> ObjectKey {
    ObjectKey::new(
        Kind::VirtualIP.group(),
        Kind::VirtualIP.name(),
        NAMESPACE,
        &format!("vip-{i}"),
    )
}

/// The generator of one client.
#[derive(Debug)]
pub(crate) struct Workload {
    client: u32,
    seq: u64,
    rng: SeededRng,
    network_keys: u32,
    vip_keys: u32,
    invalid_ratio: f64,
    pinned_ratio: f64,
    /// The last `resourceVersion` this client saw per key (what it pins).
    seen: BTreeMap<ObjectKey, u64>,
}

impl Workload {
    pub(crate) fn new(client: u32, rng: SeededRng, cfg: &Config) -> Self {
        Self {
            client,
            seq: 0,
            rng,
            network_keys: cfg.network_keys,
            vip_keys: cfg.vip_keys,
            invalid_ratio: cfg.invalid_ratio,
            pinned_ratio: cfg.pinned_ratio,
            seen: BTreeMap::new(),
        }
    }

    /// Remembers the version a reply showed for `key` (0: the object is gone).
    pub(crate) fn saw(&mut self, key: &ObjectKey, rv: u64) {
        self.seen.insert(key.clone(), rv);
    }

    pub(crate) fn rng(&mut self) -> &mut SeededRng {
        &mut self.rng
    }

    /// The next operation.
    pub(crate) fn next_op(&mut self) -> GeneratedOp {
        self.seq += 1;
        let token = format!("op-{}-{}", self.client, self.seq);
        let valid = !self.rng.chance(self.invalid_ratio);
        if self.rng.chance(0.3) {
            return self.vip_op(token, valid);
        }
        let i = u32_below(&mut self.rng, self.network_keys);
        let key = network_key(i);
        let pinned = self.pin(&key);
        let (kind, request) = match self.rng.below(100) {
            0..20 => (
                OpKind::Create,
                Request::Create {
                    object: self.network(i, &token, valid, None),
                },
            ),
            20..38 => (
                OpKind::Update,
                Request::Update {
                    object: self.network(i, &token, valid, pinned),
                },
            ),
            38..50 => (
                OpKind::UpdateStatus,
                Request::UpdateStatus {
                    object: network_status(i, &token, valid, pinned),
                },
            ),
            50..62 => (
                OpKind::Patch,
                Request::Patch {
                    key: key.clone(),
                    patch: self.patch(&token, valid, pinned),
                },
            ),
            62..72 => (
                OpKind::Delete,
                Request::Delete {
                    key: key.clone(),
                    resource_version: pinned.map(|rv| rv.to_string()),
                },
            ),
            72..94 => (OpKind::Get, Request::Get { key: key.clone() }),
            _ => (OpKind::List, Request::List { key: key.clone() }),
        };
        let writes = kind.is_write() && kind != OpKind::Delete;
        GeneratedOp {
            kind,
            key,
            request,
            valid: valid || !writes,
            token: writes.then_some(token),
            pinned: pinned.filter(|_| kind.is_write() && kind != OpKind::Create),
        }
    }

    /// A pinned version (when the client has seen the object), sometimes.
    fn pin(&mut self, key: &ObjectKey) -> Option<u64> {
        let seen = self.seen.get(key).copied().filter(|rv| *rv > 0)?;
        self.rng.chance(self.pinned_ratio).then_some(seen)
    }

    fn vip_op(&mut self, token: String, valid: bool) -> GeneratedOp {
        let i = u32_below(&mut self.rng, self.vip_keys);
        let key = vip_key(i);
        let (kind, request, token, valid) = match self.rng.below(10) {
            0..5 => {
                let object = vip(i, &token, valid);
                (
                    OpKind::Create,
                    Request::Create { object },
                    Some(token),
                    valid,
                )
            }
            5..8 => {
                let request = Request::Delete {
                    key: key.clone(),
                    resource_version: None,
                };
                (OpKind::Delete, request, None, true)
            }
            _ => (OpKind::Get, Request::Get { key: key.clone() }, None, true),
        };
        GeneratedOp {
            kind,
            key,
            request,
            valid,
            token,
            pinned: None,
        }
    }

    /// Network `i` with up to two peerings; invalid ones break a rule admission enforces.
    fn network(&mut self, i: u32, token: &str, valid: bool, pinned: Option<u64>) -> Value {
        let mut peerings = Vec::new();
        let peers = self.rng.below(3);
        for p in 0..peers {
            let peer = u32_below(&mut self.rng, self.network_keys.max(2));
            if peer != i
                && !peerings
                    .iter()
                    .any(|x: &Value| x["networkRef"]["name"] == format!("net-{peer}"))
            {
                peerings.push(
                    json!({"name": format!("p{p}"), "networkRef": {"name": format!("net-{peer}")}}),
                );
            }
        }
        let mut spec = json!({ "peerings": peerings });
        if !valid {
            match self.rng.below(3) {
                // Peering a network with itself.
                0 => {
                    spec["peerings"] =
                        json!([{"name": "self", "networkRef": {"name": format!("net-{i}")}}])
                }
                // A field the schema does not have (strict decoding).
                1 => spec["bogus"] = json!(true),
                // Two peerings of one name.
                _ => {
                    spec["peerings"] = json!([
                        {"name": "twice", "networkRef": {"name": "net-a"}},
                        {"name": "twice", "networkRef": {"name": "net-b"}},
                    ])
                }
            }
        }
        let mut object = json!({
            "apiVersion": Kind::Network.api_version(),
            "kind": "Network",
            "metadata": {"name": format!("net-{i}"), "namespace": NAMESPACE,
                         "annotations": {TOKEN_ANNOTATION: token}},
            "spec": spec,
        });
        if let Some(rv) = pinned {
            object["metadata"]["resourceVersion"] = json!(rv.to_string());
        }
        object
    }

    fn patch(&mut self, token: &str, valid: bool, pinned: Option<u64>) -> Value {
        let mut patch = json!({"metadata": {"annotations": {TOKEN_ANNOTATION: token}}});
        if self.rng.chance(0.5) {
            patch["metadata"]["labels"] = json!({"tier": format!("t{}", self.rng.below(3))});
        }
        if !valid {
            patch["spec"] = json!({"bogus": 1});
        }
        if let Some(rv) = pinned {
            patch["metadata"]["resourceVersion"] = json!(rv.to_string());
        }
        patch
    }
}

/// A status write of Network `i` whose peering name is the token.
fn network_status(i: u32, token: &str, valid: bool, pinned: Option<u64>) -> Value {
    let mut object = json!({
        "apiVersion": Kind::Network.api_version(),
        "kind": "Network",
        "metadata": {"name": format!("net-{i}"), "namespace": NAMESPACE},
        "status": {"state": "Available", "peerings": [{"name": token, "state": "Ready"}]},
    });
    if !valid {
        // A field the schema does not have: strict decoding refuses it.
        object["status"]["bogus"] = json!(true);
    }
    if let Some(rv) = pinned {
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
    }
    object
}

fn vip(i: u32, token: &str, valid: bool) -> Value {
    json!({
        "apiVersion": Kind::VirtualIP.api_version(),
        "kind": "VirtualIP",
        "metadata": {"name": format!("vip-{i}"), "namespace": NAMESPACE,
                     "annotations": {TOKEN_ANNOTATION: token}},
        "spec": {"type": if valid { "Public" } else { "Private" }, "ipFamily": "IPv4"},
    })
}

/// The token a stored object's spec write carried.
pub(crate) fn spec_token(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TOKEN_ANNOTATION))
        .and_then(Value::as_str)
}

/// The token a stored object's status write carried.
pub(crate) fn status_token(object: &Value) -> Option<&str> {
    object
        .pointer("/status/peerings/0/name")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use ferrocore_api::decode::object_from_value;

    use super::*;
    use crate::options::Config;

    fn admitted(object: &Value) -> bool {
        match object_from_value(object.clone()) {
            Ok(mut o) => {
                o.set_defaults();
                o.validate().is_empty()
            }
            Err(_) => false,
        }
    }

    #[test]
    fn valid_objects_pass_admission_and_invalid_ones_fail() {
        let cfg = Config::draw(&mut SeededRng::new(1), false);
        let mut w = Workload::new(0, SeededRng::new(2), &cfg);
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..2_000 {
            let op = w.next_op();
            let Request::Create { object } = &op.request else {
                continue;
            };
            assert_eq!(admitted(object), op.valid, "{object}");
            if op.valid { valid += 1 } else { invalid += 1 }
        }
        assert!(
            valid > 100 && invalid > 10,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn status_writes_decode_when_valid() {
        let object = network_status(1, "op-1-1", true, None);
        assert!(object_from_value(object).is_ok());
    }
}
