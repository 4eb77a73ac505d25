//! Property: any valid object round-trips YAML → object → JSON → object unchanged, and through
//! the stored form (JSON bytes inside the bincode envelope) unchanged.

use ferrocore_api::decode::{decode_object, object_from_value};
use ferrocore_api::{Object, StoredObject};
use proptest::prelude::*;
use serde_json::{Value, json};

fn name() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn label_map() -> impl Strategy<Value = Value> {
    let key = "([a-z]{1,6}\\.example/)?[a-z][a-z0-9]{0,6}";
    let value = "([a-z0-9]([a-z0-9._-]{0,6}[a-z0-9])?)?";
    prop::collection::btree_map(key, value, 0..3).prop_map(|m| json!(m))
}

fn meta(namespaced: bool) -> impl Strategy<Value = Value> {
    (
        name(),
        label_map(),
        label_map(),
        prop::option::of("[a-z]{3,8}"),
    )
        .prop_map(move |(n, l, a, ns)| {
            let mut m = json!({"name": n, "labels": l, "annotations": a});
            if namespaced {
                m["namespace"] = json!(ns.unwrap_or_else(|| "default".into()));
            }
            m
        })
}

fn quantity() -> impl Strategy<Value = String> {
    (
        1u32..5000,
        prop::sample::select(vec!["", "Ki", "Mi", "Gi", "Ti", "m", "k", "M", "G"]),
    )
        .prop_map(|(n, s)| format!("{n}{s}"))
}

fn ipv4() -> impl Strategy<Value = String> {
    (1u8..223, any::<u8>(), any::<u8>(), 1u8..254)
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
}

fn obj(api: &str, kind: &str, meta: Value, body: Value) -> Value {
    let mut v = json!({"apiVersion": api, "kind": kind, "metadata": meta});
    if let (Value::Object(dst), Value::Object(src)) = (&mut v, body) {
        dst.extend(src);
    }
    v
}

fn compute() -> impl Strategy<Value = Value> {
    let c = "compute.ironcore.dev/v1alpha1";
    prop_oneof![
        (meta(false), 1u32..64, quantity()).prop_map(move |(m, cpu, mem)| obj(c, "MachineClass", m, json!({"capabilities": {"cpu": cpu, "memory": mem}}))),
        (meta(false), name(), prop::option::of("NoSchedule|NoExecute")).prop_map(move |(m, id, t)| {
            let taints: Vec<Value> = t.into_iter().map(|e| json!({"key": "k", "value": id, "effect": e})).collect();
            obj(c, "MachinePool", m, json!({"spec": {"providerID": format!("libvirt://{id}"), "taints": taints}}))
        }),
        (meta(true), name(), prop::collection::vec((name(), quantity()), 0..4), prop::option::of(name()), "On|Off", ipv4()).prop_map(move |(m, class, vols, host, power, ip)| {
            let volumes: Vec<Value> = vols.iter().enumerate().map(|(i, (n, q))| match i % 3 {
                0 => json!({"name": format!("{n}-{i}"), "emptyDisk": {"sizeLimit": q}}),
                1 => json!({"name": format!("{n}-{i}"), "volumeRef": {"name": n}}),
                _ => json!({"name": format!("{n}-{i}"), "ephemeral": {"volumeTemplate": {"spec": {"volumeClassRef": {"name": "fast"}, "resources": {"storage": q}}}}}),
            }).collect();
            let mut spec = json!({"machineClassRef": {"name": class}, "power": power, "volumes": volumes,
                "networkInterfaces": [{"name": "primary", "ephemeral": {"networkInterfaceTemplate": {"spec": {"networkRef": {"name": "net"}, "ips": [{"value": ip}]}}}}]});
            if let Some(h) = host {
                spec["guestConfig"] = json!({"hostname": h});
            }
            obj(c, "Machine", m, json!({"spec": spec}))
        }),
    ]
}

fn storage() -> impl Strategy<Value = Value> {
    let s = "storage.ironcore.dev/v1alpha1";
    prop_oneof![
        (meta(false), quantity(), 1u32..100_000, "Static|ExpandOnly").prop_map(
            move |(m, tps, iops, p)| obj(
                s,
                "VolumeClass",
                m,
                json!({"capabilities": {"tps": tps, "iops": iops}, "resizePolicy": p})
            )
        ),
        (meta(false), quantity(), 1u32..100_000).prop_map(move |(m, tps, iops)| obj(
            s,
            "BucketClass",
            m,
            json!({"capabilities": {"tps": tps, "iops": iops}})
        )),
        (meta(false), name()).prop_map(move |(m, id)| obj(
            s,
            "VolumePool",
            m,
            json!({"spec": {"providerID": id}})
        )),
        (meta(false), name()).prop_map(move |(m, id)| obj(
            s,
            "BucketPool",
            m,
            json!({"spec": {"providerID": id}})
        )),
        (
            meta(true),
            name(),
            quantity(),
            prop::option::of(name()),
            any::<bool>()
        )
            .prop_map(move |(m, class, size, secret, snap)| {
                let mut spec =
                    json!({"volumeClassRef": {"name": class}, "resources": {"storage": size}});
                if let Some(sec) = secret {
                    spec["encryption"] = json!({"secretRef": {"name": sec}});
                }
                spec["dataSource"] = if snap {
                    json!({"volumeSnapshotRef": {"name": "snap"}})
                } else {
                    json!({"osImage": {"image": "gardenlinux:rootfs-image"}})
                };
                obj(s, "Volume", m, json!({"spec": spec}))
            }),
        (meta(true), name()).prop_map(move |(m, v)| obj(
            s,
            "VolumeSnapshot",
            m,
            json!({"spec": {"volumeRef": {"name": v}}})
        )),
        (meta(true), name()).prop_map(move |(m, c)| obj(
            s,
            "Bucket",
            m,
            json!({"spec": {"bucketClassRef": {"name": c}}})
        )),
    ]
}

fn networking() -> impl Strategy<Value = Value> {
    let n = "networking.ironcore.dev/v1alpha1";
    prop_oneof![
        (meta(true), prop::collection::btree_set(name(), 0..3)).prop_map(move |(m, peers)| {
            let me = m["name"].as_str().unwrap_or_default().to_owned();
            let peerings: Vec<Value> = peers.into_iter().filter(|p| *p != me).map(|p| json!({"name": p, "networkRef": {"name": p}})).collect();
            obj(n, "Network", m, json!({"spec": {"peerings": peerings}}))
        }),
        (meta(true), name(), ipv4(), prop::option::of(any::<u16>())).prop_map(move |(m, net, v4, v6)| {
            let mut ips = vec![json!({"value": v4})];
            let mut fams = vec!["IPv4"];
            if let Some(host) = v6 {
                ips.push(json!({"value": format!("2001:db8::{host:x}")}));
                fams.push("IPv6");
            }
            obj(n, "NetworkInterface", m, json!({"spec": {"networkRef": {"name": net}, "ipFamilies": fams, "ips": ips, "virtualIP": {"virtualIPRef": {"name": "vip"}}}}))
        }),
        (meta(true), "IPv4|IPv6").prop_map(move |(m, f)| obj(n, "VirtualIP", m, json!({"spec": {"type": "Public", "ipFamily": f}}))),
        (meta(true), name(), prop::collection::btree_set(1i32..60_000, 0..4)).prop_map(move |(m, net, ports)| {
            let ports: Vec<Value> = ports.into_iter().map(|p| json!({"port": p})).collect();
            obj(n, "LoadBalancer", m, json!({"spec": {"type": "Public", "ipFamilies": ["IPv4"], "networkRef": {"name": net}, "ports": ports, "networkInterfaceSelector": {"matchLabels": {"app": "web"}}}}))
        }),
        (meta(true), name(), 0u32..12).prop_map(move |(m, net, exp)| obj(n, "NATGateway", m, json!({"spec": {"type": "Public", "ipFamily": "IPv4", "networkRef": {"name": net}, "portsPerNetworkInterface": 1u32 << exp}}))),
        (meta(true), name(), 1i32..60_000, 0i32..100).prop_map(move |(m, net, port, span)| obj(n, "NetworkPolicy", m, json!({"spec": {
            "networkRef": {"name": net}, "networkInterfaceSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"port": port, "endPort": port + span}]}],
            "egress": [{"to": [{"objectSelector": {"kind": "NetworkInterface", "matchLabels": {"app": "web"}}}]}]}}))),
        (meta(true), ipv4()).prop_map(move |(m, ip)| obj(n, "LoadBalancerRouting", m, json!({"networkRef": {"name": "net", "uid": "u"}, "destinations": [{"ip": ip, "targetRef": {"uid": "u2", "name": "nic", "providerID": "p"}}]}))),
    ]
}

fn other() -> impl Strategy<Value = Value> {
    let ipam = "ipam.ironcore.dev/v1alpha1";
    prop_oneof![
        (meta(true), 8u8..24).prop_map(move |(m, len)| obj(ipam, "Prefix", m, json!({"spec": {"prefix": format!("10.0.0.0/{len}")}}))),
        (meta(true), name(), 16i32..30).prop_map(move |(m, parent, len)| obj(ipam, "Prefix", m, json!({"spec": {"ipFamily": "IPv4", "prefixLength": len, "parentRef": {"name": parent}}}))),
        (meta(true), name(), 16i32..30).prop_map(move |(m, parent, len)| obj(ipam, "PrefixAllocation", m, json!({"spec": {"ipFamily": "IPv4", "prefixLength": len, "prefixRef": {"name": parent}}}))),
        (meta(true), quantity(), 0u32..100).prop_map(|(m, mem, n)| obj("core.ironcore.dev/v1alpha1", "ResourceQuota", m, json!({"spec": {"hard": {"requests.memory": mem, "count/machines.compute.ironcore.dev": n}}}))),
        (meta(true), prop::collection::btree_map("[a-z][a-z0-9._-]{0,8}", prop::collection::vec(any::<u8>(), 0..40), 0..4)).prop_map(|(m, data)| {
            use base64::Engine;
            let data: serde_json::Map<String, Value> = data.into_iter().map(|(k, v)| (k, json!(base64::engine::general_purpose::STANDARD.encode(v)))).collect();
            obj("v1", "Secret", m, json!({"type": "Opaque", "data": data}))
        }),
    ]
}

fn any_object() -> impl Strategy<Value = Object> {
    prop_oneof![compute(), storage(), networking(), other()].prop_map(|v| {
        let mut o = object_from_value(v.clone())
            .unwrap_or_else(|e| panic!("generated object does not decode: {e}\n{v:#}"));
        o.set_defaults();
        let errs = o.validate();
        assert!(
            errs.is_empty(),
            "generated object is invalid:\n{errs}\n{v:#}"
        );
        o
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn yaml_json_and_stored_round_trips(o in any_object()) {
        let yaml = serde_norway::to_string(&o.to_value()).unwrap();
        let from_yaml = decode_object(&yaml).unwrap();
        prop_assert_eq!(&from_yaml, &o, "YAML:\n{}", yaml);
        let json = serde_json::to_string(&from_yaml).unwrap();
        let from_json = decode_object(&json).unwrap();
        prop_assert_eq!(&from_json, &o);
        prop_assert_eq!(from_json.to_value(), o.to_value());
        let bytes = StoredObject::from_object(&o).encode();
        let stored = StoredObject::decode(&bytes).unwrap();
        prop_assert_eq!(stored.kind, o.kind());
        prop_assert_eq!(&stored.name, &o.meta().name);
        prop_assert_eq!(&stored.object().unwrap(), &o);
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = ferrocore_api::decode::decode_documents(&text);
    }

    #[test]
    fn corrupt_stored_bytes_are_errors(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(s) = StoredObject::decode(&bytes) {
            let _ = s.object();
        }
    }
}

/// Corrupt bytes whose length prefix claims about 2^60 bytes (as a kind string or as the
/// namespace after a kind index) are an error, not an allocation that aborts the process.
#[test]
fn a_huge_length_prefix_is_an_error_not_an_allocation() {
    let claim = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0x10];
    let mut after_kind = vec![0u8];
    after_kind.extend_from_slice(&claim);
    assert!(StoredObject::decode(&claim).is_err());
    assert!(StoredObject::decode(&after_kind).is_err());
}
