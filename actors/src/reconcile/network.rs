//! Networks: protection and peering.
//!
//! - Protection (upstream `networkprotection`): a Network carries the finalizer
//!   `networking.ironcore.dev/network` and keeps it while a NetworkInterface, LoadBalancer or
//!   NATGateway of its namespace, or a live Network peering with it, uses it.
//! - Peering (upstream `networkpeering`): a peering is only real when both networks list each
//!   other; each side's `spec.incomingPeerings` names the networks that peer back, and each
//!   `status.peerings[]` entry is `Ready` once the peer lists this network back and is
//!   `Available`, else `Pending`.
//! - State: until the networking part allocates VNIs, a Network is `Available` as soon as it
//!   exists (there is no data-plane object to wait for yet).

use ferrocore_api::ipam::{Prefix, PrefixPhase};
use ferrocore_api::networking::{
    LoadBalancer, NATGateway, Network, NetworkInterface, NetworkPeering, NetworkPeeringClaimRef,
    NetworkPeeringStatus, NetworkState, NetworkStatus, PeeringPrefixStatus, PeeringState,
};
use serde_json::json;

use super::class_protection::protect;
use super::util::{patch_exact, status_update};
use super::{Command, Ctx, ViewExt};

/// The finalizer that keeps a Network while it is used.
pub const NETWORK_FINALIZER: &str = "networking.ironcore.dev/network";

/// Reconciles a Network: finalizer, incoming peerings, status.
pub fn reconcile_network(ctx: &Ctx<'_>, network: &Network) -> Vec<Command> {
    let mut out = protect(network, NETWORK_FINALIZER, || in_use(ctx, network));
    if network.metadata.is_deleting() {
        return out;
    }
    let incoming = incoming_peerings(ctx, network);
    if incoming != network.spec.incoming_peerings {
        out.push(patch_exact(
            network,
            json!({"spec": {"incomingPeerings": incoming}}),
        ));
    }
    let status = network_status(ctx, network);
    out.extend(status_update(network, &network.status, &status));
    out
}

/// Where a peering points: `(namespace, name)`, the namespace defaulting to the network's own.
fn target<'a>(network: &'a Network, peering: &'a NetworkPeering) -> (&'a str, &'a str) {
    let r = &peering.network_ref;
    let ns = if r.namespace.is_empty() {
        network.metadata.namespace.as_str()
    } else {
        r.namespace.as_str()
    };
    (ns, r.name.as_str())
}

/// Whether `from` lists `to` among its peerings.
fn lists(from: &Network, to: &Network) -> bool {
    from.spec
        .peerings
        .iter()
        .any(|p| target(from, p) == (to.metadata.namespace.as_str(), to.metadata.name.as_str()))
}

fn in_use(ctx: &Ctx<'_>, network: &Network) -> bool {
    let (ns, name) = (network.metadata.namespace.as_str(), &network.metadata.name);
    ctx.view
        .all::<NetworkInterface>(Some(ns))
        .any(|n| n.spec.network_ref.name == *name)
        || ctx
            .view
            .all::<LoadBalancer>(Some(ns))
            .any(|l| l.spec.network_ref.name == *name)
        || ctx
            .view
            .all::<NATGateway>(Some(ns))
            .any(|g| g.spec.network_ref.name == *name)
        || ctx.view.all::<Network>(None).any(|m| {
            !m.metadata.is_deleting() && m.metadata.uid != network.metadata.uid && lists(m, network)
        })
}

/// The networks that peer with `network` and that `network` peers with, sorted.
fn incoming_peerings(ctx: &Ctx<'_>, network: &Network) -> Vec<NetworkPeeringClaimRef> {
    network
        .spec
        .peerings
        .iter()
        .filter_map(|p| {
            let (ns, name) = target(network, p);
            ctx.view.typed::<Network>(ns, name)
        })
        .filter(|peer| !peer.metadata.is_deleting() && lists(peer, network))
        .map(|peer| NetworkPeeringClaimRef {
            namespace: peer.metadata.namespace.clone(),
            name: peer.metadata.name.clone(),
            uid: peer.metadata.uid.clone(),
        })
        .map(|c| ((c.namespace.clone(), c.name.clone()), c))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect()
}

fn network_status(ctx: &Ctx<'_>, network: &Network) -> NetworkStatus {
    let state = match &network.status.state {
        None | Some(NetworkState::Pending) => NetworkState::Available,
        Some(s) => s.clone(),
    };
    let peerings = network
        .spec
        .peerings
        .iter()
        .map(|p| peering_status(ctx, network, p))
        .collect();
    NetworkStatus {
        state: Some(state),
        peerings,
    }
}

fn peering_status(ctx: &Ctx<'_>, network: &Network, p: &NetworkPeering) -> NetworkPeeringStatus {
    let (ns, name) = target(network, p);
    let ready = ctx.view.typed::<Network>(ns, name).is_some_and(|peer| {
        peer.status.state == Some(NetworkState::Available) && lists(peer, network)
    });
    let prefixes = p
        .prefixes
        .iter()
        .map(|pp| PeeringPrefixStatus {
            name: pp.name.clone(),
            prefix: pp.prefix.or_else(|| {
                ctx.view
                    .typed::<Prefix>(&network.metadata.namespace, &pp.prefix_ref.name)
                    .filter(|px| px.status.phase == Some(PrefixPhase::Allocated))
                    .and_then(|px| px.spec.prefix)
            }),
        })
        .collect();
    NetworkPeeringStatus {
        name: p.name.clone(),
        state: Some(if ready {
            PeeringState::Ready
        } else {
            PeeringState::Pending
        }),
        prefixes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};

    fn net(name: &str, peer: Option<&str>, extra: &str) -> String {
        let peerings = peer.map_or(String::new(), |p| {
            format!("peerings: [{{name: to-{p}, networkRef: {{name: {p}}}}}]")
        });
        format!(
            "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network
metadata: {{name: {name}, namespace: shop, finalizers: [networking.ironcore.dev/network]{extra}}}
spec: {{{peerings}}}"
        )
    }

    #[test]
    fn peering_needs_both_sides() {
        let r = Reports::new();
        let (a, b) = (net("a", Some("b"), ""), net("b", None, ""));
        let s = snapshot(&[&a, &b]);
        let out = reconcile_network(&ctx(&s, &r), get(&s, "a"));
        // One-sided: no incoming peering, peering Pending, state Available.
        assert_eq!(summary(&out), ["status Network a"]);
        let Command::UpdateStatus { status, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(status["state"], "Available");
        assert_eq!(status["peerings"][0]["state"], "Pending");
    }

    #[test]
    fn mutual_peering_is_claimed_and_ready() {
        let r = Reports::new();
        let avail = ", uid: uid-x";
        let (a, b) = (net("a", Some("b"), ""), net("b", Some("a"), avail));
        let mut s = snapshot(&[&a, &b]);
        let mut b_obj = get::<Network>(&s, "b").clone();
        b_obj.status.state = Some(NetworkState::Available);
        s.put(b_obj.into());
        let out = reconcile_network(&ctx(&s, &r), get(&s, "a"));
        let text = summary(&out).join("\n");
        assert!(
            text.contains(r#"patch Network a {"spec":{"incomingPeerings":[{"name":"b","namespace":"shop","uid":"uid-x"}]}}"#),
            "{text}"
        );
        let Some(Command::UpdateStatus { status, .. }) = out.last() else {
            panic!()
        };
        assert_eq!(status["peerings"][0]["state"], "Ready");
    }

    #[test]
    fn deleting_network_waits_for_interfaces() {
        let r = Reports::new();
        let a = net("a", None, ", deletionTimestamp: '2026-01-01T00:00:00Z'");
        let nic = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface
metadata: {name: nic, namespace: shop}\nspec: {networkRef: {name: a}, ips: [{value: 10.0.0.1}]}";
        let s = snapshot(&[&a, nic]);
        assert!(reconcile_network(&ctx(&s, &r), get(&s, "a")).is_empty());
        let s = snapshot(&[&a]);
        assert_eq!(
            summary(&reconcile_network(&ctx(&s, &r), get(&s, "a"))),
            ["-finalizer Network a networking.ironcore.dev/network"]
        );
    }
}
