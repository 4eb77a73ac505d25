//! After every step the observer reads what each running controller has applied since the last
//! step (its watch log, which is its applied log: one event per change) and feeds it to the
//! per-controller checks and to the agreed log.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrocore_consensus::{Revision, StoreError};

use crate::agreed::AgreedLog;
use crate::controller::Process;
use crate::invariants::{Violation, log_agreement, revisions};

/// Events read from one controller per step: bounds the work of one check.
const OBSERVE_BATCH_MAX: usize = 2_000;

/// Where the observer is in one controller incarnation's applied log.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    incarnation: u64,
    position: u64,
    revision: u64,
}

/// The observer and the agreed log it builds.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    cursors: BTreeMap<u64, Cursor>,
    pub(crate) agreed: AgreedLog,
}

impl Observer {
    pub(crate) fn observe(&mut self, processes: &[Arc<Process>], out: &mut Vec<Violation>) {
        for process in processes {
            let known = self
                .cursors
                .get(&process.id)
                .filter(|c| c.incarnation == process.incarnation)
                .copied();
            let (revision, position, events) = process.node.read_stale(|s| {
                // A new incarnation is checked from the oldest change it still holds: replaying
                // its log after a restart must reproduce the agreed changes.
                let position = known.map_or_else(|| s.watch_oldest_start().0, |c| c.position);
                let events = s.watch_since(Revision(position), OBSERVE_BATCH_MAX);
                (s.revision().0, position, events)
            });
            let events = match events {
                Ok(events) => events,
                Err(StoreError::Compacted { oldest, .. }) => {
                    // It rolled past what we read last (a snapshot install): continue from there.
                    self.cursors.insert(
                        process.id,
                        Cursor {
                            incarnation: process.incarnation,
                            position: oldest.0,
                            revision,
                        },
                    );
                    continue;
                }
                Err(_) => continue,
            };
            let before = known.map_or(0, |c| c.revision);
            revisions::check(process.id, position, before, revision, &events, out);
            log_agreement::check_and_extend(process.id, &events, &mut self.agreed, out);
            let position = events.last().map_or(position, |e| e.revision.0);
            self.cursors.insert(
                process.id,
                Cursor {
                    incarnation: process.incarnation,
                    position,
                    revision,
                },
            );
        }
    }
}
