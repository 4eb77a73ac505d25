//! Following leadership: a session runs while this controller leads and stops within one
//! election timeout after it no longer does.
//!
//! Two signals end a session: the Raft metrics say another node leads (or none), or the leader
//! cannot confirm its leadership with a quorum (`read_index`) within half the minimum election
//! timeout — a leader cut off from its followers keeps believing it leads until it hears a
//! higher term, so the metrics alone are not enough.

use std::sync::{Arc, PoisonError, RwLock};

use ferrocore_consensus::Revision;
use ferrocore_runtime::{sleep, spawn, timeout};
use openraft::async_runtime::watch::WatchReceiver;
use tokio::sync::{mpsc, watch};

use super::actor::ActorEnv;
use super::cache::Cache;
use super::exec::Exec;
use super::hub::{HUB_QUEUE_MAX, WATCH_QUEUE_MAX, follow_watch};
use super::inflight::Inflight;
use super::sched::Schedulers;
use super::{Hub, Plane, SessionLink, State};
use crate::broker::NodeTable;
use crate::health::PoolHealth;

fn leads(plane: &Plane) -> bool {
    let node = &plane.inner.node;
    let m = node.metrics();
    m.current_leader == Some(node.id()) && m.state.is_leader()
}

/// Runs for the life of the controller.
pub(super) async fn run(plane: Plane) {
    let mut metrics = plane.inner.node.raft().metrics();
    let check = plane.inner.leadership_check;
    loop {
        let running = plane.session().is_some();
        match (leads(&plane), running) {
            (true, false) => start(&plane).await,
            (false, true) => stop(&plane, None, "leadership lost"),
            _ => {}
        }
        // Wake on a metrics change, or after one check interval to retry a failed start.
        if let Ok(Err(_)) = timeout(check, metrics.changed()).await {
            stop(&plane, None, "Raft stopped");
            return;
        }
    }
}

/// Stops the running session (only the one `which` names, when given: a session that ends on
/// its own must not stop a newer one).
fn stop(plane: &Plane, which: Option<&Arc<watch::Sender<bool>>>, why: &str) {
    let link = {
        let mut slot = plane
            .inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = match (which, slot.as_ref()) {
            (Some(w), Some(link)) => Arc::ptr_eq(w, &link.stop),
            _ => true,
        };
        if ours { slot.take() } else { None }
    };
    if let Some(w) = which {
        let _ = w.send(true);
    }
    // The stop flag reaches every actor, the hub and every node connection at once.
    if let Some(link) = link {
        tracing::info!(why, "control plane session stopping");
        let _ = link.stop.send(true);
    }
}

/// Loads the store and starts a session (the hub, the watch, the lease keeper).
async fn start(plane: &Plane) {
    let inner = &plane.inner;
    let cipher = inner.api.cipher();
    // A linearizable read: the leader has applied everything committed before it led.
    let loaded = inner.node.read(|store| Cache::load(store, cipher)).await;
    let cache = match loaded {
        Ok(cache) => cache,
        Err(e) => {
            tracing::debug!(error = %e, "not starting the session yet");
            return;
        }
    };
    let revision: Revision = cache.revision();
    let state = Arc::new(RwLock::new(State {
        cache,
        reports: crate::reconcile::Reports::new(),
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let (events_tx, events_rx) = mpsc::channel(HUB_QUEUE_MAX);
    let (watch_tx, watch_rx) = mpsc::channel(WATCH_QUEUE_MAX);
    let config = inner.config.clone();
    let (retry, retry_max) = config.command_retry();
    let env = ActorEnv {
        state: state.clone(),
        exec: Exec::new(inner.node.clone(), inner.api.clone(), state),
        ipam: config.ipam(),
        clock: inner.clock.clone(),
        hub: events_tx.clone(),
        stop: stop_rx.clone(),
        restart: config.restart_backoff(),
    };
    let now = inner.clock.now();
    let hub = Hub {
        env,
        node: inner.node.clone(),
        sched: Schedulers::new(config.scheduler()),
        health: PoolHealth::new(config.health()),
        nodes: NodeTable::default(),
        inflight: Inflight::new(retry, retry_max),
        next_resync: now + config.resync(),
        pending_acks: Vec::new(),
        registrations: std::collections::BTreeMap::new(),
        stale_pools: std::collections::BTreeSet::new(),
        next_pool_refresh: now,
        inventory_due: std::collections::BTreeMap::new(),
        actors: std::collections::BTreeMap::new(),
        config,
    };
    *inner.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(SessionLink {
        events: events_tx,
        stopped: stop_rx,
        stop: stop_tx.clone(),
    });
    tracing::info!(
        revision = revision.0,
        "leading: control plane session starting"
    );
    spawn(follow_watch(inner.node.clone(), revision, watch_tx));
    spawn(keep_lease(plane.clone(), stop_tx.clone()));
    let plane = plane.clone();
    spawn(async move {
        hub.run(events_rx, watch_rx).await;
        stop(&plane, Some(&stop_tx), "session ended");
    });
}

/// Confirms leadership every check interval; stops the session when it cannot.
async fn keep_lease(plane: Plane, stop: Arc<watch::Sender<bool>>) {
    let check = plane.inner.leadership_check;
    loop {
        sleep(check).await;
        if *stop.borrow() {
            return;
        }
        let confirmed = timeout(check, plane.inner.node.read_index()).await;
        if !matches!(confirmed, Ok(Ok(_))) || !leads(&plane) {
            tracing::warn!("leadership not confirmed: stopping the control plane session");
            self::stop(&plane, Some(&stop), "lease not confirmed");
            return;
        }
    }
}
