//! The session's hub: one task that owns everything that must change in order — the cache
//! (fed by the watch), the actor table, the schedulers, pool health, the node table and the
//! in-flight node requests — and wakes actors. It never waits on Raft: writes it decides
//! (binds, pool conditions, registrations) run in tasks of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrocore_api::iri::protocol::{NodeName, PoolKind, PoolRef, PoolRegistration};
use ferrocore_api::{Kind, Object, ObjectKey};
use ferrocore_consensus::{Revision, WatchError, WatchEvent};
use ferrocore_runtime::{MonoTime, sleep, spawn};
use tokio::sync::mpsc;

use super::actor::{ActorCell, ActorEnv, spawn_actor};
use super::cache::Change;
use super::config::PlaneConfig;
use super::exec::{Applied, Versions};
use super::inflight::Inflight;
use super::sched::{Decided, Schedulers};
use super::{ControllerNode, read, write};
use crate::broker::{LinkEvent, NodeTable};
use crate::health::{HealthInput, PoolHealth, stored_ready, transition_command};
use crate::reconcile::{Command, NodeRequest, ObjectView};
use crate::scheduler::{Decision, decision_commands};

/// Messages the hub takes besides watch batches.
#[derive(Debug)]
pub(crate) enum HubEvent {
    /// An actor's node request.
    Request(Box<NodeRequest>),
    /// A bind write definitely failed.
    BindFailed(Kind, ObjectKey),
    /// Something from a node connection.
    Node(LinkEvent),
    /// A registration's writes are done (up to `revision`): answer the node.
    Registered {
        /// The node.
        node: NodeName,
        /// Its Register frame.
        seq: u64,
        /// The store revision after the writes.
        revision: Revision,
        /// Pools refused, with reasons.
        refused: Vec<String>,
    },
}

/// A registration answer waiting for the cache to reach the registration's writes.
#[derive(Debug)]
pub(crate) struct PendingAck {
    pub(crate) node: NodeName,
    pub(crate) seq: u64,
    pub(crate) revision: Revision,
    pub(crate) refused: Vec<String>,
}

/// Watch batches queued between the watch task and the hub (each up to 1,000 events): a hub
/// that falls behind makes the watch task wait, not grow memory.
pub(crate) const WATCH_QUEUE_MAX: usize = 16;

/// Messages queued for the hub; senders (actors, connections) wait when it is full.
pub(crate) const HUB_QUEUE_MAX: usize = 4096;

/// The hub.
pub(crate) struct Hub {
    pub(crate) env: ActorEnv,
    pub(crate) node: ControllerNode,
    pub(crate) config: PlaneConfig,
    pub(crate) actors: BTreeMap<ObjectKey, Arc<ActorCell>>,
    pub(crate) sched: Schedulers,
    pub(crate) health: PoolHealth,
    pub(crate) nodes: NodeTable,
    pub(crate) inflight: Inflight,
    pub(crate) next_resync: MonoTime,
    pub(crate) pending_acks: Vec<PendingAck>,
    /// Each registered pool's last registration and node, to recompute `allocatable` when
    /// what is bound to it changes (a node registers once per session).
    pub(crate) registrations: BTreeMap<PoolRef, (NodeName, PoolRegistration)>,
    /// Pools whose bound objects changed since their status was last recomputed.
    pub(crate) stale_pools: BTreeSet<PoolRef>,
    /// When stale pools are recomputed next (at most once per [`POOL_REFRESH_EVERY`]).
    pub(crate) next_pool_refresh: MonoTime,
    /// Pools whose node's inventory is complete at the given time (`inventory.rs`).
    pub(crate) inventory_due: BTreeMap<PoolRef, MonoTime>,
}

/// How often pool capacity is recomputed at most while objects bind and go: often enough that
/// `allocatable` follows within a second, rarely enough that 200 binds cost a few pool writes.
pub(crate) const POOL_REFRESH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("actors", &self.actors.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Runs until the session stops or the watch fails.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<HubEvent>,
        mut watch: mpsc::Receiver<Result<Vec<WatchEvent>, String>>,
    ) {
        self.start();
        let mut stop = self.env.stop.clone();
        loop {
            let deadline = self.deadline();
            // Timers run before more events are taken: a steady stream of watch batches and
            // node messages (the branches below win a biased select) must not starve them.
            // (A deadline that stays in the past still lets one event in per round.)
            if deadline <= self.now() {
                self.on_tick();
                tokio::task::yield_now().await;
            }
            let wait = self.deadline().saturating_since(self.now());
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                batch = watch.recv() => match batch {
                    Some(Ok(batch)) => self.on_watch(&batch),
                    Some(Err(why)) => {
                        tracing::warn!(%why, "watch ended; restarting the session");
                        break;
                    }
                    None => break,
                },
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                () = sleep(wait) => self.on_tick(),
            }
        }
        for cell in self.actors.values() {
            cell.stop();
        }
        self.nodes.close_all();
    }

    pub(crate) fn now(&self) -> MonoTime {
        self.env.clock.now()
    }

    /// Spawns every actor and feeds the schedulers and pool health from the loaded cache.
    fn start(&mut self) {
        let now = self.now();
        let (keys, decisions, pools) = {
            let state = read(&self.env.state);
            let keys: Vec<ObjectKey> = state.cache.keys().cloned().collect();
            let decisions = self.sched.load(now, &state.cache);
            let pools = pool_observations(&state.cache);
            (keys, decisions, pools)
        };
        for input in pools {
            self.health_input(input);
        }
        for key in keys {
            self.ensure_actor(&key);
        }
        self.carry_out_decisions(decisions);
        tracing::info!(actors = self.actors.len(), "control plane session started");
    }

    fn deadline(&self) -> MonoTime {
        let now = self.now();
        [
            self.sched.poll_timeout(now),
            self.health.poll_timeout(),
            self.inflight.poll_timeout(),
            Some(self.next_resync),
            (!self.stale_pools.is_empty()).then_some(self.next_pool_refresh),
            self.inventory_due.values().min().copied(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.next_resync)
    }

    fn on_event(&mut self, event: HubEvent) {
        match event {
            HubEvent::Request(request) => self.send_request(&request),
            HubEvent::BindFailed(kind, key) => {
                let decisions = self.sched.bind_failed(self.now(), kind, key);
                self.carry_out_decisions(decisions);
            }
            HubEvent::Node(event) => self.on_node_event(event),
            HubEvent::Registered {
                node,
                seq,
                revision,
                refused,
            } => {
                self.pending_acks.push(PendingAck {
                    node,
                    seq,
                    revision,
                    refused,
                });
                self.flush_registrations();
            }
        }
    }

    fn on_watch(&mut self, batch: &[WatchEvent]) {
        let cipher = self.env.exec.cipher();
        let mut changes = Vec::new();
        let mut wake = BTreeSet::new();
        {
            let mut state = write(&self.env.state);
            for event in batch {
                let old_refs = state.cache.names(&event.key);
                let old_pool = super::cache::api_key(&event.key)
                    .and_then(|k| state.cache.get(&k).and_then(bound_pool));
                if let Some(change) = state.cache.apply(event, cipher) {
                    wake.extend(state.cache.wakes(&change, &old_refs));
                    changes.push((change, old_pool));
                }
            }
        }
        for (change, old_pool) in &changes {
            self.on_change(change, old_pool.clone());
        }
        for key in wake {
            self.wake(&key);
        }
        if !self.pending_acks.is_empty() {
            self.flush_registrations();
        }
    }

    fn on_change(&mut self, change: &Change, old_pool: Option<PoolRef>) {
        let now = self.now();
        let new_pool = change.new.as_ref().and_then(bound_pool);
        if old_pool != new_pool || change.new.is_none() {
            self.stale_pools
                .extend(old_pool.into_iter().chain(new_pool));
        }
        // A class appeared, changed or went: which pools offer it may change too.
        let classes_of = match change.key.kind {
            Kind::MachineClass => Some(PoolKind::Machine),
            Kind::VolumeClass => Some(PoolKind::Volume),
            Kind::BucketClass => Some(PoolKind::Bucket),
            _ => None,
        };
        // The pool itself changed (its registration's write landed, or a write raced one):
        // recompute; nothing is written when it already matches.
        if let Some(kind) = PoolKind::of(change.key.kind) {
            let pool = PoolRef {
                kind,
                name: change.key.name.clone(),
            };
            if self.registrations.contains_key(&pool) {
                self.stale_pools.insert(pool);
            }
        }
        if let Some(kind) = classes_of {
            let pools = self
                .registrations
                .keys()
                .filter(|p| p.kind == kind)
                .cloned();
            self.stale_pools.extend(pools);
        }
        match &change.new {
            Some(_) => self.ensure_actor(&change.key),
            None => {
                if let Some(cell) = self.actors.remove(&change.key) {
                    cell.stop();
                }
                self.inflight.forget(&change.key);
            }
        }
        if let Some(kind) = PoolKind::of(change.key.kind) {
            let pool = PoolRef {
                kind,
                name: change.key.name.clone(),
            };
            let input = match &change.new {
                Some(o) => HealthInput::Observed {
                    pool,
                    ready: stored_ready(o),
                },
                None => HealthInput::Removed(pool),
            };
            self.health_input(input);
        }
        let decisions = {
            let state = read(&self.env.state);
            self.sched.on_change(now, change, &state.cache)
        };
        self.carry_out_decisions(decisions);
    }

    fn on_tick(&mut self) {
        let now = self.now();
        let decisions = self.sched.tick(now);
        self.carry_out_decisions(decisions);
        self.health_input(HealthInput::Tick);
        for key in self.inflight.expired(now) {
            self.wake(&key);
        }
        self.close_inventories();
        if now >= self.next_pool_refresh && !self.stale_pools.is_empty() {
            self.next_pool_refresh = now + POOL_REFRESH_EVERY;
            self.refresh_pools();
        }
        if now >= self.next_resync {
            self.next_resync = now + self.config.resync();
            self.stale_pools.extend(self.registrations.keys().cloned());
            for cell in self.actors.values() {
                cell.wake();
            }
            self.orphan_sweep();
        }
    }

    pub(crate) fn ensure_actor(&mut self, key: &ObjectKey) {
        if self.actors.contains_key(key) {
            return;
        }
        let cell = Arc::new(ActorCell::default());
        self.actors.insert(key.clone(), cell.clone());
        spawn_actor(key.clone(), cell, self.env.clone());
    }

    pub(crate) fn wake(&self, key: &ObjectKey) {
        if let Some(cell) = self.actors.get(key) {
            cell.wake();
        }
    }

    pub(crate) fn health_input(&mut self, input: HealthInput) {
        let transitions = self.health.handle(self.now(), input);
        if transitions.is_empty() {
            return;
        }
        let wall = self.env.clock.wall();
        let commands: Vec<Command> = {
            let state = read(&self.env.state);
            transitions
                .iter()
                .filter_map(|t| {
                    let key = ObjectKey {
                        kind: t.pool.kind.kind(),
                        namespace: String::new(),
                        name: t.pool.name.clone(),
                    };
                    let pool = state.cache.get(&key)?;
                    tracing::info!(pool = %t.pool, status = ?t.status, reason = %t.reason, "pool health");
                    transition_command(pool, t, wall)
                })
                .collect()
        };
        self.carry_out(commands);
    }

    /// Runs store writes in a task of their own.
    pub(crate) fn carry_out(&self, commands: Vec<Command>) {
        if commands.is_empty() {
            return;
        }
        let exec = self.env.exec.clone();
        spawn(async move {
            let mut versions = Versions::new();
            for c in commands {
                if let Applied::Refused(why) = exec.write(&c, &mut versions).await {
                    tracing::warn!(object = %c.key(), %why, "write refused");
                }
            }
        });
    }

    fn carry_out_decisions(&self, decisions: Vec<Decided>) {
        let wall = self.env.clock.wall();
        for (kind, decision) in decisions {
            let (key, bind) = match &decision {
                Decision::Bind { key, .. } => (key.clone(), true),
                Decision::Unschedulable { key, why, .. } => {
                    tracing::debug!(object = %key, %why, "unschedulable");
                    (key.clone(), false)
                }
            };
            let object: Option<Object> = read(&self.env.state).cache.get(&key).cloned();
            let Some(object) = object else {
                if bind {
                    let _ = self.env.hub.try_send(HubEvent::BindFailed(kind, key));
                }
                continue;
            };
            let commands = decision_commands(&decision, &object, wall);
            let (exec, hub) = (self.env.exec.clone(), self.env.hub.clone());
            spawn(async move {
                let mut versions = Versions::new();
                for c in &commands {
                    let applied = exec.write(c, &mut versions).await;
                    if bind && !matches!(applied, Applied::Changed) {
                        let _ = hub.send(HubEvent::BindFailed(kind, key.clone())).await;
                    }
                }
            });
        }
    }
}

/// The pool an object is bound to (Machines, Volumes and Buckets; others: none).
pub(crate) fn bound_pool(object: &Object) -> Option<PoolRef> {
    let (kind, name) = match object {
        Object::Machine(m) => (PoolKind::Machine, &m.spec.machine_pool_ref.as_ref()?.name),
        Object::Volume(v) => (PoolKind::Volume, &v.spec.volume_pool_ref.as_ref()?.name),
        Object::Bucket(b) => (PoolKind::Bucket, &b.spec.bucket_pool_ref.as_ref()?.name),
        _ => return None,
    };
    Some(PoolRef {
        kind,
        name: name.clone(),
    })
}

impl Hub {
    /// Recomputes the status (capacity, allocatable) of every stale pool from its node's last
    /// registration; writes only what changed.
    fn refresh_pools(&mut self) {
        let stale = std::mem::take(&mut self.stale_pools);
        let commands: Vec<Command> = {
            let state = read(&self.env.state);
            let ctx = crate::reconcile::Ctx {
                now: self.now(),
                wall: self.env.clock.wall(),
                view: state.cache.view(),
                reports: &state.reports,
            };
            stale
                .iter()
                .filter_map(|p| self.registrations.get(p))
                .filter_map(|(node, reg)| {
                    crate::reconcile::pool::reconcile_registration(&ctx, node, reg).ok()
                })
                .flatten()
                .collect()
        };
        self.carry_out(commands);
    }
}

/// What pool health is told about every pool of a fresh cache.
fn pool_observations(cache: &super::cache::Cache) -> Vec<HealthInput> {
    let mut out = Vec::new();
    for kind in [PoolKind::Machine, PoolKind::Volume, PoolKind::Bucket] {
        for pool in cache.view().list(kind.kind(), None) {
            out.push(HealthInput::Observed {
                pool: PoolRef {
                    kind,
                    name: pool.meta().name.clone(),
                },
                ready: stored_ready(pool),
            });
        }
    }
    out
}

/// Follows the watch log from `after`, handing batches to the hub, until the session stops.
pub(crate) async fn follow_watch(
    node: ControllerNode,
    after: Revision,
    out: mpsc::Sender<Result<Vec<WatchEvent>, String>>,
) {
    let mut stream = match node.watch(after) {
        Ok(s) => s,
        Err(e) => {
            let _ = out.send(Err(e.to_string())).await;
            return;
        }
    };
    loop {
        let batch = match stream.next_batch().await {
            Ok(batch) => Ok(batch),
            Err(WatchError::Stopped) => return,
            Err(e) => Err(e.to_string()),
        };
        let failed = batch.is_err();
        if out.send(batch).await.is_err() || failed {
            return;
        }
    }
}
