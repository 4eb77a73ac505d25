//! A controller's term never goes back — not while it runs, and not across a crash and restart
//! (Raft §3.8: `currentTerm` and `votedFor` are persisted before any message that depends on
//! them is sent, so a restart must find at least the term it last acted in).

use std::collections::BTreeMap;

use ferrocore_consensus::Types;
use openraft::RaftMetrics;

use super::Violation;
use crate::rt::Rt;

const NAME: &str = "term_monotonic";

/// The highest term each controller has been seen in.
#[derive(Debug, Default)]
pub(crate) struct TermMonotonic {
    highest: BTreeMap<u64, u64>,
}

impl TermMonotonic {
    /// Checks the controllers' current metrics.
    pub(crate) fn check(&mut self, metrics: &[RaftMetrics<Types<Rt>>], out: &mut Vec<Violation>) {
        for m in metrics {
            // The vote is what is persisted: its term is the one that must survive.
            let term = m.vote.leader_id.term;
            let highest = self.highest.entry(m.id.0).or_insert(term);
            if term < *highest {
                out.push(Violation::new(
                    NAME,
                    format!("c{} went back from term {highest} to {term}", m.id.0),
                ));
            }
            *highest = (*highest).max(term);
        }
    }
}
