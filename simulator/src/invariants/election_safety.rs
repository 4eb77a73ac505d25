//! Election Safety (Raft §3.6.3): at most one leader per term.
//!
//! ferrocore runs openraft with its *advanced* leader ids, where a term is the pair
//! `(term, candidate)`: two candidates may both win "term 5" in the paper's numbering, one after
//! the other, because `(5, 2)` outranks `(5, 1)`. The rule is then openraft's own form of
//! Election Safety (as its tests-turmoil `election_safety` states it): at most one leader per
//! leader id, and a leader leads under its own id with a vote a quorum granted. This checks
//! exactly that, at every step, over every controller that considers itself leader.

use std::collections::BTreeMap;

use ferrocore_consensus::Types;
use openraft::{RaftMetrics, ServerState};

use super::Violation;
use crate::rt::Rt;

const NAME: &str = "election_safety";

/// Leaders seen so far, by leader id `(term, node)`.
#[derive(Debug, Default)]
pub(crate) struct ElectionSafety {
    leaders: BTreeMap<(u64, u64), u64>,
}

impl ElectionSafety {
    /// Checks the controllers' current metrics.
    pub(crate) fn check(&mut self, metrics: &[RaftMetrics<Types<Rt>>], out: &mut Vec<Violation>) {
        let mut now: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for m in metrics.iter().filter(|m| m.state == ServerState::Leader) {
            let me = m.id.0;
            let leader_id = (m.vote.leader_id.term, m.vote.leader_id.node_id.0);
            if leader_id.1 != me {
                out.push(Violation::new(
                    NAME,
                    format!("c{me} is leader under another node's id {leader_id:?}"),
                ));
            }
            if !m.vote.committed {
                out.push(Violation::new(
                    NAME,
                    format!("c{me} is leader with a vote no quorum granted: {leader_id:?}"),
                ));
            }
            if let Some(other) = now.insert(leader_id, me) {
                out.push(Violation::new(
                    NAME,
                    format!("c{other} and c{me} are both leader of term {leader_id:?}"),
                ));
            }
            if let Some(before) = self.leaders.insert(leader_id, me)
                && before != me
            {
                out.push(Violation::new(
                    NAME,
                    format!("term {leader_id:?} had leader c{before}, now c{me}"),
                ));
            }
        }
    }

    /// Leader ids seen over the run.
    pub(crate) fn terms(&self) -> usize {
        self.leaders.len()
    }
}
