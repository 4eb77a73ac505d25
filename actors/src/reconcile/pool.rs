//! Pools from node registrations: a node's `Register` creates or updates its MachinePools,
//! VolumePools and BucketPools — labels, `providerID` (which node serves it), the ironcore
//! classes its runtime classes map to, `capacity`, and `allocatable` (capacity minus what is
//! bound to the pool). Health (`Ready`, `state`) is the [`crate::health`] core's.
//!
//! Class mapping as upstream's class mapper: a runtime class maps to the ironcore class of the
//! same name when their capabilities are equal, else to the one ironcore class with equal
//! capabilities; no match (or an ambiguous one) means the class is not offered.
//!
//! A pool belongs to the node that registered it first (annotation `ferrocore.dev/node`): a
//! registration from another node is refused, so a node cannot take over another's pools. A
//! pool declared beforehand (a manifest, no owner yet) is taken by the first node that registers
//! it with the same `providerID` (or when it has none).

use ferrocore_api::compute::{Machine, MachineClass, MachinePool, MachinePoolStatus};
use ferrocore_api::iri::protocol::{NodeName, PoolCapacity, PoolRegistration};
use ferrocore_api::iri::{bucket, machine, volume};
use ferrocore_api::meta::ObjectMeta;
use ferrocore_api::storage::{
    BucketClass, BucketPool, BucketPoolStatus, Volume, VolumeClass, VolumePool, VolumePoolStatus,
};
use ferrocore_api::{
    LocalObjectReference, Object, Quantity, ResourceList, ResourceName, quantity_of,
};
use serde_json::json;

use super::util::{patch, patch_exact, status_update};
use super::{Command, Ctx, Typed, ViewExt};

/// A registration that may not touch the store.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum RegistrationError {
    /// The pool is served by another node, or declared for another provider.
    #[error("pool {pool} belongs to {owner}, not to node {node}")]
    NotOwner {
        /// The pool.
        pool: String,
        /// The node that serves it, or the provider id it was declared with.
        owner: String,
        /// The node that tried.
        node: String,
    },
}

/// The annotation on a pool naming the node that serves it.
pub const POOL_NODE_ANNOTATION: &str = "ferrocore.dev/node";

/// The provider id a registration asks for: its own, else `ferrocore://<node>/<pool>`.
pub fn provider_id(node: &NodeName, reg: &PoolRegistration) -> String {
    if reg.provider_id.is_empty() {
        format!("ferrocore://{node}/{}", reg.name)
    } else {
        reg.provider_id.clone()
    }
}

fn check_owner(
    existing: &Object,
    node: &NodeName,
    provider: &str,
    pool: &str,
) -> Result<(), RegistrationError> {
    let not_owner = |owner: &str| RegistrationError::NotOwner {
        pool: pool.to_owned(),
        owner: owner.to_owned(),
        node: node.to_string(),
    };
    match existing.meta().annotations.get(POOL_NODE_ANNOTATION) {
        Some(owner) if owner != node.as_str() => Err(not_owner(owner)),
        Some(_) => Ok(()),
        None => {
            let declared = pool_provider_id(existing);
            if declared.is_empty() || declared == provider {
                Ok(())
            } else {
                Err(not_owner(&declared))
            }
        }
    }
}

fn equal_caps(iri: &std::collections::BTreeMap<String, i64>, ours: &ResourceList) -> bool {
    iri.len() == ours.len()
        && iri.iter().all(|(k, v)| {
            ours.get(&ResourceName::new(k.as_str()))
                .is_some_and(|q| q.value() == *v)
        })
}

/// Maps runtime classes to ironcore class names by name and capabilities.
fn map_class<'a, C: Typed + 'a>(
    candidates: impl Iterator<Item = &'a C>,
    name: &str,
    caps: impl Fn(&C) -> bool,
) -> Option<String> {
    let equal: Vec<&C> = candidates.filter(|c| caps(c)).collect();
    if let Some(same) = equal.iter().find(|c| c.meta().name == name) {
        return Some(same.meta().name.clone());
    }
    match equal.as_slice() {
        [only] => Some(only.meta().name.clone()),
        _ => None,
    }
}

fn perf_caps(list: &ResourceList, tps: u64, iops: u64) -> bool {
    let v = |n| u64::try_from(quantity_of(list, n).value()).ok();
    list.len() == 2 && v(ResourceName::TPS) == Some(tps) && v(ResourceName::IOPS) == Some(iops)
}

/// Reconciles one registered pool: create, ownership, labels, classes and capacity.
///
/// # Errors
/// [`RegistrationError::NotOwner`] when another node serves the pool.
pub fn reconcile_registration(
    ctx: &Ctx<'_>,
    node: &NodeName,
    reg: &PoolRegistration,
) -> Result<Vec<Command>, RegistrationError> {
    let provider = provider_id(node, reg);
    let kind = reg.capacity.kind().kind();
    let existing = ctx.view.get(kind, "", &reg.name);
    if let Some(o) = existing {
        check_owner(o, node, &provider, &reg.name)?;
    }
    let owner = Owner {
        node: node.as_str(),
        provider: &provider,
    };
    Ok(match &reg.capacity {
        PoolCapacity::Machine(classes) => machine_pool(ctx, existing, reg, &owner, classes),
        PoolCapacity::Volume(classes) => volume_pool(ctx, existing, reg, &owner, classes),
        PoolCapacity::Bucket(classes) => bucket_pool(ctx, existing, reg, &owner, classes),
    })
}

fn pool_provider_id(o: &Object) -> String {
    match o {
        Object::MachinePool(p) => p.spec.provider_id.clone(),
        Object::VolumePool(p) => p.spec.provider_id.clone(),
        Object::BucketPool(p) => p.spec.provider_id.clone(),
        _ => String::new(),
    }
}

/// Who registers a pool.
struct Owner<'a> {
    node: &'a str,
    provider: &'a str,
}

/// Create, or patch labels, owner and provider id, then the status.
fn upsert<P: Typed + Clone, S: serde::Serialize + PartialEq>(
    existing: Option<&P>,
    reg: &PoolRegistration,
    owner: &Owner<'_>,
    new: impl FnOnce(ObjectMeta) -> P,
    status: impl Fn(&P) -> (&S, S),
) -> Vec<Command> {
    let Some(pool) = existing else {
        let mut meta = ObjectMeta {
            labels: reg.labels.clone(),
            ..ObjectMeta::named("", &reg.name)
        };
        meta.annotations
            .insert(POOL_NODE_ANNOTATION.to_owned(), owner.node.to_owned());
        let mut p = new(meta);
        p.set_defaults();
        return vec![Command::Create(Box::new(p.into()))];
    };
    let mut out = Vec::new();
    let meta = pool.meta();
    let labels_differ = reg
        .labels
        .iter()
        .any(|(k, v)| meta.labels.get(k) != Some(v));
    let unowned = !meta.annotations.contains_key(POOL_NODE_ANNOTATION);
    let provider_missing = pool_provider_id(&pool.clone().into()).is_empty();
    if labels_differ || unowned || provider_missing {
        let annotations = json!({ POOL_NODE_ANNOTATION: owner.node });
        // Taking ownership is exact (resourceVersion): two nodes racing for a declared pool
        // cannot both win.
        let write = if unowned { patch_exact } else { patch };
        out.push(write(
            pool,
            json!({
                "metadata": {"labels": reg.labels, "annotations": annotations},
                "spec": {"providerID": owner.provider},
            }),
        ));
    }
    let (old, new) = status(pool);
    out.extend(status_update(pool, old, &new));
    out
}

fn machine_pool(
    ctx: &Ctx<'_>,
    existing: Option<&Object>,
    reg: &PoolRegistration,
    owner: &Owner<'_>,
    classes: &[machine::MachineClassStatus],
) -> Vec<Command> {
    let existing = existing.and_then(MachinePool::from_object);
    let mut capacity = ResourceList::new();
    let mut available = Vec::new();
    for c in classes {
        let caps = |mc: &MachineClass| equal_caps(&c.machine_class.capabilities, &mc.capabilities);
        if let Some(name) = map_class(
            ctx.view.all::<MachineClass>(None),
            &c.machine_class.name.0,
            caps,
        ) {
            capacity.insert(
                ResourceName::machine_class(&name),
                Quantity::from_units(c.quantity),
            );
            available.push(LocalObjectReference::new(name));
        }
    }
    available.sort();
    available.dedup();
    let mut used = ResourceList::new();
    for m in ctx.view.all::<Machine>(None) {
        if m.spec
            .machine_pool_ref
            .as_ref()
            .is_some_and(|p| p.name == reg.name)
        {
            let k = ResourceName::machine_class(&m.spec.machine_class_ref.name);
            let q = used.entry(k).or_insert(Quantity::ZERO);
            *q = q.checked_add(Quantity::from_units(1)).unwrap_or(*q);
        }
    }
    let allocatable = allocatable(&capacity, &used);
    let provider = owner.provider.to_owned();
    upsert(
        existing,
        reg,
        owner,
        |metadata| {
            let mut p = MachinePool {
                metadata,
                ..MachinePool::default()
            };
            p.spec.provider_id = provider;
            p
        },
        |p| {
            let new = MachinePoolStatus {
                available_machine_classes: available.clone(),
                capacity: capacity.clone(),
                allocatable: allocatable.clone(),
                ..p.status.clone()
            };
            (&p.status, new)
        },
    )
}

fn allocatable(capacity: &ResourceList, used: &ResourceList) -> ResourceList {
    capacity
        .iter()
        .map(|(k, c)| {
            let u = used.get(k).copied().unwrap_or(Quantity::ZERO);
            let left = c
                .checked_sub(u)
                .filter(|q| !q.is_negative())
                .unwrap_or(Quantity::ZERO);
            (k.clone(), left)
        })
        .collect()
}

fn volume_pool(
    ctx: &Ctx<'_>,
    existing: Option<&Object>,
    reg: &PoolRegistration,
    owner: &Owner<'_>,
    classes: &[volume::VolumeClassStatus],
) -> Vec<Command> {
    let existing = existing.and_then(VolumePool::from_object);
    let mut capacity = ResourceList::new();
    let mut available = Vec::new();
    for c in classes {
        let caps = &c.volume_class.capabilities;
        let same = |vc: &VolumeClass| perf_caps(&vc.capabilities, caps.tps, caps.iops);
        if let Some(name) = map_class(
            ctx.view.all::<VolumeClass>(None),
            c.volume_class.name.as_str(),
            same,
        ) {
            let bytes = i64::try_from(c.quantity.0).unwrap_or(i64::MAX);
            capacity.insert(
                ResourceName::volume_class(&name),
                Quantity::from_bytes(bytes),
            );
            available.push(LocalObjectReference::new(name));
        }
    }
    available.sort();
    available.dedup();
    let mut used = ResourceList::new();
    for v in ctx.view.all::<Volume>(None) {
        if v.spec
            .volume_pool_ref
            .as_ref()
            .is_some_and(|p| p.name == reg.name)
            && let Some(class) = &v.spec.volume_class_ref
        {
            let size = v
                .spec
                .resources
                .as_ref()
                .map_or(Quantity::ZERO, |r| quantity_of(r, ResourceName::STORAGE));
            let q = used
                .entry(ResourceName::volume_class(&class.name))
                .or_insert(Quantity::ZERO);
            *q = q.checked_add(size).unwrap_or(*q);
        }
    }
    let allocatable = allocatable(&capacity, &used);
    let provider = owner.provider.to_owned();
    upsert(
        existing,
        reg,
        owner,
        |metadata| {
            let mut p = VolumePool {
                metadata,
                ..VolumePool::default()
            };
            p.spec.provider_id = provider;
            p
        },
        |p| {
            let new = VolumePoolStatus {
                available_volume_classes: available.clone(),
                capacity: capacity.clone(),
                allocatable: allocatable.clone(),
                ..p.status.clone()
            };
            (&p.status, new)
        },
    )
}

fn bucket_pool(
    ctx: &Ctx<'_>,
    existing: Option<&Object>,
    reg: &PoolRegistration,
    owner: &Owner<'_>,
    classes: &[bucket::BucketClass],
) -> Vec<Command> {
    let existing = existing.and_then(BucketPool::from_object);
    let mut available: Vec<LocalObjectReference> = classes
        .iter()
        .filter_map(|c| {
            let same = |bc: &BucketClass| {
                perf_caps(&bc.capabilities, c.capabilities.tps, c.capabilities.iops)
            };
            map_class(ctx.view.all::<BucketClass>(None), &c.name.0, same)
        })
        .map(LocalObjectReference::new)
        .collect();
    available.sort();
    available.dedup();
    let provider = owner.provider.to_owned();
    upsert(
        existing,
        reg,
        owner,
        |metadata| {
            let mut p = BucketPool {
                metadata,
                ..BucketPool::default()
            };
            p.spec.provider_id = provider;
            p
        },
        |p| {
            let new = BucketPoolStatus {
                available_bucket_classes: available.clone(),
                ..p.status.clone()
            };
            (&p.status, new)
        },
    )
}

#[cfg(test)]
mod tests;
