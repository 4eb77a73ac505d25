//! Claims and their release.
//!
//! - A Machine claims the Volumes it names (`Volume.spec.claimRef`) and the NetworkInterfaces
//!   it names (`NetworkInterface.spec.machineRef`); a NetworkInterface claims the VirtualIP it
//!   names (`VirtualIP.spec.targetRef`). A claim is only taken when the object is unclaimed (and
//!   for volumes, not `unclaimable`), with a resourceVersion precondition so two claimers
//!   cannot both win. Ephemeral objects are created already claimed.
//! - Release (upstream `volumerelease`, `networkinterfacerelease`, `virtualiprelease`): a claim
//!   whose claimer is gone, was recreated under a new uid, or no longer names the object is
//!   cleared. A claimer that is being deleted keeps its claims until it is gone (its node may
//!   still have the volume attached).

use ferrocore_api::compute::{Machine, ephemeral_network_interface_name, ephemeral_volume_name};
use ferrocore_api::networking::{NetworkInterface, VirtualIP, nic_virtual_ip_name};
use ferrocore_api::storage::Volume;
use ferrocore_api::{LocalUidReference, Resource};
use serde_json::json;

use super::util::patch_exact;
use super::{Command, Ctx, ViewExt};

fn claim_of<T: Resource>(owner: &T) -> LocalUidReference {
    LocalUidReference {
        name: owner.meta().name.clone(),
        uid: owner.meta().uid.clone(),
    }
}

/// The names of the Volumes a Machine uses (by reference or as its ephemeral volumes).
pub fn machine_volume_names(machine: &Machine) -> Vec<String> {
    machine
        .spec
        .volumes
        .iter()
        .filter_map(|v| match (&v.volume_ref, &v.ephemeral) {
            (Some(r), _) => Some(r.name.clone()),
            (None, Some(_)) => Some(ephemeral_volume_name(&machine.metadata.name, &v.name)),
            _ => None,
        })
        .collect()
}

/// The names of the NetworkInterfaces a Machine uses.
pub fn machine_nic_names(machine: &Machine) -> Vec<String> {
    machine
        .spec
        .network_interfaces
        .iter()
        .filter_map(|n| match (&n.network_interface_ref, &n.ephemeral) {
            (Some(r), _) => Some(r.name.clone()),
            (None, Some(_)) => Some(ephemeral_network_interface_name(
                &machine.metadata.name,
                &n.name,
            )),
            _ => None,
        })
        .collect()
}

/// The name of the VirtualIP a NetworkInterface uses.
pub fn nic_virtual_ip(nic: &NetworkInterface) -> Option<String> {
    let v = nic.spec.virtual_ip.as_ref()?;
    match (&v.virtual_ip_ref, &v.ephemeral) {
        (Some(r), _) => Some(r.name.clone()),
        (None, Some(_)) => Some(nic_virtual_ip_name(&nic.metadata.name)),
        _ => None,
    }
}

/// Claims the unclaimed Volumes and NetworkInterfaces a Machine names.
pub fn reconcile_machine_claims(ctx: &Ctx<'_>, machine: &Machine) -> Vec<Command> {
    if machine.metadata.is_deleting() {
        return Vec::new();
    }
    let ns = machine.metadata.namespace.as_str();
    let claim = claim_of(machine);
    let mut out = Vec::new();
    for name in machine_volume_names(machine) {
        if let Some(v) = ctx.view.typed::<Volume>(ns, &name)
            && v.spec.claim_ref.is_none()
            && !v.spec.unclaimable
            && !v.metadata.is_deleting()
        {
            out.push(patch_exact(v, json!({"spec": {"claimRef": claim}})));
        }
    }
    for name in machine_nic_names(machine) {
        if let Some(n) = ctx.view.typed::<NetworkInterface>(ns, &name)
            && n.spec.machine_ref.is_none()
            && !n.metadata.is_deleting()
        {
            out.push(patch_exact(n, json!({"spec": {"machineRef": claim}})));
        }
    }
    out
}

/// Claims the unclaimed VirtualIP a NetworkInterface names.
pub fn reconcile_nic_claims(ctx: &Ctx<'_>, nic: &NetworkInterface) -> Vec<Command> {
    if nic.metadata.is_deleting() {
        return Vec::new();
    }
    let Some(name) = nic_virtual_ip(nic) else {
        return Vec::new();
    };
    match ctx.view.typed::<VirtualIP>(&nic.metadata.namespace, &name) {
        Some(vip) if vip.spec.target_ref.is_none() && !vip.metadata.is_deleting() => {
            vec![patch_exact(
                vip,
                json!({"spec": {"targetRef": claim_of(nic)}}),
            )]
        }
        _ => Vec::new(),
    }
}

/// Whether `claim` names a live `T` (same uid) in `namespace` for which `uses` holds.
fn claim_holds<T: super::Typed>(
    ctx: &Ctx<'_>,
    namespace: &str,
    claim: &LocalUidReference,
    uses: impl FnOnce(&T) -> bool,
) -> bool {
    ctx.view
        .typed::<T>(namespace, &claim.name)
        .is_some_and(|c| c.meta().uid == claim.uid && (c.meta().is_deleting() || uses(c)))
}

/// Releases a Volume whose claimer is gone or no longer uses it.
pub fn reconcile_volume_release(ctx: &Ctx<'_>, volume: &Volume) -> Vec<Command> {
    let Some(claim) = &volume.spec.claim_ref else {
        return Vec::new();
    };
    let name = &volume.metadata.name;
    let holds = claim_holds::<Machine>(ctx, &volume.metadata.namespace, claim, |m| {
        machine_volume_names(m).contains(name)
    });
    if holds {
        return Vec::new();
    }
    vec![patch_exact(volume, json!({"spec": {"claimRef": null}}))]
}

/// Releases a NetworkInterface whose machine is gone or no longer uses it.
pub fn reconcile_nic_release(ctx: &Ctx<'_>, nic: &NetworkInterface) -> Vec<Command> {
    let Some(claim) = &nic.spec.machine_ref else {
        return Vec::new();
    };
    let name = &nic.metadata.name;
    let holds = claim_holds::<Machine>(ctx, &nic.metadata.namespace, claim, |m| {
        machine_nic_names(m).contains(name)
    });
    if holds {
        return Vec::new();
    }
    vec![patch_exact(nic, json!({"spec": {"machineRef": null}}))]
}

/// Releases a VirtualIP whose interface is gone or no longer uses it.
pub fn reconcile_vip_release(ctx: &Ctx<'_>, vip: &VirtualIP) -> Vec<Command> {
    let Some(claim) = &vip.spec.target_ref else {
        return Vec::new();
    };
    let name = &vip.metadata.name;
    let holds = claim_holds::<NetworkInterface>(ctx, &vip.metadata.namespace, claim, |n| {
        nic_virtual_ip(n).as_ref() == Some(name)
    });
    if holds {
        return Vec::new();
    }
    vec![patch_exact(vip, json!({"spec": {"targetRef": null}}))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};

    const MACHINE: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: db, namespace: shop}
spec: {machineClassRef: {name: small}, volumes: [{name: data, volumeRef: {name: vol}}],
  networkInterfaces: [{name: eth0, networkInterfaceRef: {name: nic}}]}";
    const VOLUME: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: vol, namespace: shop}";
    const NIC: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface
metadata: {name: nic, namespace: shop}
spec: {networkRef: {name: net}, ips: [{value: 10.0.0.1}], virtualIP: {virtualIPRef: {name: vip}}}";
    const VIP: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: VirtualIP
metadata: {name: vip, namespace: shop}\nspec: {type: Public, ipFamily: IPv4}";

    #[test]
    fn machine_claims_what_it_names() {
        let r = Reports::new();
        let s = snapshot(&[MACHINE, VOLUME, NIC, VIP]);
        let out = reconcile_machine_claims(&ctx(&s, &r), get(&s, "db"));
        assert_eq!(
            summary(&out),
            [
                r#"patch Volume vol {"spec":{"claimRef":{"name":"db","uid":"uid-db"}}}"#,
                r#"patch NetworkInterface nic {"spec":{"machineRef":{"name":"db","uid":"uid-db"}}}"#
            ]
        );
        // Exact preconditions: a concurrent claimer makes one of the two writes conflict.
        let Command::Patch { precondition, .. } = &out[0] else {
            panic!()
        };
        assert!(precondition.resource_version.is_some());
        let out = reconcile_nic_claims(&ctx(&s, &r), get(&s, "nic"));
        assert_eq!(
            summary(&out),
            [r#"patch VirtualIP vip {"spec":{"targetRef":{"name":"nic","uid":"uid-nic"}}}"#]
        );
    }

    #[test]
    fn claims_of_gone_or_recreated_claimers_are_released() {
        let r = Reports::new();
        let claimed = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: vol, namespace: shop}\nspec: {claimRef: {name: db, uid: uid-db}}";
        let s = snapshot(&[MACHINE, claimed]);
        assert!(reconcile_volume_release(&ctx(&s, &r), get(&s, "vol")).is_empty());
        let s = snapshot(&[claimed]);
        assert_eq!(
            summary(&reconcile_volume_release(&ctx(&s, &r), get(&s, "vol"))),
            [r#"patch Volume vol {"spec":{"claimRef":null}}"#]
        );
        let recreated = MACHINE.replace(
            "name: db, namespace: shop",
            "name: db, namespace: shop, uid: new",
        );
        let s = snapshot(&[&recreated, claimed]);
        assert_eq!(
            reconcile_volume_release(&ctx(&s, &r), get(&s, "vol")).len(),
            1
        );
    }

    #[test]
    fn claims_no_longer_named_are_released() {
        let r = Reports::new();
        let other = MACHINE.replace("volumeRef: {name: vol}", "volumeRef: {name: other}");
        let claimed = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: vol, namespace: shop}\nspec: {claimRef: {name: db, uid: uid-db}}";
        let s = snapshot(&[&other, claimed]);
        assert_eq!(
            reconcile_volume_release(&ctx(&s, &r), get(&s, "vol")).len(),
            1
        );
    }
}
