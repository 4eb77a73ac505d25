//! The columns `ferrocore get` shows per kind (NAME first, AGE last), and the extra ones
//! `-o wide` adds. Cells read the object's JSON by pointer, so they show whatever the server
//! sent, and `<none>` for what is unset.

use ferrocore_api::Kind;
use serde_json::Value;

use super::table::{NONE, Table, age};

/// One column: its header, whether only `-o wide` shows it, and how to compute a cell.
struct Column {
    header: &'static str,
    wide: bool,
    cell: fn(&Value) -> String,
}

const fn col(header: &'static str, cell: fn(&Value) -> String) -> Column {
    Column {
        header,
        wide: false,
        cell,
    }
}

const fn wide(header: &'static str, cell: fn(&Value) -> String) -> Column {
    Column {
        header,
        wide: true,
        cell,
    }
}

/// The text at a JSON pointer: strings as they are, numbers and booleans printed, lists of
/// those joined with commas; `<none>` when absent or empty.
pub(crate) fn text(v: &Value, pointer: &str) -> String {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v.pointer(pointer) {
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items.iter().filter_map(scalar).collect();
            if parts.is_empty() {
                NONE.to_owned()
            } else {
                parts.join(",")
            }
        }
        Some(other) => scalar(other).unwrap_or_else(|| NONE.to_owned()),
        None => NONE.to_owned(),
    }
}

/// The number of items of the list at `pointer` (0 when absent).
fn count(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
        .to_string()
}

/// `key=value,...` of the map at `pointer`.
fn pairs(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer).and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => NONE.to_owned(),
    }
}

/// The keys of the map at `pointer`, comma-separated.
fn keys(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer).and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m.keys().cloned().collect::<Vec<_>>().join(","),
        _ => NONE.to_owned(),
    }
}

/// The names of the list of `{name: ...}` at `pointer`.
fn names(v: &Value, pointer: &str) -> String {
    let list: Vec<String> = v
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        NONE.to_owned()
    } else {
        list.join(",")
    }
}

/// `READY` of a pool: its `Ready` condition's status.
fn ready(v: &Value) -> String {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status").and_then(Value::as_str))
        .unwrap_or(NONE)
        .to_owned()
}

fn columns(kind: Kind) -> Vec<Column> {
    use Kind as K;
    match kind {
        K::Machine | K::MachineClass | K::MachinePool => compute_columns(kind),
        K::Volume
        | K::VolumeClass
        | K::VolumePool
        | K::VolumeSnapshot
        | K::Bucket
        | K::BucketClass
        | K::BucketPool => storage_columns(kind),
        K::Network
        | K::NetworkInterface
        | K::NetworkPolicy
        | K::VirtualIP
        | K::LoadBalancer
        | K::LoadBalancerRouting
        | K::NATGateway => network_columns(kind),
        K::Prefix | K::PrefixAllocation | K::ResourceQuota | K::Secret => other_columns(kind),
    }
}

fn pool_columns() -> Vec<Column> {
    vec![
        col("STATE", |v| text(v, "/status/state")),
        col("READY", ready),
        wide("PROVIDER", |v| text(v, "/spec/providerID")),
        wide("CLASSES", |v| names(v, pool_classes(v))),
        wide("ALLOCATABLE", |v| pairs(v, "/status/allocatable")),
    ]
}

fn compute_columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::Machine => vec![
            col("CLASS", |v| text(v, "/spec/machineClassRef/name")),
            col("POOL", |v| text(v, "/spec/machinePoolRef/name")),
            col("POWER", |v| text(v, "/spec/power")),
            col("STATE", |v| text(v, "/status/state")),
            wide("NICS", |v| names(v, "/spec/networkInterfaces")),
            wide("VOLUMES", |v| names(v, "/spec/volumes")),
            wide("MACHINE-ID", |v| text(v, "/status/machineId")),
        ],
        Kind::MachinePool => pool_columns(),
        _ => vec![col("CAPABILITIES", |v| pairs(v, "/capabilities"))],
    }
}

fn storage_columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::VolumePool | Kind::BucketPool => pool_columns(),
        Kind::VolumeClass => vec![
            col("CAPABILITIES", |v| pairs(v, "/capabilities")),
            col("RESIZE", |v| text(v, "/resizePolicy")),
        ],
        Kind::Volume => vec![
            col("CLASS", |v| text(v, "/spec/volumeClassRef/name")),
            col("SIZE", |v| text(v, "/spec/resources/storage")),
            col("POOL", |v| text(v, "/spec/volumePoolRef/name")),
            col("STATE", |v| text(v, "/status/state")),
            wide("ENCRYPTED", |v| {
                if v.pointer("/spec/encryption").is_some() {
                    "yes"
                } else {
                    "no"
                }
                .to_owned()
            }),
            wide("VOLUME-ID", |v| text(v, "/status/volumeID")),
        ],
        Kind::VolumeSnapshot => vec![
            col("VOLUME", |v| text(v, "/spec/volumeRef/name")),
            col("SIZE", |v| text(v, "/status/size")),
            col("STATE", |v| text(v, "/status/state")),
        ],
        Kind::Bucket => vec![
            col("CLASS", |v| text(v, "/spec/bucketClassRef/name")),
            col("POOL", |v| text(v, "/spec/bucketPoolRef/name")),
            col("STATE", |v| text(v, "/status/state")),
            wide("ENDPOINT", |v| text(v, "/status/access/endpoint")),
        ],
        _ => vec![col("CAPABILITIES", |v| pairs(v, "/capabilities"))],
    }
}

fn network_columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::Network => vec![
            col("STATE", |v| text(v, "/status/state")),
            col("PEERINGS", |v| names(v, "/spec/peerings")),
            wide("PROVIDER", |v| text(v, "/spec/providerID")),
        ],
        Kind::NetworkInterface => vec![
            col("NETWORK", |v| text(v, "/spec/networkRef/name")),
            col("IPS", |v| text(v, "/status/ips")),
            col("STATE", |v| text(v, "/status/state")),
            wide("MACHINE", |v| text(v, "/spec/machineRef/name")),
            wide("VIRTUAL-IP", |v| text(v, "/status/virtualIP")),
            wide("PREFIXES", |v| text(v, "/status/prefixes")),
        ],
        Kind::NetworkPolicy => vec![
            col("NETWORK", |v| text(v, "/spec/networkRef/name")),
            col("TYPES", |v| text(v, "/spec/policyTypes")),
            wide("INGRESS-RULES", |v| count(v, "/spec/ingress")),
            wide("EGRESS-RULES", |v| count(v, "/spec/egress")),
        ],
        Kind::VirtualIP => vec![
            col("TYPE", |v| text(v, "/spec/type")),
            col("IP", |v| text(v, "/status/ip")),
            wide("TARGET", |v| text(v, "/spec/targetRef/name")),
        ],
        Kind::LoadBalancer => vec![
            col("TYPE", |v| text(v, "/spec/type")),
            col("NETWORK", |v| text(v, "/spec/networkRef/name")),
            col("IPS", |v| text(v, "/status/ips")),
            wide("PORTS", lb_ports),
        ],
        Kind::LoadBalancerRouting => vec![
            col("NETWORK", |v| text(v, "/networkRef/name")),
            col("DESTINATIONS", |v| count(v, "/destinations")),
        ],
        _ => vec![
            col("TYPE", |v| text(v, "/spec/type")),
            col("NETWORK", |v| text(v, "/spec/networkRef/name")),
            col("IPS", |v| text(v, "/status/ips")),
            wide("PORTS/NIC", |v| text(v, "/spec/portsPerNetworkInterface")),
        ],
    }
}

fn other_columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::Prefix => vec![
            col("PREFIX", |v| text(v, "/spec/prefix")),
            col("PARENT", |v| text(v, "/spec/parentRef/name")),
            col("PHASE", |v| text(v, "/status/phase")),
        ],
        Kind::PrefixAllocation => vec![
            col("PREFIX", |v| text(v, "/status/prefix")),
            col("PARENT", |v| text(v, "/spec/prefixRef/name")),
            col("PHASE", |v| text(v, "/status/phase")),
        ],
        Kind::ResourceQuota => vec![
            col("HARD", |v| pairs(v, "/spec/hard")),
            wide("USED", |v| pairs(v, "/status/used")),
        ],
        _ => vec![
            col("TYPE", |v| text(v, "/type")),
            col("DATA-KEYS", |v| keys(v, "/data")),
        ],
    }
}

fn pool_classes(v: &Value) -> &'static str {
    if v.pointer("/status/availableMachineClasses").is_some() {
        "/status/availableMachineClasses"
    } else if v.pointer("/status/availableVolumeClasses").is_some() {
        "/status/availableVolumeClasses"
    } else {
        "/status/availableBucketClasses"
    }
}

fn lb_ports(v: &Value) -> String {
    let Some(ports) = v.pointer("/spec/ports").and_then(Value::as_array) else {
        return NONE.to_owned();
    };
    let list: Vec<String> = ports
        .iter()
        .map(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            let port = p.get("port").map_or_else(String::new, Value::to_string);
            match p.get("endPort") {
                Some(end) => format!("{port}-{end}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect();
    if list.is_empty() {
        NONE.to_owned()
    } else {
        list.join(",")
    }
}

/// The `get` table of `items` of `kind`: NAMESPACE first when `all_namespaces`, then NAME, the
/// kind's columns (wide ones only when `wide`), AGE relative to `now` (Unix seconds).
pub(crate) fn table(
    kind: Kind,
    items: &[Value],
    all_namespaces: bool,
    wide: bool,
    now: i64,
) -> Table {
    let cols: Vec<Column> = columns(kind)
        .into_iter()
        .filter(|c| wide || !c.wide)
        .collect();
    let show_ns = all_namespaces && kind.namespaced();
    let mut headers: Vec<&str> = Vec::new();
    if show_ns {
        headers.push("NAMESPACE");
    }
    headers.push("NAME");
    headers.extend(cols.iter().map(|c| c.header));
    headers.push("AGE");
    let mut t = Table::new(headers);
    for item in items {
        let mut row = Vec::with_capacity(cols.len() + 3);
        if show_ns {
            row.push(text(item, "/metadata/namespace"));
        }
        row.push(text(item, "/metadata/name"));
        row.extend(cols.iter().map(|c| (c.cell)(item)));
        row.push(age(item.pointer("/metadata/creationTimestamp"), now));
        t.row(row);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn machine(name: &str, state: Option<&str>) -> Value {
        let mut m = json!({
            "apiVersion": "compute.ironcore.dev/v1alpha1", "kind": "Machine",
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": "2026-11-28T10:00:00Z"},
            "spec": {"machineClassRef": {"name": "x86-small"}, "power": "On",
                     "networkInterfaces": [{"name": "primary"}], "volumes": []}
        });
        if let Some(s) = state {
            m["status"] = json!({"state": s});
            m["spec"]["machinePoolRef"] = json!({"name": "hv-zone-a"});
        }
        m
    }

    const NOW: i64 = 1_795_860_000 + 3_600; // 2026-11-28T11:00:00Z + a little

    #[test]
    fn machine_table() {
        let created = "2026-11-28T10:00:00Z"
            .parse::<ferrocore_api::meta::Time>()
            .unwrap();
        let now = created.unix_seconds() + 300;
        let items = [machine("web-1", Some("Running")), machine("db", None)];
        let t = table(Kind::Machine, &items, false, false, now).render();
        assert_eq!(
            t,
            "NAME    CLASS       POOL        POWER   STATE     AGE\n\
             web-1   x86-small   hv-zone-a   On      Running   5m\n\
             db      x86-small   <none>      On      <none>    5m\n"
        );
        let t = table(Kind::Machine, &items, true, true, now).render();
        assert!(t.starts_with("NAMESPACE   NAME    CLASS"), "{t}");
        assert!(t.contains("NICS      VOLUMES   MACHINE-ID"), "{t}");
        assert!(t.contains("primary   <none>"), "{t}");
    }

    #[test]
    fn cluster_scoped_kinds_never_show_namespace() {
        let class = json!({"metadata": {"name": "x86-small"}, "capabilities": {"cpu": "1", "memory": "1Gi"}});
        let t = table(Kind::MachineClass, &[class], true, false, NOW).render();
        assert_eq!(
            t,
            "NAME        CAPABILITIES       AGE\nx86-small   cpu=1,memory=1Gi   <none>\n"
        );
    }

    #[test]
    fn secret_shows_keys_never_values() {
        let s = json!({"metadata": {"name": "ign"}, "type": "Opaque", "data": {"ignition.json": "c2VjcmV0"}});
        let t = table(Kind::Secret, &[s], false, true, NOW).render();
        assert!(t.contains("ign    Opaque   ignition.json"), "{t}");
        assert!(!t.contains("c2VjcmV0"), "{t}");
    }

    #[test]
    fn every_kind_has_a_table_that_renders_an_empty_object() {
        for kind in Kind::all() {
            let t = table(kind, &[json!({})], true, true, NOW).render();
            assert!(t.lines().count() == 2, "{kind}: {t}");
        }
    }

    #[test]
    fn pool_ready_and_lb_ports() {
        let pool = json!({"metadata": {"name": "p"}, "status": {"state": "Available",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        let t = table(Kind::VolumePool, &[pool], false, false, NOW).render();
        assert!(t.contains("p      Available   True"), "{t}");
        let lb = json!({"spec": {"ports": [{"port": 80}, {"protocol": "UDP", "port": 1000, "endPort": 1010}]}});
        assert_eq!(lb_ports(&lb), "80/TCP,1000-1010/UDP");
    }
}
