//! Orphans on nodes: a node reports an object the store no longer holds (or holds under a new
//! uid, after a delete and re-create): a create that raced a delete, or a node that was away
//! while its object was deleted. The object is deleted on the node.

use ferrocore_api::ObjectKey;
use ferrocore_api::iri::protocol::{BucketRequest, IriRequest, ReportedState, VolumeRequest};
use ferrocore_api::iri::{bucket, machine, volume};

use super::{Command, Ctx, NodeReport, NodeRequest};

/// The delete request for what a node holds, if it holds something.
fn delete_request(state: &ReportedState) -> Option<IriRequest> {
    Some(match state {
        ReportedState::Absent => return None,
        ReportedState::Machine(m) => IriRequest::Machine(machine::MachineRequest::DeleteMachine(
            machine::DeleteMachineRequest {
                machine_id: m.metadata.id.clone(),
            },
        )),
        ReportedState::Volume(v) => {
            IriRequest::Volume(VolumeRequest::DeleteVolume(volume::DeleteVolumeRequest {
                volume_id: v.id.clone(),
            }))
        }
        ReportedState::VolumeSnapshot(s) => IriRequest::Volume(
            VolumeRequest::DeleteVolumeSnapshot(volume::DeleteVolumeSnapshotRequest {
                snapshot_id: s.id.clone(),
            }),
        ),
        ReportedState::Bucket(b) => {
            IriRequest::Bucket(BucketRequest::DeleteBucket(bucket::DeleteBucketRequest {
                bucket_id: b.id.clone(),
            }))
        }
    })
}

/// Reconciles one node report: a delete request when the store has no object of that key and
/// uid, nothing otherwise.
pub fn reconcile_report(ctx: &Ctx<'_>, key: &ObjectKey, report: &NodeReport) -> Vec<Command> {
    let alive = ctx
        .view
        .get(key.kind, &key.namespace, &key.name)
        .is_some_and(|o| o.meta().uid == report.uid);
    if alive {
        return Vec::new();
    }
    delete_request(&report.state)
        .map(|request| {
            Command::Node(Box::new(NodeRequest {
                pool: report.pool.clone(),
                object: key.clone(),
                uid: report.uid.clone(),
                generation: report.generation,
                request,
            }))
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use ferrocore_api::Kind;
    use ferrocore_api::iri::protocol::{PoolKind, PoolRef};
    use ferrocore_api::meta::{Generation, Uid};

    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, snapshot, summary};
    use crate::reconcile::util::key;

    #[test]
    fn reports_of_gone_or_recreated_objects_become_deletes() {
        let report = NodeReport {
            uid: Uid("uid-web".into()),
            generation: Generation(1),
            pool: PoolRef {
                kind: PoolKind::Machine,
                name: "hv".into(),
            },
            state: ReportedState::Machine(machine::Machine::default()),
        };
        let k = key(Kind::Machine, "shop", "web");
        let r = Reports::new();
        let machine = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: web, namespace: shop}\nspec: {machineClassRef: {name: small}}";
        let s = snapshot(&[machine]);
        assert!(reconcile_report(&ctx(&s, &r), &k, &report).is_empty());
        let s = snapshot(&[]);
        assert_eq!(
            summary(&reconcile_report(&ctx(&s, &r), &k, &report)),
            ["node DeleteMachine Machine web"]
        );
        let other = NodeReport {
            uid: Uid("old".into()),
            ..report
        };
        let s = snapshot(&[machine]);
        assert_eq!(reconcile_report(&ctx(&s, &r), &k, &other).len(), 1);
    }
}
