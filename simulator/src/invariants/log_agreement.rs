//! State Machine Safety (Raft §3.6.3, Figure 3.2): if a controller has applied a change at a
//! revision, no other controller ever applies a different change at that revision. The first
//! controller to report a revision defines the agreed log; every other report must match it
//! (same kind of change, same object, same content).

use ferrocore_consensus::WatchEvent;

use super::Violation;
use crate::agreed::AgreedLog;
use crate::watcher::event_fp;

const NAME: &str = "log_agreement";

/// Compares controller `id`'s applied events with the agreed log, extending it with revisions
/// nobody reported before.
pub(crate) fn check_and_extend(
    id: u64,
    events: &[WatchEvent],
    agreed: &mut AgreedLog,
    out: &mut Vec<Violation>,
) {
    for event in events {
        let revision = event.revision.0;
        if let Some(entry) = agreed.get(revision) {
            if entry.key != event.key || entry.kind != event.kind || entry.fp != event_fp(event) {
                out.push(Violation::new(
                    NAME,
                    format!(
                        "c{id} applied {} {} at revision {revision}, the agreed log has {} {}",
                        event.kind.as_str(),
                        event.key,
                        entry.kind.as_str(),
                        entry.key
                    ),
                ));
                return;
            }
        } else if revision == agreed.revision() + 1 {
            agreed.push(event);
        }
    }
}
