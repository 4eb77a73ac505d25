//! Revisions are strictly increasing and gap-free in each controller's applied log: every change
//! is one watch event, and revision `r + 1` follows revision `r` (docs/consensus.md, "Object
//! store semantics"). Checked per controller incarnation on the events it applied since the
//! last step, and on its store's revision, which never goes back while it runs.

use ferrocore_consensus::WatchEvent;

use super::Violation;

const NAME: &str = "revisions";

/// Checks the events controller `id` applied after `position` (its last checked revision), and
/// its store revision now against the one seen before.
pub(crate) fn check(
    id: u64,
    position: u64,
    revision_before: u64,
    revision_now: u64,
    events: &[WatchEvent],
    out: &mut Vec<Violation>,
) {
    if revision_now < revision_before {
        out.push(Violation::new(
            NAME,
            format!("c{id}'s store went back from revision {revision_before} to {revision_now}"),
        ));
    }
    for (expected, event) in (position + 1..).zip(events) {
        if event.revision.0 != expected {
            out.push(Violation::new(
                NAME,
                format!(
                    "c{id} applied revision {} where {expected} was next (gap or repeat)",
                    event.revision.0
                ),
            ));
            return;
        }
    }
    if let Some(last) = events.last()
        && last.revision.0 > revision_now
    {
        out.push(Violation::new(
            NAME,
            format!(
                "c{id}'s watch log is ahead of its store ({} > {revision_now})",
                last.revision.0
            ),
        ));
    }
}
