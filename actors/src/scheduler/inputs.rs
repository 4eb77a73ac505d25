//! From API objects to the scheduler's view, and from its decisions to store commands.

use ferrocore_api::compute::{Machine, MachinePool};
use ferrocore_api::storage::{Bucket, BucketPool, Volume, VolumePool};
use ferrocore_api::{
    ConditionStatus, Object, Quantity, Resource, ResourceList, ResourceName, quantity_of,
};
use ferrocore_runtime::WallTime;
use serde_json::json;

use super::types::{Capacity, Decision, PoolInfo, Schedulable, Unschedulable, ZONE_LABEL};
use crate::reconcile::util::{
    ConditionUpdate, api_time, condition_true, key_of, set_condition, status_update,
};
use crate::reconcile::{Command, ObjectView, Precondition, ViewExt};

const MACHINE_CLASS_PREFIX: &str = "class/machine.";
const VOLUME_CLASS_PREFIX: &str = "class/volume.";

/// Classes from `capacity` (else `allocatable`, for pools written by hand) under `prefix`.
fn classes(
    capacity: &ResourceList,
    allocatable: &ResourceList,
    prefix: &str,
) -> std::collections::BTreeMap<String, Capacity> {
    let list = if capacity.is_empty() {
        allocatable
    } else {
        capacity
    };
    list.iter()
        .filter_map(|(name, q)| {
            let class = name.as_str().strip_prefix(prefix)?;
            Some((class.to_owned(), Capacity::Limited(i128::from(q.value()))))
        })
        .collect()
}

fn pool_info<T: Resource>(pool: &T, taints: &[ferrocore_api::Taint], ready: bool) -> PoolInfo {
    PoolInfo {
        name: pool.meta().name.clone(),
        labels: pool.meta().labels.clone(),
        taints: taints.to_vec(),
        ready,
        deleting: pool.meta().is_deleting(),
        classes: Default::default(),
    }
}

/// A MachinePool as the machine scheduler sees it (capacity: `class/machine.<c>` counts).
pub fn machine_pool_info(pool: &MachinePool) -> PoolInfo {
    let ready = condition_true(&pool.status.conditions, "Ready");
    PoolInfo {
        classes: classes(
            &pool.status.capacity,
            &pool.status.allocatable,
            MACHINE_CLASS_PREFIX,
        ),
        ..pool_info(pool, &pool.spec.taints, ready)
    }
}

/// A VolumePool as the volume scheduler sees it (capacity: `class/volume.<c>` bytes). Unlike
/// upstream, an unready volume pool is not chosen.
pub fn volume_pool_info(pool: &VolumePool) -> PoolInfo {
    let ready = condition_true(&pool.status.conditions, "Ready");
    PoolInfo {
        classes: classes(
            &pool.status.capacity,
            &pool.status.allocatable,
            VOLUME_CLASS_PREFIX,
        ),
        ..pool_info(pool, &pool.spec.taints, ready)
    }
}

/// A BucketPool as the bucket scheduler sees it: its available classes, without a limit (so
/// the least-loaded pool wins, where upstream picks at random). Unready pools are not chosen.
pub fn bucket_pool_info(pool: &BucketPool) -> PoolInfo {
    let ready = condition_true(&pool.status.conditions, "Ready");
    PoolInfo {
        classes: pool
            .status
            .available_bucket_classes
            .iter()
            .map(|c| (c.name.clone(), Capacity::Unlimited))
            .collect(),
        ..pool_info(pool, &pool.spec.taints, ready)
    }
}

/// A Machine as the machine scheduler sees it.
pub fn machine_schedulable(m: &Machine) -> Schedulable {
    Schedulable {
        key: key_of(m),
        uid: m.metadata.uid.clone(),
        class: m.spec.machine_class_ref.name.clone(),
        amount: 1,
        selector: m.spec.machine_pool_selector.clone(),
        tolerations: m.spec.tolerations.clone(),
        preferred_zone: None,
        bound: m.spec.machine_pool_ref.as_ref().map(|p| p.name.clone()),
        deleting: m.metadata.is_deleting(),
    }
}

/// What to do with a Volume or Bucket before scheduling it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Prepared {
    /// Hand it to the scheduler.
    Ready(Box<Schedulable>),
    /// Not the scheduler's (no class: an external provisioner's).
    Skip,
    /// An ephemeral volume whose machine is not placed yet: offer it again once the machine
    /// is bound, so it can follow the machine's zone.
    Deferred,
}

/// A Volume as the volume scheduler sees it. An ephemeral volume prefers its machine's zone.
pub fn volume_schedulable(v: &Volume, view: &dyn ObjectView) -> Prepared {
    let Some(class) = &v.spec.volume_class_ref else {
        return Prepared::Skip;
    };
    let ns = v.metadata.namespace.as_str();
    let owner = v
        .metadata
        .owner_references
        .iter()
        .find(|r| r.controller == Some(true) && r.kind == "Machine");
    let mut preferred_zone = None;
    if v.spec.volume_pool_ref.is_none()
        && let Some(owner) = owner
        && let Some(m) = view
            .typed::<Machine>(ns, &owner.name)
            .filter(|m| m.metadata.uid == owner.uid)
    {
        let Some(pool) = &m.spec.machine_pool_ref else {
            return Prepared::Deferred;
        };
        preferred_zone = view
            .typed::<MachinePool>("", &pool.name)
            .and_then(|p| p.metadata.labels.get(ZONE_LABEL).cloned());
    }
    let size = v
        .spec
        .resources
        .as_ref()
        .map_or(Quantity::ZERO, |r| quantity_of(r, ResourceName::STORAGE));
    Prepared::Ready(Box::new(Schedulable {
        key: key_of(v),
        uid: v.metadata.uid.clone(),
        class: class.name.clone(),
        amount: i128::from(size.value()),
        selector: v.spec.volume_pool_selector.clone(),
        tolerations: v.spec.tolerations.clone().unwrap_or_default(),
        preferred_zone,
        bound: v.spec.volume_pool_ref.as_ref().map(|p| p.name.clone()),
        deleting: v.metadata.is_deleting(),
    }))
}

/// A Bucket as the bucket scheduler sees it.
pub fn bucket_schedulable(b: &Bucket) -> Prepared {
    let Some(class) = &b.spec.bucket_class_ref else {
        return Prepared::Skip;
    };
    Prepared::Ready(Box::new(Schedulable {
        key: key_of(b),
        uid: b.metadata.uid.clone(),
        class: class.name.clone(),
        amount: 1,
        selector: b.spec.bucket_pool_selector.clone(),
        tolerations: b.spec.tolerations.clone().unwrap_or_default(),
        preferred_zone: None,
        bound: b.spec.bucket_pool_ref.as_ref().map(|p| p.name.clone()),
        deleting: b.metadata.is_deleting(),
    }))
}

/// The store write for a decision about `object` (the object as the runtime holds it):
/// a set-once pool reference guarded by uid for a bind, a `Scheduled=False` condition with the
/// reason for an unschedulable object.
pub fn decision_commands(decision: &Decision, object: &Object, wall: WallTime) -> Vec<Command> {
    match decision {
        Decision::Bind { key, uid, pool } => {
            let field = match object {
                Object::Machine(_) => "machinePoolRef",
                Object::Volume(_) => "volumePoolRef",
                Object::Bucket(_) => "bucketPoolRef",
                _ => return Vec::new(),
            };
            vec![Command::Patch {
                key: key.clone(),
                precondition: Precondition::uid(uid),
                patch: json!({"spec": {field: {"name": pool}}}),
            }]
        }
        Decision::Unschedulable { why, .. } => unschedulable_status(object, why, wall)
            .into_iter()
            .collect(),
    }
}

fn unschedulable_status(object: &Object, why: &Unschedulable, wall: WallTime) -> Option<Command> {
    let message = why.to_string();
    let message = message
        .split_once(": ")
        .map_or(message.as_str(), |(_, m)| m)
        .to_owned();
    let update = |generation| ConditionUpdate {
        type_: "Scheduled",
        status: ConditionStatus::False,
        reason: why.reason(),
        message: &message,
        observed_generation: generation,
    };
    let now = api_time(wall);
    match object {
        Object::Machine(m) => {
            let mut s = m.status.clone();
            set_condition(&mut s.conditions, &update(m.metadata.generation.0), now);
            status_update(m, &m.status, &s)
        }
        Object::Volume(v) => {
            let mut s = v.status.clone();
            set_condition(&mut s.conditions, &update(v.metadata.generation.0), now);
            status_update(v, &v.status, &s)
        }
        Object::Bucket(b) => {
            let mut s = b.status.clone();
            set_condition(&mut s.conditions, &update(b.metadata.generation.0), now);
            status_update(b, &b.status, &s)
        }
        _ => None,
    }
}
