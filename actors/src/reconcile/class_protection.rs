//! Class in-use protection: a MachineClass, VolumeClass or BucketClass carries a finalizer, and
//! loses it only once it is being deleted and nothing refers to it any more (upstream's
//! `machineclass`, `volumeclass` and `bucketclass` controllers).

use ferrocore_api::Resource;
use ferrocore_api::compute::{MACHINE_CLASS_FINALIZER, Machine, MachineClass};
use ferrocore_api::storage::{
    BUCKET_CLASS_FINALIZER, Bucket, BucketClass, VOLUME_CLASS_FINALIZER, Volume, VolumeClass,
};

use super::util::{has_finalizer, key_of};
use super::{Command, Ctx, ViewExt};

/// Reconciles a MachineClass: in use while any Machine names it.
pub fn reconcile_machine_class(ctx: &Ctx<'_>, class: &MachineClass) -> Vec<Command> {
    let name = &class.metadata.name;
    let in_use = || {
        ctx.view
            .all::<Machine>(None)
            .any(|m| m.spec.machine_class_ref.name == *name)
    };
    protect(class, MACHINE_CLASS_FINALIZER, in_use)
}

/// Reconciles a VolumeClass: in use while any Volume names it.
pub fn reconcile_volume_class(ctx: &Ctx<'_>, class: &VolumeClass) -> Vec<Command> {
    let name = &class.metadata.name;
    let in_use = || {
        ctx.view.all::<Volume>(None).any(|v| {
            v.spec
                .volume_class_ref
                .as_ref()
                .is_some_and(|c| c.name == *name)
        })
    };
    protect(class, VOLUME_CLASS_FINALIZER, in_use)
}

/// Reconciles a BucketClass: in use while any Bucket names it.
pub fn reconcile_bucket_class(ctx: &Ctx<'_>, class: &BucketClass) -> Vec<Command> {
    let name = &class.metadata.name;
    let in_use = || {
        ctx.view.all::<Bucket>(None).any(|b| {
            b.spec
                .bucket_class_ref
                .as_ref()
                .is_some_and(|c| c.name == *name)
        })
    };
    protect(class, BUCKET_CLASS_FINALIZER, in_use)
}

/// Adds `finalizer` to a live object; removes it from a deleting one that is no longer in use.
pub(crate) fn protect<T: Resource>(
    object: &T,
    finalizer: &str,
    in_use: impl FnOnce() -> bool,
) -> Vec<Command> {
    let meta = object.meta();
    let has = has_finalizer(meta, finalizer);
    let key = key_of(object);
    match (meta.is_deleting(), has) {
        (false, false) => vec![Command::AddFinalizer {
            key,
            finalizer: finalizer.to_owned(),
        }],
        (true, true) if !in_use() => vec![Command::RemoveFinalizer {
            key,
            finalizer: finalizer.to_owned(),
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};

    const CLASS: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass
metadata: {name: small}\ncapabilities: {cpu: 1, memory: 1Gi}";
    const DELETING: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachineClass
metadata: {name: small, finalizers: [compute.ironcore.dev/machineclass],
  deletionTimestamp: '2026-01-01T00:00:00Z'}\ncapabilities: {cpu: 1, memory: 1Gi}";
    const MACHINE: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: m, namespace: shop}\nspec: {machineClassRef: {name: small}}";

    #[test]
    fn live_class_gets_the_finalizer_once() {
        let s = snapshot(&[CLASS]);
        let r = Reports::new();
        let out = reconcile_machine_class(&ctx(&s, &r), get(&s, "small"));
        assert_eq!(
            summary(&out),
            ["+finalizer MachineClass small compute.ironcore.dev/machineclass"]
        );
    }

    #[test]
    fn deleting_class_waits_for_its_machines() {
        let r = Reports::new();
        let s = snapshot(&[DELETING, MACHINE]);
        assert!(reconcile_machine_class(&ctx(&s, &r), get(&s, "small")).is_empty());
        let s = snapshot(&[DELETING]);
        let out = reconcile_machine_class(&ctx(&s, &r), get(&s, "small"));
        assert_eq!(
            summary(&out),
            ["-finalizer MachineClass small compute.ironcore.dev/machineclass"]
        );
    }
}
