//! What the node holds, as it last told the controllers: per object uid, its key, pool,
//! the newest generation seen (the [`GenerationFence`]) and the last reported state. Sans-IO:
//! the agent feeds it observations and sends the reports it returns.

use std::collections::BTreeMap;

use ferrocore_api::ObjectKey;
use ferrocore_api::iri::protocol::{
    Freshness, GenerationFence, ObjectRef, PoolRef, Report, ReportedState,
};
use ferrocore_api::meta::{Generation, Uid};
use serde::Serialize;

/// Objects tracked at once: far above what one node hosts; a controller that names more is
/// refused new ones (their commands answer `Refused`) instead of growing memory without bound.
pub(crate) const HELD_MAX: usize = 100_000;

#[derive(Clone, Debug)]
struct Held {
    key: ObjectKey,
    pool: PoolRef,
    /// The newest generation a command carried.
    generation: Generation,
    /// What was last reported (`None`: nothing yet).
    reported: Option<ReportedState>,
}

/// The node's objects.
#[derive(Debug, Default)]
pub(crate) struct Holdings {
    objects: BTreeMap<Uid, Held>,
    fence: GenerationFence,
}

/// One line of the status file.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Line {
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    pool: String,
    state: String,
}

impl Holdings {
    /// Whether a command of `generation` about `object` should run (and remembers it).
    pub(crate) fn admit(&mut self, object: &ObjectRef, generation: Generation) -> Freshness {
        self.fence.admit(object, generation)
    }

    /// Tracks `object` in `pool` at `generation` (after a command about it, or found in a
    /// runtime's inventory). False when full.
    pub(crate) fn track(
        &mut self,
        object: &ObjectRef,
        pool: &PoolRef,
        generation: Generation,
    ) -> bool {
        if !self.objects.contains_key(&object.uid) && self.objects.len() >= HELD_MAX {
            return false;
        }
        let held = self
            .objects
            .entry(object.uid.clone())
            .or_insert_with(|| Held {
                key: object.key.clone(),
                pool: pool.clone(),
                generation,
                reported: None,
            });
        held.generation = held.generation.max(generation);
        true
    }

    /// Every tracked object (uid, key, pool), for polling.
    pub(crate) fn tracked(&self) -> Vec<(Uid, ObjectKey, PoolRef)> {
        self.objects
            .iter()
            .map(|(u, h)| (u.clone(), h.key.clone(), h.pool.clone()))
            .collect()
    }

    /// Takes an observation; the report to send when it differs from the last one. An object
    /// observed absent is forgotten after its report.
    pub(crate) fn observe(&mut self, uid: &Uid, state: ReportedState) -> Option<Report> {
        let held = self.objects.get_mut(uid)?;
        if held.reported.as_ref() == Some(&state) {
            return None;
        }
        held.reported = Some(state.clone());
        let object = ObjectRef {
            key: held.key.clone(),
            uid: uid.clone(),
        };
        let generation = held.generation;
        let report = Report {
            object: object.clone(),
            generation,
            pool: held.pool.clone(),
            state,
        };
        if matches!(report.state, ReportedState::Absent) {
            self.objects.remove(uid);
            self.fence.forget(&object);
        }
        Some(report)
    }

    /// Forgets what was reported (a new controller session needs everything again).
    pub(crate) fn reset_reports(&mut self) {
        for h in self.objects.values_mut() {
            h.reported = None;
        }
    }
}

/// The status file's lines: one per object a runtime holds (so an object created twice shows
/// twice), with the state the runtime reports now.
pub(crate) fn status_lines(found: &[crate::pools::Found]) -> Vec<Line> {
    found
        .iter()
        .map(|(object, pool, state)| Line {
            kind: object.key.kind.name().to_owned(),
            namespace: object.key.namespace.clone(),
            name: object.key.name.clone(),
            uid: object.uid.0.clone(),
            pool: pool.name.clone(),
            state: state_name(state),
        })
        .collect()
}

/// A short name of a state for the status file.
fn state_name(state: &ReportedState) -> String {
    match state {
        ReportedState::Absent => "Absent".into(),
        ReportedState::Machine(m) => format!("{:?}", m.status.state),
        ReportedState::Volume(v) => format!("{:?}", v.status.state),
        ReportedState::VolumeSnapshot(s) => format!("{:?}", s.status.state),
        ReportedState::Bucket(b) => format!("{:?}", b.status.state),
    }
}

#[cfg(test)]
mod tests {
    use ferrocore_api::Kind;
    use ferrocore_api::iri::protocol::PoolKind;

    use super::*;

    fn object() -> ObjectRef {
        ObjectRef {
            key: ObjectKey {
                kind: Kind::Machine,
                namespace: "ns".into(),
                name: "m".into(),
            },
            uid: Uid("u1".into()),
        }
    }

    #[test]
    fn reports_only_changes_with_the_newest_generation_and_forget_absent_objects() {
        let mut h = Holdings::default();
        let pool = PoolRef {
            kind: PoolKind::Machine,
            name: "hv".into(),
        };
        assert_eq!(h.admit(&object(), Generation(2)), Freshness::Fresh);
        assert!(matches!(
            h.admit(&object(), Generation(1)),
            Freshness::Stale { .. }
        ));
        assert!(h.track(&object(), &pool, Generation(2)));
        let uid = Uid("u1".into());
        let state = ReportedState::Machine(Default::default());
        let r = h.observe(&uid, state.clone()).unwrap();
        assert_eq!(r.generation, Generation(2));
        assert!(h.observe(&uid, state).is_none(), "unchanged: no report");
        h.reset_reports();
        assert!(
            h.observe(&uid, ReportedState::Machine(Default::default()))
                .is_some()
        );
        assert!(h.observe(&uid, ReportedState::Absent).is_some());
        assert!(h.tracked().is_empty(), "absent objects are forgotten");
    }
}
