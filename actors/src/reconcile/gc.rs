//! Garbage collection of owned objects: an object whose owner references all name objects that
//! are gone (or were recreated under a new uid) is deleted; references to gone owners next to a
//! live one are dropped. The store cascades deletes itself; this core catches what a cascade
//! cannot see (an owner recreated under the same name, dependents created after the owner went).

use ferrocore_api::meta::OwnerReference;
use ferrocore_api::{Kind, Object};
use serde_json::json;

use super::command::Precondition;
use super::{Command, Ctx};

/// Whether the owner `r` of an object in `namespace` exists with the referenced uid. Owners of
/// unknown kinds are assumed alive (they are not ours to judge).
fn owner_alive(ctx: &Ctx<'_>, namespace: &str, r: &OwnerReference) -> bool {
    let Some(kind) = Kind::from_type(&r.api_version, &r.kind) else {
        return true;
    };
    let ns = if kind.namespaced() { namespace } else { "" };
    ctx.view
        .get(kind, ns, &r.name)
        .is_some_and(|o| o.meta().uid == r.uid)
}

/// Reconciles any object with owner references.
pub fn reconcile_owned(ctx: &Ctx<'_>, object: &Object) -> Vec<Command> {
    let meta = object.meta();
    if meta.owner_references.is_empty() || meta.is_deleting() {
        return Vec::new();
    }
    let alive: Vec<&OwnerReference> = meta
        .owner_references
        .iter()
        .filter(|r| owner_alive(ctx, &meta.namespace, r))
        .collect();
    let precondition = Precondition::uid(&meta.uid);
    if alive.is_empty() {
        return vec![Command::Delete {
            key: object.key(),
            precondition,
        }];
    }
    if alive.len() == meta.owner_references.len() {
        return Vec::new();
    }
    vec![Command::Patch {
        key: object.key(),
        precondition: Precondition::exact(&meta.uid, &meta.resource_version),
        patch: json!({"metadata": {"ownerReferences": alive}}),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, parse, snapshot, summary};

    const NIC: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface
metadata:
  name: m-eth0
  namespace: shop
  ownerReferences:
  - {apiVersion: compute.ironcore.dev/v1alpha1, kind: Machine, name: m, uid: uid-m, controller: true}
spec: {networkRef: {name: n}, ips: [{value: 10.0.0.1}]}";
    const MACHINE: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: m, namespace: shop}\nspec: {machineClassRef: {name: small}}";
    const MACHINE_NEW_UID: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: m, namespace: shop, uid: other}\nspec: {machineClassRef: {name: small}}";

    #[test]
    fn dependents_of_live_owners_stay() {
        let s = snapshot(&[MACHINE, NIC]);
        let r = Reports::new();
        assert!(reconcile_owned(&ctx(&s, &r), &parse(NIC)).is_empty());
    }

    #[test]
    fn orphans_go_including_after_owner_recreation() {
        let r = Reports::new();
        for owner in [None, Some(MACHINE_NEW_UID)] {
            let s = snapshot(&owner.into_iter().chain([NIC]).collect::<Vec<_>>());
            let out = reconcile_owned(&ctx(&s, &r), &parse(NIC));
            assert_eq!(summary(&out), ["delete NetworkInterface m-eth0"]);
        }
    }
}
