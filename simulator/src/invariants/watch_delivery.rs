//! Every watcher sees every change exactly once, in order (docs/consensus.md: "every later change
//! exactly once, in order"; the etcd robustness suite's watch validators). Gaps, repeats and
//! reordering are reported by the watcher the moment it receives them; this check compares what
//! each watcher received with the agreed log, so a watcher never sees a change the controllers
//! did not agree on. At the end, the convergence check requires every watcher to have caught up.

use std::collections::BTreeMap;

use super::Violation;
use crate::agreed::AgreedLog;
use crate::watcher::WatchRecords;

const NAME: &str = "watch_delivery";

/// How far each watcher's events have been compared.
#[derive(Debug, Default)]
pub(crate) struct WatchDelivery {
    checked: BTreeMap<u32, usize>,
}

impl WatchDelivery {
    pub(crate) fn check(
        &mut self,
        records: &WatchRecords,
        agreed: &AgreedLog,
        out: &mut Vec<Violation>,
    ) {
        for (watcher, record) in records.snapshot() {
            let checked = self.checked.entry(watcher).or_default();
            for (revision, fp) in record.events.iter().skip(*checked) {
                let Some(entry) = agreed.get(*revision) else {
                    break;
                };
                if entry.fp != *fp {
                    out.push(Violation::new(
                        NAME,
                        format!(
                            "watcher {watcher} got a change at revision {revision} that differs \
                             from the agreed one ({} {})",
                            entry.kind.as_str(),
                            entry.key
                        ),
                    ));
                }
                *checked += 1;
            }
        }
    }
}
