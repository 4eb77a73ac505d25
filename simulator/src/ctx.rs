//! What every task of a simulation shares: the seed's configuration, the trace, the network,
//! the controllers, the client history, the watchers' records, findings reported by tasks, and
//! the phase the run is in.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::controller::Controllers;
use crate::history::History;
use crate::invariants::Violation;
use crate::net::Net;
use crate::options::{Config, PlantedBug};
use crate::trace::Trace;
use crate::watcher::WatchRecords;

/// Where a run is.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub(crate) enum Phase {
    /// Faults on, clients busy.
    Safety = 0,
    /// Faults healed, clients finish what they started; everything must converge.
    Liveness = 1,
    /// The run is over: tasks wind down.
    Done = 2,
}

/// Violations found by tasks between two checks (a watcher seeing a gap, a controller that
/// cannot restart, a task that panicked).
#[derive(Clone, Debug, Default)]
pub(crate) struct Findings {
    inner: Arc<Mutex<Vec<Violation>>>,
}

impl Findings {
    pub(crate) fn report(&self, violation: Violation) {
        self.lock().push(violation);
    }

    pub(crate) fn take(&self) -> Vec<Violation> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Violation>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The shared state of one simulation. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub(crate) cfg: Arc<Config>,
    pub(crate) trace: Trace,
    pub(crate) net: Net,
    pub(crate) controllers: Controllers,
    pub(crate) history: History,
    pub(crate) watches: WatchRecords,
    pub(crate) findings: Findings,
    pub(crate) planted: Option<PlantedBug>,
    phase: Arc<AtomicU8>,
}

impl Ctx {
    pub(crate) fn new(
        cfg: Config,
        trace: Trace,
        net: Net,
        controllers: Controllers,
        planted: Option<PlantedBug>,
    ) -> Self {
        Self {
            cfg: Arc::new(cfg),
            trace,
            net,
            controllers,
            history: History::default(),
            watches: WatchRecords::default(),
            findings: Findings::default(),
            planted,
            phase: Arc::new(AtomicU8::new(Phase::Safety as u8)),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Safety,
            1 => Phase::Liveness,
            _ => Phase::Done,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.trace.event(format_args!("phase {phase:?}"));
    }

    /// Whether `bug` is planted in this run: always `false` in a build without the test-only
    /// `planted-bugs` feature, so no planted branch can run in a normal build.
    pub(crate) fn planted(&self, bug: PlantedBug) -> bool {
        cfg!(feature = "planted-bugs") && self.planted == Some(bug)
    }
}
