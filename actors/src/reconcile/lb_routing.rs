//! LoadBalancerRouting (upstream `loadbalancer` controller): for a LoadBalancer with a
//! `networkInterfaceSelector`, the routing object of the same name lists one destination per IP
//! of every `Available` NetworkInterface in the same namespace and network that the selector
//! matches. A LoadBalancer without a selector is routed by someone else and left alone.

use ferrocore_api::meta::ObjectMeta;
use ferrocore_api::networking::{
    LoadBalancer, LoadBalancerDestination, LoadBalancerRouting, LoadBalancerTargetRef, Network,
    NetworkInterface, NetworkInterfaceState,
};
use ferrocore_api::{LocalUidReference, Resource};
use serde_json::json;

use super::util::{controller_ref, is_controlled_by, patch};
use super::{Command, Ctx, EventType, ObjectEvent, ViewExt};
use crate::reconcile::util::key_of;

/// The destinations for `lb`, sorted by IP then interface name.
pub fn destinations(ctx: &Ctx<'_>, lb: &LoadBalancer) -> Vec<LoadBalancerDestination> {
    let Some(selector) = &lb.spec.network_interface_selector else {
        return Vec::new();
    };
    let ns = lb.metadata.namespace.as_str();
    let mut out: Vec<LoadBalancerDestination> = ctx
        .view
        .all::<NetworkInterface>(Some(ns))
        .filter(|n| {
            n.spec.network_ref.name == lb.spec.network_ref.name
                && !n.metadata.is_deleting()
                && n.status.state == Some(NetworkInterfaceState::Available)
                && selector.matches(&n.metadata.labels)
        })
        .flat_map(|n| {
            n.status.ips.iter().map(|ip| LoadBalancerDestination {
                ip: *ip,
                target_ref: Some(LoadBalancerTargetRef {
                    uid: n.metadata.uid.clone(),
                    name: n.metadata.name.clone(),
                    provider_id: n.spec.provider_id.clone(),
                }),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let name = |d: &LoadBalancerDestination| d.target_ref.as_ref().map(|t| t.name.clone());
        (a.ip, name(a)).cmp(&(b.ip, name(b)))
    });
    out
}

/// Reconciles a LoadBalancer's routing.
pub fn reconcile_load_balancer(ctx: &Ctx<'_>, lb: &LoadBalancer) -> Vec<Command> {
    if lb.spec.network_interface_selector.is_none() || lb.metadata.is_deleting() {
        return Vec::new();
    }
    let ns = lb.metadata.namespace.as_str();
    let Some(network) = ctx.view.typed::<Network>(ns, &lb.spec.network_ref.name) else {
        return Vec::new();
    };
    let network_ref = LocalUidReference {
        name: network.metadata.name.clone(),
        uid: network.metadata.uid.clone(),
    };
    let destinations = destinations(ctx, lb);
    match ctx.view.typed::<LoadBalancerRouting>(ns, &lb.metadata.name) {
        None => {
            let mut routing = LoadBalancerRouting {
                metadata: ObjectMeta {
                    owner_references: vec![controller_ref(lb)],
                    ..ObjectMeta::named(ns, &lb.metadata.name)
                },
                network_ref,
                destinations,
                ..LoadBalancerRouting::default()
            };
            routing.set_defaults();
            vec![Command::Create(Box::new(routing.into()))]
        }
        Some(r) if !is_controlled_by(&r.metadata, &lb.metadata.uid) => {
            vec![Command::Event(ObjectEvent {
                key: key_of(lb),
                event_type: EventType::Warning,
                reason: "RoutingNotOwned".into(),
                message: format!(
                    "LoadBalancerRouting {} exists and is not controlled by this load balancer",
                    lb.metadata.name
                ),
            })]
        }
        Some(r) if r.network_ref != network_ref || r.destinations != destinations => {
            vec![patch(
                r,
                json!({"networkRef": network_ref, "destinations": destinations}),
            )]
        }
        Some(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, parse, snapshot};

    const NET: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network
metadata: {name: net, namespace: shop}";
    const LB: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: LoadBalancer
metadata: {name: web, namespace: shop}
spec: {type: Public, ipFamilies: [IPv4], networkRef: {name: net},
  networkInterfaceSelector: {matchLabels: {tier: web}}, ports: [{port: 80}]}";

    fn nic(name: &str, tier: &str, net: &str, ip: &str, available: bool) -> String {
        let state = if available { "Available" } else { "Pending" };
        format!(
            "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface
metadata: {{name: {name}, namespace: shop, labels: {{tier: {tier}}}}}
spec: {{networkRef: {{name: {net}}}, ips: [{{value: {ip}}}]}}
status: {{state: {state}, ips: [{ip}]}}"
        )
    }

    #[test]
    fn routes_to_available_matching_nics_in_the_network() {
        let r = Reports::new();
        let nics = [
            nic("b", "web", "net", "10.0.0.2", true),
            nic("a", "web", "net", "10.0.0.1", true),
            nic("c", "db", "net", "10.0.0.3", true),
            nic("d", "web", "other", "10.0.0.4", true),
            nic("e", "web", "net", "10.0.0.5", false),
        ];
        let mut yamls: Vec<&str> = vec![NET, LB];
        yamls.extend(nics.iter().map(String::as_str));
        let s = snapshot(&yamls);
        let out = reconcile_load_balancer(&ctx(&s, &r), get(&s, "web"));
        let [Command::Create(obj)] = out.as_slice() else {
            panic!("{out:?}")
        };
        let ferrocore_api::Object::LoadBalancerRouting(routing) = obj.as_ref() else {
            panic!()
        };
        let names: Vec<_> = routing
            .destinations
            .iter()
            .map(|d| d.target_ref.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(routing.network_ref.uid.as_str(), "uid-net");
        // Applied, it is stable.
        let mut s2 = s.clone();
        let mut routing = routing.clone();
        routing.metadata.uid = ferrocore_api::meta::Uid("uid-r".into());
        s2.put(routing.into());
        assert!(reconcile_load_balancer(&ctx(&s2, &r), get(&s2, "web")).is_empty());
        let _ = parse(NET);
    }
}
