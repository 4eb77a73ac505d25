//! Ephemeral objects from templates, with upstream's names and owner references:
//!
//! | template in | creates | name | owner |
//! |---|---|---|---|
//! | `Machine.spec.networkInterfaces[].ephemeral` | NetworkInterface (`machineRef` = machine) | `<machine>-<nic>` | machine |
//! | `Machine.spec.volumes[].ephemeral` | Volume (`claimRef` = machine) | `<machine>-<volume>` | machine |
//! | `NetworkInterface.spec.ips[i].ephemeral` | Prefix (one IP) | `<nic>-<i>` | NIC |
//! | `NetworkInterface.spec.prefixes[i].ephemeral` | Prefix | `<nic>-pf-<i>` | NIC |
//! | `NetworkInterface.spec.virtualIP.ephemeral` | VirtualIP (`targetRef` = NIC) | `<nic>` | NIC, unless `reclaimPolicy: Retain` |
//! | `LoadBalancer.spec.ips[i].ephemeral` | Prefix (one IP) | `<lb>-<i>` | LB |
//!
//! An object of the wanted name that the owner does not control is never adopted: the core
//! reports a warning instead. Objects the owner controls that no template asks for any more are
//! deleted (the store's cascade deletes the rest when the owner goes).

use std::collections::BTreeSet;

use ferrocore_api::compute::{Machine, ephemeral_network_interface_name, ephemeral_volume_name};
use ferrocore_api::ipam::{Prefix, PrefixTemplateSpec};
use ferrocore_api::meta::ObjectMeta;
use ferrocore_api::networking::{
    IpSource, LoadBalancer, NetworkInterface, ReclaimPolicy, VirtualIP, lb_ip_prefix_name,
    nic_ip_prefix_name, nic_prefix_prefix_name, nic_virtual_ip_name,
};
use ferrocore_api::storage::Volume;
use ferrocore_api::{LocalUidReference, Resource};

use super::util::{controller_ref, delete, is_controlled_by, key_of};
use super::{Command, Ctx, EventType, ObjectEvent, Typed, ViewExt};

/// Metadata for an ephemeral object: the template's labels and annotations, the name, the
/// owner's namespace and (optionally) the owner as controller.
fn ephemeral_meta<O: Resource>(
    owner: &O,
    name: String,
    template: &ObjectMeta,
    own: bool,
) -> ObjectMeta {
    ObjectMeta {
        name,
        namespace: owner.meta().namespace.clone(),
        labels: template.labels.clone(),
        annotations: template.annotations.clone(),
        owner_references: if own {
            vec![controller_ref(owner)]
        } else {
            Vec::new()
        },
        ..ObjectMeta::default()
    }
}

/// Creates missing `desired` objects, warns about foreign ones, deletes controlled extras.
fn sync<O: Resource, T: Typed + Resource>(
    ctx: &Ctx<'_>,
    owner: &O,
    desired: Vec<T>,
) -> Vec<Command> {
    let ns = owner.meta().namespace.as_str();
    let uid = &owner.meta().uid;
    let mut out = Vec::new();
    let names: BTreeSet<String> = desired.iter().map(|d| d.meta().name.clone()).collect();
    for mut want in desired {
        let name = want.meta().name.clone();
        match ctx.view.typed::<T>(ns, &name) {
            None => {
                want.set_defaults();
                out.push(Command::Create(Box::new(want.into())));
            }
            Some(have)
                if have.meta().owner_references.is_empty()
                    && want.meta().owner_references.is_empty() => {}
            Some(have) if is_controlled_by(have.meta(), uid) => {}
            Some(_) => out.push(Command::Event(ObjectEvent {
                key: key_of(owner),
                event_type: EventType::Warning,
                reason: "NotControlled".into(),
                message: format!(
                    "{} {name} exists and is not controlled by {}",
                    T::KIND,
                    owner.meta().name
                ),
            })),
        }
    }
    for extra in ctx.view.all::<T>(Some(ns)).filter(|o| {
        is_controlled_by(o.meta(), uid)
            && !names.contains(&o.meta().name)
            && !o.meta().is_deleting()
    }) {
        out.push(delete(extra));
    }
    out
}

/// Reconciles a Machine's ephemeral NetworkInterfaces and Volumes.
pub fn reconcile_machine(ctx: &Ctx<'_>, machine: &Machine) -> Vec<Command> {
    if machine.metadata.is_deleting() {
        return Vec::new();
    }
    let claim = LocalUidReference {
        name: machine.metadata.name.clone(),
        uid: machine.metadata.uid.clone(),
    };
    let m = machine.metadata.name.as_str();
    let nics: Vec<NetworkInterface> = machine
        .spec
        .network_interfaces
        .iter()
        .filter_map(|n| {
            let t = n.ephemeral.as_ref()?.network_interface_template.as_ref()?;
            let mut spec = t.spec.clone();
            spec.machine_ref = Some(claim.clone());
            Some(NetworkInterface {
                metadata: ephemeral_meta(
                    machine,
                    ephemeral_network_interface_name(m, &n.name),
                    &t.metadata,
                    true,
                ),
                spec,
                ..NetworkInterface::default()
            })
        })
        .collect();
    let volumes: Vec<Volume> = machine
        .spec
        .volumes
        .iter()
        .filter_map(|v| {
            let t = v.ephemeral.as_ref()?.volume_template.as_ref()?;
            let mut spec = t.spec.clone();
            spec.claim_ref = Some(claim.clone());
            Some(Volume {
                metadata: ephemeral_meta(
                    machine,
                    ephemeral_volume_name(m, &v.name),
                    &t.metadata,
                    true,
                ),
                spec,
                ..Volume::default()
            })
        })
        .collect();
    let mut out = sync(ctx, machine, nics);
    out.extend(sync(ctx, machine, volumes));
    out
}

fn prefix_from_template<O: Resource>(owner: &O, name: String, t: &PrefixTemplateSpec) -> Prefix {
    Prefix {
        metadata: ephemeral_meta(owner, name, &t.metadata, true),
        spec: t.spec.clone(),
        ..Prefix::default()
    }
}

fn ip_prefixes<O: Resource>(
    owner: &O,
    ips: &[IpSource],
    name: fn(&str, usize) -> String,
) -> Vec<Prefix> {
    ips.iter()
        .enumerate()
        .filter_map(|(i, ip)| {
            let t = ip.ephemeral.as_ref()?.prefix_template.as_ref()?;
            Some(prefix_from_template(owner, name(&owner.meta().name, i), t))
        })
        .collect()
}

/// Reconciles a NetworkInterface's ephemeral Prefixes and VirtualIP.
pub fn reconcile_network_interface(ctx: &Ctx<'_>, nic: &NetworkInterface) -> Vec<Command> {
    if nic.metadata.is_deleting() {
        return Vec::new();
    }
    let mut prefixes = ip_prefixes(nic, &nic.spec.ips, nic_ip_prefix_name);
    prefixes.extend(nic.spec.prefixes.iter().enumerate().filter_map(|(i, p)| {
        let t = p.ephemeral.as_ref()?.prefix_template.as_ref()?;
        Some(prefix_from_template(
            nic,
            nic_prefix_prefix_name(&nic.metadata.name, i),
            t,
        ))
    }));
    let vips: Vec<VirtualIP> = nic
        .spec
        .virtual_ip
        .as_ref()
        .and_then(|v| v.ephemeral.as_ref()?.virtual_ip_template.as_ref())
        .map(|t| {
            let own = t.spec.reclaim_policy != Some(ReclaimPolicy::Retain);
            let mut spec = t.spec.virtual_ip_spec();
            spec.target_ref = Some(LocalUidReference {
                name: nic.metadata.name.clone(),
                uid: nic.metadata.uid.clone(),
            });
            VirtualIP {
                metadata: ephemeral_meta(
                    nic,
                    nic_virtual_ip_name(&nic.metadata.name),
                    &t.metadata,
                    own,
                ),
                spec,
                ..VirtualIP::default()
            }
        })
        .into_iter()
        .collect();
    let mut out = sync(ctx, nic, prefixes);
    out.extend(sync(ctx, nic, vips));
    out
}

/// Reconciles a LoadBalancer's ephemeral IP Prefixes.
pub fn reconcile_load_balancer(ctx: &Ctx<'_>, lb: &LoadBalancer) -> Vec<Command> {
    if lb.metadata.is_deleting() {
        return Vec::new();
    }
    sync(ctx, lb, ip_prefixes(lb, &lb.spec.ips, lb_ip_prefix_name))
}

#[cfg(test)]
mod tests {
    use ferrocore_api::Object;

    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};

    const MACHINE: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: web, namespace: shop}
spec:
  machineClassRef: {name: small}
  volumes:
  - name: root
    ephemeral: {volumeTemplate: {metadata: {labels: {a: b}}, spec: {volumeClassRef: {name: fast}, resources: {storage: 1Gi}}}}
  networkInterfaces:
  - name: eth0
    ephemeral: {networkInterfaceTemplate: {spec: {networkRef: {name: net}, ipFamilies: [IPv4],
      ips: [{ephemeral: {prefixTemplate: {spec: {parentRef: {name: subnet}}}}}],
      prefixes: [{ephemeral: {prefixTemplate: {spec: {ipFamily: IPv4, prefixLength: 28, parentRef: {name: subnet}}}}}],
      virtualIP: {ephemeral: {virtualIPTemplate: {spec: {type: Public, ipFamily: IPv4}}}}}}}";

    fn created(out: &[Command]) -> Vec<&Object> {
        out.iter()
            .filter_map(|c| match c {
                Command::Create(o) => Some(o.as_ref()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn machine_templates_become_owned_claimed_objects() {
        let r = Reports::new();
        let s = snapshot(&[MACHINE]);
        let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
        assert_eq!(
            summary(&out),
            ["create NetworkInterface web-eth0", "create Volume web-root"]
        );
        let objs = created(&out);
        let Object::NetworkInterface(nic) = objs[0] else {
            panic!()
        };
        assert_eq!(
            nic.spec.machine_ref.as_ref().unwrap().uid.as_str(),
            "uid-web"
        );
        assert_eq!(nic.metadata.owner_references[0].kind, "Machine");
        let Object::Volume(vol) = objs[1] else {
            panic!()
        };
        assert_eq!(vol.spec.claim_ref.as_ref().unwrap().name, "web");
        assert_eq!(vol.metadata.labels["a"], "b");
        // Applied, nothing more to do.
        let mut s = s.clone();
        for o in objs {
            s.put(o.clone());
        }
        assert!(reconcile_machine(&ctx(&s, &r), get(&s, "web")).is_empty());
        // Template dropped: the controlled volume goes.
        let mut m: Machine = get::<Machine>(&s, "web").clone();
        m.spec.volumes.clear();
        assert_eq!(
            summary(&reconcile_machine(&ctx(&s, &r), &m)),
            ["delete Volume web-root"]
        );
    }

    #[test]
    fn foreign_objects_are_not_adopted() {
        let r = Reports::new();
        let foreign = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Volume
metadata: {name: web-root, namespace: shop, ownerReferences: [{apiVersion: v1, kind: Secret, name: x, uid: y, controller: true}]}";
        let s = snapshot(&[MACHINE, foreign]);
        let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
        assert_eq!(
            summary(&out),
            [
                "create NetworkInterface web-eth0",
                "event Machine web NotControlled"
            ]
        );
    }

    #[test]
    fn nic_templates_use_upstream_names() {
        let r = Reports::new();
        let s = snapshot(&[MACHINE]);
        let out = reconcile_machine(&ctx(&s, &r), get(&s, "web"));
        let Object::NetworkInterface(nic) = created(&out)[0].clone() else {
            panic!()
        };
        let out = reconcile_network_interface(&ctx(&s, &r), &nic);
        assert_eq!(
            summary(&out),
            [
                "create Prefix web-eth0-0",
                "create Prefix web-eth0-pf-0",
                "create VirtualIP web-eth0"
            ]
        );
        let Object::Prefix(p) = created(&out)[0] else {
            panic!()
        };
        // The single-IP length was defaulted from the NIC's family.
        assert_eq!(p.spec.prefix_length, Some(32));
    }
}
