//! Simulated watchers: each follows the watch log through some controller, over the simulated
//! network, and reconnects (to any controller, from the last revision it saw) when the stream
//! breaks. What each watcher received is recorded; the watch-delivery invariant compares it
//! with the agreed log.
//!
//! A watch stream is one reliable QUIC stream: its events arrive in order or the stream breaks.
//! So the network either delays a batch (in order) or breaks the stream; it never drops one
//! batch and delivers the next.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ferrocore_consensus::{Revision, StoreError, WatchError};
use ferrocore_runtime::{Rng, SeededRng};

use crate::ctx::{Ctx, Phase};
use crate::history::object_fp;
use crate::invariants::Violation;
use crate::net::{Fate, Proc};
use crate::rt::{sleep, timeout};

/// How long a watcher waits before it reconnects after its stream broke.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
/// How long a watcher waits for the next batch before it checks that its controller still lives.
const BATCH_WAIT: Duration = Duration::from_millis(500);

/// What one watcher has received.
#[derive(Clone, Debug, Default)]
pub(crate) struct WatchRecord {
    /// `(revision, fingerprint of the event)`, in the order received.
    pub(crate) events: Vec<(u64, u64)>,
    /// The revision it has seen everything up to.
    pub(crate) position: u64,
    /// Times it had to relist because its history was compacted away (the exactly-once check
    /// restarts after each).
    pub(crate) relists: u32,
}

/// Every watcher's record. Clones share them.
#[derive(Clone, Debug, Default)]
pub(crate) struct WatchRecords {
    inner: Arc<Mutex<BTreeMap<u32, WatchRecord>>>,
}

impl WatchRecords {
    pub(crate) fn snapshot(&self) -> BTreeMap<u32, WatchRecord> {
        self.lock().clone()
    }

    fn with<T>(&self, watcher: u32, f: impl FnOnce(&mut WatchRecord) -> T) -> T {
        f(self.lock().entry(watcher).or_default())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, WatchRecord>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs watcher `watcher` (a network process of its own) until the run is done.
pub(crate) async fn run(ctx: Ctx, watcher: u32, proc_id: u32, mut rng: SeededRng) {
    let ids = ctx.controllers.ids();
    while ctx.phase() != Phase::Done {
        let target = ids[usize::try_from(rng.below(ids.len() as u64)).unwrap_or(0)];
        follow(&ctx, watcher, proc_id, target).await;
        sleep(RECONNECT_PAUSE).await;
    }
}

/// Follows the watch log on `target` until the stream breaks.
async fn follow(ctx: &Ctx, watcher: u32, proc_id: u32, target: u64) {
    let (me, them) = (Proc::Client(proc_id), Proc::Controller(target));
    let Fate::Deliver(delay) = ctx.net.fate(me, them) else {
        return;
    };
    sleep(delay).await;
    let Some(process) = ctx.controllers.process(target).filter(|p| p.ready()) else {
        return;
    };
    let position = ctx.watches.with(watcher, |r| r.position);
    let mut stream = match process.node.watch(Revision(position)) {
        Ok(stream) => stream,
        Err(StoreError::Compacted { .. }) => {
            // Too far behind: relist (start from the controller's current revision).
            let now_at = process.node.read_stale(|s| s.revision().0);
            ctx.watches.with(watcher, |r| {
                r.relists += 1;
                r.position = now_at;
            });
            return;
        }
        Err(_) => return,
    };
    while ctx.phase() != Phase::Done {
        let batch = match timeout(BATCH_WAIT, stream.next_batch()).await {
            None if ctx.controllers.alive(process.id, process.incarnation) => continue,
            None | Some(Err(WatchError::Stopped | WatchError::Store(_))) => return,
            Some(Ok(batch)) => batch,
        };
        let Fate::Deliver(delay) = ctx.net.fate(them, me) else {
            return;
        };
        sleep(delay).await;
        if !ctx.controllers.alive(process.id, process.incarnation) {
            return;
        }
        receive(ctx, watcher, &batch);
    }
}

/// Records a batch; a gap, a repeat or an out-of-order event is a finding right away.
fn receive(ctx: &Ctx, watcher: u32, batch: &[ferrocore_consensus::WatchEvent]) {
    ctx.watches.with(watcher, |record| {
        for event in batch {
            let revision = event.revision.0;
            if revision != record.position + 1 {
                ctx.findings.report(Violation::new(
                    "watch_delivery",
                    format!(
                        "watcher {watcher} got revision {revision} after {}: every change \
                         exactly once, in order",
                        record.position
                    ),
                ));
            }
            record.position = revision;
            record.events.push((revision, event_fp(event)));
        }
    });
}

/// The fingerprint of a watch event: what happened, to which object, and the object.
pub(crate) fn event_fp(event: &ferrocore_consensus::WatchEvent) -> u64 {
    let kind = event.kind.as_str();
    object_fp(event.object.value()) ^ crate::trace::fingerprint(kind.as_bytes())
}
