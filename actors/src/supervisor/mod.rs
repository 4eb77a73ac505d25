//! The supervisor: the runtime half of the control plane on the Raft leader.
//!
//! ```text
//!  metrics ──► leadership ──(leader)──► session ─┬─ watch task ──► hub: cache, edges,
//!                             (lost) ──► stop    │                 schedulers, pool health,
//!                                                │                 node table, in-flight requests
//!                                                ├─ one actor per object ──► dispatch (cores)
//!                                                │      └─ writes (exec) ─► Raft
//!                                                └─ broker connections ◄─► nodes
//! ```
//!
//! While this controller leads, a *session* runs: it loads the store into a decoded cache,
//! follows the watch log from the cache's revision, and keeps one actor (a task) per object:
//! spawned when the object appears, stopped when it is removed, restarted with backoff when it
//! panics. An actor wakes on a change of its object or of an object it reads (the edge index,
//! `refs.rs`), on a node report about it, on a requeue, and on the periodic resync; it runs the
//! object's cores and carries out their commands. When leadership is lost (the Raft metrics
//! say so, or the leader cannot confirm its lease within half an election timeout) the session
//! stops every actor and closes every node connection; the next leader starts its own session
//! from the store. Nothing a session holds in memory (reports, leases, assumed placements) is
//! needed for correctness: the cores are level-triggered and nodes resend what they hold.

mod actor;
mod cache;
mod config;
pub(crate) mod exec;
mod hub;
pub(crate) mod inflight;
mod inventory;
mod leadership;
mod refs;
mod sched;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ferrocore_runtime::Clock;
use tokio::sync::{mpsc, watch};

pub use config::PlaneConfig;

pub(crate) use actor::log_event;
pub(crate) use hub::{Hub, HubEvent};

use crate::api::ApiService;
use crate::reconcile::Reports;

/// The consensus node a controller runs.
pub(crate) type ControllerNode = ferrocore_consensus::Node<ferrocore_consensus::TokioRuntime>;

/// What the cores read: the cache and the node reports, under one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The decoded store.
    pub(crate) cache: cache::Cache,
    /// The latest node report per object.
    pub(crate) reports: Reports,
}

/// The session state shared by the hub and the actors.
pub(crate) type SharedState = Arc<RwLock<State>>;

/// Locks `state` for reading (a panicking actor poisons nothing it could have half-written:
/// actors only read).
pub(crate) fn read(state: &SharedState) -> std::sync::RwLockReadGuard<'_, State> {
    state.read().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `state` for writing.
pub(crate) fn write(state: &SharedState) -> std::sync::RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(PoisonError::into_inner)
}

/// How the broker reaches the running session.
#[derive(Clone, Debug)]
pub(crate) struct SessionLink {
    /// The hub's inbox.
    pub(crate) events: mpsc::Sender<HubEvent>,
    /// Becomes `true` when the session stops.
    pub(crate) stopped: watch::Receiver<bool>,
    /// Stops the session.
    pub(crate) stop: Arc<watch::Sender<bool>>,
}

/// The control plane's runtime on one controller: idle on followers, a session on the leader.
#[derive(Clone)]
pub struct Plane {
    pub(crate) inner: Arc<PlaneInner>,
}

pub(crate) struct PlaneInner {
    pub(crate) node: ControllerNode,
    pub(crate) api: ApiService,
    pub(crate) config: PlaneConfig,
    pub(crate) clock: Arc<dyn Clock>,
    /// How often leadership is confirmed.
    pub(crate) leadership_check: Duration,
    pub(crate) session: Mutex<Option<SessionLink>>,
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plane")
            .field("node", &self.inner.node.id())
            .field("leading", &self.session().is_some())
            .finish_non_exhaustive()
    }
}

impl Plane {
    /// The plane of a controller whose node is `node` and whose API service is `api`.
    /// `election_timeout_min` bounds how long actors outlive a lost leadership.
    pub(crate) fn new(
        node: ControllerNode,
        api: ApiService,
        config: PlaneConfig,
        clock: Arc<dyn Clock>,
        election_timeout_min: Duration,
    ) -> Self {
        let leadership_check = match config.leadership_check_ms {
            0 => election_timeout_min / 2,
            ms => Duration::from_millis(ms),
        };
        Self {
            inner: Arc::new(PlaneInner {
                node,
                api,
                config,
                clock,
                leadership_check: leadership_check.max(Duration::from_millis(10)),
                session: Mutex::new(None),
            }),
        }
    }

    /// Starts following leadership (spawns the leadership task).
    pub(crate) fn start(&self) {
        ferrocore_runtime::spawn(leadership::run(self.clone()));
    }

    /// The running session, if this controller leads.
    pub(crate) fn session(&self) -> Option<SessionLink> {
        self.inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|s| !*s.stopped.borrow())
    }

    /// The current leader's advertised address, for nodes told to go there.
    pub(crate) fn leader_addr(&self) -> Option<String> {
        let metrics = self.inner.node.metrics();
        let leader = metrics.current_leader?;
        metrics
            .membership_config
            .nodes()
            .find(|(id, _)| **id == leader)
            .map(|(_, addr)| addr.addr.clone())
    }
}
