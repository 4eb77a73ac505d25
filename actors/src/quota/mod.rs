//! ResourceQuota: what objects charge (upstream's quota evaluators), admission against the
//! namespace's quotas, and `status.used`.
//!
//! | object | charges | scope |
//! |---|---|---|
//! | Machine | `count/machines.compute.ironcore.dev` 1, `requests.cpu` and `requests.memory` from its MachineClass | `MachineClass` |
//! | Volume | `count/volumes.storage.ironcore.dev` 1, `requests.storage` | `VolumeClass` |
//! | Bucket | `count/buckets.storage.ironcore.dev` 1, `requests.tps` and `requests.iops` from its BucketClass | `BucketClass` |
//!
//! Better than upstream (#1255): a Machine also charges each ephemeral Volume its templates ask
//! for, as a Volume of the template's class, for as long as that Volume does not exist yet. So a
//! Machine whose ephemeral disks would exceed the quota is refused at admission, and creating the
//! ephemeral Volume later moves the charge from the Machine to the Volume without charging twice.
//!
//! A quota applies to a charge when every expression of its `scopeSelector` names the charge's
//! scope and matches its class (an expression about another scope does not apply).

use ferrocore_api::compute::{Machine, MachineClass, ephemeral_volume_name};
use ferrocore_api::core::{ResourceQuota, ResourceQuotaStatus, ResourceScope};
use ferrocore_api::storage::{Bucket, BucketClass, Volume, VolumeSpec};
use ferrocore_api::{Kind, Object, Quantity, ResourceList, ResourceName, quantity_of};

use crate::reconcile::util::status_update;
use crate::reconcile::{Command, Ctx, ObjectView, ViewExt};

/// One part of what an object charges, with the scope it is judged under.
#[derive(Clone, Debug, PartialEq)]
pub struct Charge {
    /// Which scope applies.
    pub scope: ResourceScope,
    /// The class, if the object names one.
    pub class: Option<String>,
    /// The quantities.
    pub resources: ResourceList,
}

/// Adds `q` to `list[name]`; the first quantity keeps its print format (`6Gi` stays `6Gi`).
fn add(list: &mut ResourceList, name: &str, q: Quantity) {
    match list.entry(ResourceName::new(name)) {
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(q);
        }
        std::collections::btree_map::Entry::Occupied(mut e) => {
            let sum = e.get().checked_add(q).unwrap_or_else(|| *e.get());
            e.insert(sum);
        }
    }
}

fn volume_charge(spec: &VolumeSpec) -> Charge {
    let mut resources = ResourceList::new();
    add(
        &mut resources,
        ResourceName::COUNT_VOLUMES,
        Quantity::from_units(1),
    );
    let storage = spec
        .resources
        .as_ref()
        .map_or(Quantity::ZERO, |r| quantity_of(r, ResourceName::STORAGE));
    add(&mut resources, ResourceName::REQUESTS_STORAGE, storage);
    Charge {
        scope: ResourceScope::VolumeClass,
        class: spec.volume_class_ref.as_ref().map(|c| c.name.clone()),
        resources,
    }
}

/// What `object` charges; nothing for kinds quota does not cover.
pub fn charges(object: &Object, view: &dyn ObjectView) -> Vec<Charge> {
    match object {
        Object::Machine(m) => machine_charges(m, view),
        Object::Volume(v) => vec![volume_charge(&v.spec)],
        Object::Bucket(b) => vec![bucket_charge(b, view)],
        _ => Vec::new(),
    }
}

fn machine_charges(m: &Machine, view: &dyn ObjectView) -> Vec<Charge> {
    let class = &m.spec.machine_class_ref.name;
    let caps = view
        .typed::<MachineClass>("", class)
        .map(|c| &c.capabilities);
    let mut resources = ResourceList::new();
    add(
        &mut resources,
        ResourceName::COUNT_MACHINES,
        Quantity::from_units(1),
    );
    let cap = |n| caps.map_or(Quantity::ZERO, |c| quantity_of(c, n));
    add(
        &mut resources,
        ResourceName::REQUESTS_CPU,
        cap(ResourceName::CPU),
    );
    add(
        &mut resources,
        ResourceName::REQUESTS_MEMORY,
        cap(ResourceName::MEMORY),
    );
    let mut out = vec![Charge {
        scope: ResourceScope::MachineClass,
        class: Some(class.clone()),
        resources,
    }];
    let ns = m.metadata.namespace.as_str();
    for v in &m.spec.volumes {
        let Some(t) = v
            .ephemeral
            .as_ref()
            .and_then(|e| e.volume_template.as_ref())
        else {
            continue;
        };
        let name = ephemeral_volume_name(&m.metadata.name, &v.name);
        if view.typed::<Volume>(ns, &name).is_none() {
            out.push(volume_charge(&t.spec));
        }
    }
    out
}

fn bucket_charge(b: &Bucket, view: &dyn ObjectView) -> Charge {
    let class = b.spec.bucket_class_ref.as_ref().map(|c| c.name.clone());
    let caps = class
        .as_deref()
        .and_then(|c| view.typed::<BucketClass>("", c))
        .map(|c| &c.capabilities);
    let cap = |n| caps.map_or(Quantity::ZERO, |c| quantity_of(c, n));
    let mut resources = ResourceList::new();
    add(
        &mut resources,
        ResourceName::COUNT_BUCKETS,
        Quantity::from_units(1),
    );
    add(
        &mut resources,
        ResourceName::REQUESTS_TPS,
        cap(ResourceName::TPS),
    );
    add(
        &mut resources,
        ResourceName::REQUESTS_IOPS,
        cap(ResourceName::IOPS),
    );
    Charge {
        scope: ResourceScope::BucketClass,
        class,
        resources,
    }
}

/// Whether `quota` applies to `charge`.
pub fn applies(quota: &ResourceQuota, charge: &Charge) -> bool {
    quota.spec.scope_selector.as_ref().is_none_or(|s| {
        s.match_expressions
            .iter()
            .all(|e| e.scope_name == charge.scope && e.matches(charge.class.as_deref()))
    })
}

/// What `charges` add up to under `quota`, limited to the resources it limits.
fn total(quota: &ResourceQuota, charges: &[Charge]) -> ResourceList {
    let mut out = ResourceList::new();
    for c in charges.iter().filter(|c| applies(quota, c)) {
        for (name, q) in c
            .resources
            .iter()
            .filter(|(n, _)| quota.spec.hard.contains_key(*n))
        {
            add(&mut out, name.as_str(), *q);
        }
    }
    out
}

/// What the objects of `quota`'s namespace use under it now.
pub fn used(quota: &ResourceQuota, view: &dyn ObjectView) -> ResourceList {
    let ns = Some(quota.metadata.namespace.as_str());
    let mut all = Vec::new();
    for kind in [Kind::Machine, Kind::Volume, Kind::Bucket] {
        for o in view.list(kind, ns) {
            all.extend(charges(o, view));
        }
    }
    let mut out = total(quota, &all);
    for name in quota.spec.hard.keys() {
        out.entry(name.clone()).or_insert(Quantity::ZERO);
    }
    out
}

/// An object that would take a namespace over one of its quotas.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error(
    "exceeded quota: {quota}, requested: {resource}={requested}, used: {resource}={used}, limited: {resource}={limited}"
)]
pub struct QuotaExceeded {
    /// The quota's name.
    pub quota: String,
    /// The resource over its limit.
    pub resource: String,
    /// What the object adds.
    pub requested: String,
    /// What the namespace uses now.
    pub used: String,
    /// The limit.
    pub limited: String,
}

/// Whether the Volume `v` is the ephemeral volume of a Machine that already charges it.
fn charged_by_machine(v: &Volume, view: &dyn ObjectView) -> bool {
    let ns = v.metadata.namespace.as_str();
    let Some(owner) = v
        .metadata
        .owner_references
        .iter()
        .find(|r| r.controller == Some(true))
    else {
        return false;
    };
    view.typed::<Machine>(ns, &owner.name).is_some_and(|m| {
        m.metadata.uid == owner.uid
            && m.spec.volumes.iter().any(|mv| {
                mv.ephemeral.is_some()
                    && ephemeral_volume_name(&m.metadata.name, &mv.name) == v.metadata.name
            })
    })
}

/// Admission: refuses `new` (a create when `old` is `None`, else an update) when it would take
/// the namespace over a quota. Call it on the leader, serialised per namespace, after defaulting
/// and validation, with the store as it is before the write.
///
/// # Errors
/// [`QuotaExceeded`] naming the first quota and resource over the limit.
pub fn admit(
    new: &Object,
    old: Option<&Object>,
    view: &dyn ObjectView,
) -> Result<(), QuotaExceeded> {
    if let (Object::Volume(v), None) = (new, old)
        && charged_by_machine(v, view)
    {
        return Ok(());
    }
    let ns = new.meta().namespace.as_str();
    let new_charges = charges(new, view);
    if new_charges.is_empty() {
        return Ok(());
    }
    let old_charges = old.map(|o| charges(o, view)).unwrap_or_default();
    for quota in view.all::<ResourceQuota>(Some(ns)) {
        let after = total(quota, &new_charges);
        let before = total(quota, &old_charges);
        let in_use = used(quota, view);
        for (name, limit) in &quota.spec.hard {
            let add = after.get(name).copied().unwrap_or(Quantity::ZERO);
            let delta = add.checked_sub(before.get(name).copied().unwrap_or(Quantity::ZERO));
            let Some(delta) = delta.filter(|d| !d.is_zero() && !d.is_negative()) else {
                continue;
            };
            let now = in_use.get(name).copied().unwrap_or(Quantity::ZERO);
            if now.checked_add(delta).is_none_or(|sum| sum > *limit) {
                return Err(QuotaExceeded {
                    quota: quota.metadata.name.clone(),
                    resource: name.to_string(),
                    requested: delta.to_string(),
                    used: now.to_string(),
                    limited: limit.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Reconciles a ResourceQuota's status: `hard` from the spec, `used` from the namespace.
pub fn reconcile_quota(ctx: &Ctx<'_>, quota: &ResourceQuota) -> Vec<Command> {
    let status = ResourceQuotaStatus {
        hard: quota.spec.hard.clone(),
        used: used(quota, ctx.view),
    };
    status_update(quota, &quota.status, &status)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests;
