//! What the broker accepts from a node before anything reaches the cores or the store: a
//! report only about a pool the sending node owns, of the right shape for the object's kind,
//! about an object bound to that pool, and never from the future (a generation the store has not
//! reached). A node that sends garbage, replays old generations or speaks for other nodes'
//! pools changes nothing.

use ferrocore_api::iri::protocol::{NodeName, Report, ReportedState};
use ferrocore_api::{Kind, Object, ObjectKey};

use super::pool::POOL_NODE_ANNOTATION;
use super::{NodeReport, ObjectView, ViewExt};

/// Why a report was refused.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum ReportRejected {
    /// The pool does not exist or belongs to another node.
    #[error("pool {pool} is not served by node {node}")]
    NotOwner {
        /// The pool.
        pool: String,
        /// The sender.
        node: String,
    },
    /// The state does not fit the object's kind.
    #[error("a {state} report for {key}")]
    WrongShape {
        /// The object.
        key: ObjectKey,
        /// The kind of state sent.
        state: &'static str,
    },
    /// The object is bound to another pool.
    #[error("{key} is not bound to pool {pool}")]
    WrongPool {
        /// The object.
        key: ObjectKey,
        /// The pool named in the report.
        pool: String,
    },
    /// The report claims a generation the object never had.
    #[error("{key}: generation {reported} is newer than the store's {stored}")]
    FutureGeneration {
        /// The object.
        key: ObjectKey,
        /// What the node claims.
        reported: i64,
        /// What the store has.
        stored: i64,
    },
}

fn shape(state: &ReportedState) -> (&'static str, Option<Kind>) {
    match state {
        ReportedState::Absent => ("Absent", None),
        ReportedState::Machine(_) => ("Machine", Some(Kind::Machine)),
        ReportedState::Volume(_) => ("Volume", Some(Kind::Volume)),
        ReportedState::VolumeSnapshot(_) => ("VolumeSnapshot", Some(Kind::VolumeSnapshot)),
        ReportedState::Bucket(_) => ("Bucket", Some(Kind::Bucket)),
    }
}

/// The pool an object is bound to (a snapshot: its volume's pool).
fn bound_pool(view: &dyn ObjectView, object: &Object) -> Option<String> {
    match object {
        Object::Machine(m) => m.spec.machine_pool_ref.as_ref().map(|p| p.name.clone()),
        Object::Volume(v) => v.spec.volume_pool_ref.as_ref().map(|p| p.name.clone()),
        Object::Bucket(b) => b.spec.bucket_pool_ref.as_ref().map(|p| p.name.clone()),
        Object::VolumeSnapshot(s) => {
            let v = s.spec.volume_ref.as_ref()?;
            view.typed::<ferrocore_api::storage::Volume>(&s.metadata.namespace, &v.name)?
                .spec
                .volume_pool_ref
                .as_ref()
                .map(|p| p.name.clone())
        }
        _ => None,
    }
}

/// Checks a node's report; on success, the entry for [`super::Reports::record`].
///
/// # Errors
/// [`ReportRejected`] naming what is wrong.
pub fn admit_report(
    view: &dyn ObjectView,
    node: &NodeName,
    report: &Report,
) -> Result<(ObjectKey, NodeReport), ReportRejected> {
    let pool = &report.pool;
    let owned = view.get(pool.kind.kind(), "", &pool.name).is_some_and(|p| {
        p.meta()
            .annotations
            .get(POOL_NODE_ANNOTATION)
            .map(String::as_str)
            == Some(node.as_str())
    });
    if !owned {
        return Err(ReportRejected::NotOwner {
            pool: pool.name.clone(),
            node: node.to_string(),
        });
    }
    let key = report.object.key.clone();
    let (state, kind) = shape(&report.state);
    let pool_kind_fits = match key.kind {
        Kind::Machine => pool.kind == ferrocore_api::iri::protocol::PoolKind::Machine,
        Kind::Volume | Kind::VolumeSnapshot => {
            pool.kind == ferrocore_api::iri::protocol::PoolKind::Volume
        }
        Kind::Bucket => pool.kind == ferrocore_api::iri::protocol::PoolKind::Bucket,
        _ => false,
    };
    if !pool_kind_fits || kind.is_some_and(|k| k != key.kind) {
        return Err(ReportRejected::WrongShape { key, state });
    }
    if let Some(object) = view
        .get(key.kind, &key.namespace, &key.name)
        .filter(|o| o.meta().uid == report.object.uid)
    {
        if bound_pool(view, object).as_deref() != Some(pool.name.as_str()) {
            return Err(ReportRejected::WrongPool {
                key,
                pool: pool.name.clone(),
            });
        }
        let stored = object.meta().generation.0;
        if report.generation.0 > stored {
            return Err(ReportRejected::FutureGeneration {
                key,
                reported: report.generation.0,
                stored,
            });
        }
    }
    Ok((
        key,
        NodeReport {
            uid: report.object.uid.clone(),
            generation: report.generation,
            pool: pool.clone(),
            state: report.state.clone(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use ferrocore_api::iri::machine as im;
    use ferrocore_api::iri::protocol::{ObjectRef, PoolKind, PoolRef};
    use ferrocore_api::meta::{Generation, Uid};

    use super::*;
    use crate::reconcile::testkit::snapshot;

    const POOL: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool
metadata: {name: hv, annotations: {ferrocore.dev/node: node-1}}";
    const OTHER: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: MachinePool
metadata: {name: hv2, annotations: {ferrocore.dev/node: node-2}}";
    const MACHINE: &str = "apiVersion: compute.ironcore.dev/v1alpha1\nkind: Machine
metadata: {name: m, namespace: shop, generation: 3}
spec: {machineClassRef: {name: small}, machinePoolRef: {name: hv}}";

    fn report(pool: &str, generation: i64, state: ReportedState) -> Report {
        Report {
            object: ObjectRef {
                key: ObjectKey {
                    kind: Kind::Machine,
                    namespace: "shop".into(),
                    name: "m".into(),
                },
                uid: Uid("uid-m".into()),
            },
            generation: Generation(generation),
            pool: PoolRef {
                kind: PoolKind::Machine,
                name: pool.into(),
            },
            state,
        }
    }

    #[test]
    fn honest_reports_pass_and_hostile_ones_do_not() {
        let s = snapshot(&[POOL, OTHER, MACHINE]);
        let node = NodeName("node-1".into());
        let vm = || ReportedState::Machine(im::Machine::default());
        assert!(admit_report(&s, &node, &report("hv", 3, vm())).is_ok());
        assert!(admit_report(&s, &node, &report("hv", 1, ReportedState::Absent)).is_ok());
        assert!(matches!(
            admit_report(&s, &node, &report("hv2", 3, vm())),
            Err(ReportRejected::NotOwner { .. })
        ));
        assert!(matches!(
            admit_report(&s, &NodeName("node-2".into()), &report("hv2", 3, vm())),
            Err(ReportRejected::WrongPool { .. })
        ));
        assert!(matches!(
            admit_report(&s, &node, &report("hv", 4, vm())),
            Err(ReportRejected::FutureGeneration { .. })
        ));
        let bucket = ReportedState::Bucket(ferrocore_api::iri::bucket::Bucket::default());
        assert!(matches!(
            admit_report(&s, &node, &report("hv", 3, bucket)),
            Err(ReportRejected::WrongShape { .. })
        ));
    }
}
