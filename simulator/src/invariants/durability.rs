//! No acknowledged write is lost: a write a client was told succeeded at revision `r` is the
//! agreed change at revision `r` — on every controller, through leader changes, crashes (with
//! torn writes) and restarts — and by the end of the run every acknowledged revision exists.
//! (Raft §3.6.3 Leader Completeness as a client sees it; the etcd robustness suite's "no lost
//! writes".)

use std::collections::BTreeSet;

use super::Violation;
use crate::agreed::AgreedLog;
use crate::history::{History, OpRecord, Outcome, object_fp};
use crate::rt::SimTime;

const NAME: &str = "durability";

/// An acknowledged write waiting for its revision to be agreed.
#[derive(Clone, Debug)]
struct Ack {
    op: u64,
    client: u32,
    key: ferrocore_consensus::ObjectKey,
    revision: u64,
    rv: u64,
    fp: u64,
    removed: bool,
    at: SimTime,
}

/// Acknowledged writes not yet matched against the agreed log.
#[derive(Debug, Default)]
pub(crate) struct Durability {
    /// History index below which every operation has been looked at and is done.
    cursor: usize,
    seen: BTreeSet<u64>,
    waiting: Vec<Ack>,
}

impl Durability {
    /// Registers new acknowledgements and checks those whose revision is agreed.
    pub(crate) fn check(
        &mut self,
        history: &History,
        agreed: &AgreedLog,
        out: &mut Vec<Violation>,
    ) {
        let ops = history.since(self.cursor);
        let mut done = true;
        for op in &ops {
            done &= op.outcome != Outcome::Pending;
            if done {
                self.cursor += 1;
            }
            if !self.seen.contains(&op.id) && op.outcome != Outcome::Pending {
                self.seen.insert(op.id);
                self.register(op);
            }
        }
        self.seen.retain(|id| *id >= self.cursor as u64);
        let revision = agreed.revision();
        let (ready, waiting): (Vec<Ack>, Vec<Ack>) =
            self.waiting.drain(..).partition(|a| a.revision <= revision);
        self.waiting = waiting;
        for ack in ready {
            check_one(&ack, agreed, out);
        }
    }

    /// At the end of the run: every acknowledged revision must exist.
    pub(crate) fn finish(&self, agreed: &AgreedLog, out: &mut Vec<Violation>) {
        for ack in &self.waiting {
            out.push(Violation::new(
                NAME,
                format!(
                    "op {} (client{}) was acknowledged at revision {} ({}) at {}, but the \
                     converged log ends at revision {}",
                    ack.op,
                    ack.client,
                    ack.revision,
                    ack.key,
                    ack.at,
                    agreed.revision()
                ),
            ));
        }
    }

    fn register(&mut self, op: &OpRecord) {
        if let Outcome::Written {
            revision,
            rv,
            fp,
            removed,
        } = op.outcome
        {
            self.waiting.push(Ack {
                op: op.id,
                client: op.client,
                key: op.key.clone(),
                revision,
                rv,
                fp,
                removed,
                at: op.ret,
            });
        }
    }
}

fn check_one(ack: &Ack, agreed: &AgreedLog, out: &mut Vec<Violation>) {
    // A write that changed nothing reports the store's revision and the object as it was.
    let at = if ack.removed || ack.rv == ack.revision {
        ack.revision
    } else {
        ack.rv
    };
    let Some(entry) = agreed.get(at) else {
        return;
    };
    let matches = entry.key == ack.key
        && if ack.removed {
            entry.kind == ferrocore_consensus::EventType::Deleted
        } else {
            object_fp(entry.object.value()) == ack.fp
        };
    if !matches {
        out.push(Violation::new(
            NAME,
            format!(
                "op {} (client{}) was acknowledged at revision {at} for {}, but the agreed change \
                 at {at} is {} {}: the acknowledged write was lost or replaced",
                ack.op,
                ack.client,
                ack.key,
                entry.kind.as_str(),
                entry.key
            ),
        ));
    }
}
