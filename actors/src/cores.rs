//! The cores together: [`reconcile_object`], the one entry point a per-object actor calls, and
//! [`MiniCluster`], a deterministic harness that runs every core in rounds over an in-memory
//! store with fake nodes until nothing changes. Tests use it to show the examples converge; the
//! simulator can use it as the control plane's model.
//!
//! A round: advance the clock one second; nodes register and heartbeat (pool objects, health);
//! the schedulers see every pool and object and bind what they can; every object's cores run
//! against the current store and their commands are applied at once (node requests go to the
//! fake node of the pool, whose reports feed the next cores); node reports of objects the store
//! lost are cleaned up. The harness is single-threaded and seeded by nothing: the same inputs
//! give the same history.

mod fake_node;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferrocore_api::iri::protocol::PoolKind;
use ferrocore_api::{Kind, Object, ObjectKey};
use ferrocore_runtime::{MonoTime, WallTime};

pub use fake_node::FakeNode;
pub use store::{MemStore, WriteError, merge_patch};

use crate::health::{HealthConfig, HealthInput, PoolHealth, stored_ready, transition_command};
use crate::ipam::{self, IpamConfig};
use crate::quota;
use crate::reconcile::util::api_time;
use crate::reconcile::{
    Command, Ctx, ObjectEvent, ObjectView, Reports, Snapshot, broker, bucket, claim,
    class_protection, ephemeral, eviction, gc, lb_routing, machine, network, nic, orphan, pool,
    snapshot, volume,
};
use crate::scheduler::{
    Decision, Prepared, Scheduler, SchedulerConfig, SchedulerInput, bucket_pool_info,
    bucket_schedulable, decision_commands, machine_pool_info, machine_schedulable,
    volume_pool_info, volume_schedulable,
};

/// Every core that applies to `object`, in a fixed order. The runtime's actor for an object
/// calls this on each event and carries out the commands.
pub fn reconcile_object(ctx: &Ctx<'_>, ipam_config: &IpamConfig, object: &Object) -> Vec<Command> {
    let mut out = Vec::new();
    match object {
        Object::Machine(m) => {
            out.extend(ephemeral::reconcile_machine(ctx, m));
            out.extend(claim::reconcile_machine_claims(ctx, m));
            out.extend(eviction::reconcile_eviction(ctx, m));
            out.extend(machine::reconcile_machine(ctx, m));
        }
        Object::MachineClass(c) => out.extend(class_protection::reconcile_machine_class(ctx, c)),
        Object::VolumeClass(c) => out.extend(class_protection::reconcile_volume_class(ctx, c)),
        Object::BucketClass(c) => out.extend(class_protection::reconcile_bucket_class(ctx, c)),
        Object::Volume(v) => {
            out.extend(claim::reconcile_volume_release(ctx, v));
            out.extend(volume::reconcile_volume(ctx, v));
        }
        Object::VolumeSnapshot(s) => out.extend(snapshot::reconcile_snapshot(ctx, s)),
        Object::Bucket(b) => out.extend(bucket::reconcile_bucket(ctx, b)),
        Object::Network(n) => out.extend(network::reconcile_network(ctx, n)),
        Object::NetworkInterface(n) => {
            out.extend(ephemeral::reconcile_network_interface(ctx, n));
            out.extend(claim::reconcile_nic_claims(ctx, n));
            out.extend(claim::reconcile_nic_release(ctx, n));
            out.extend(nic::reconcile_status(ctx, n));
        }
        Object::VirtualIP(v) => out.extend(claim::reconcile_vip_release(ctx, v)),
        Object::LoadBalancer(l) => {
            out.extend(ephemeral::reconcile_load_balancer(ctx, l));
            out.extend(lb_routing::reconcile_load_balancer(ctx, l));
        }
        Object::Prefix(p) => out.extend(ipam::reconcile_prefix(ctx, ipam_config, p)),
        Object::PrefixAllocation(a) => out.extend(ipam::reconcile_prefix_allocation(ctx, a)),
        Object::ResourceQuota(q) => out.extend(quota::reconcile_quota(ctx, q)),
        _ => {}
    }
    out.extend(gc::reconcile_owned(ctx, object));
    out
}

/// Most rounds [`MiniCluster::run`] takes before it gives up on reaching a fixpoint.
pub const ROUNDS_MAX: usize = 200;

/// The mini cluster.
#[derive(Debug)]
pub struct MiniCluster {
    store: MemStore,
    reports: Reports,
    now: MonoTime,
    wall: WallTime,
    schedulers: BTreeMap<Kind, Scheduler>,
    fed: BTreeSet<ObjectKey>,
    health: PoolHealth,
    ipam: IpamConfig,
    nodes: Vec<FakeNode>,
    /// Every event the cores recorded.
    pub events: Vec<ObjectEvent>,
    /// Every refused write (admission errors, conflicts), for tests to inspect.
    pub refused: Vec<String>,
}

impl MiniCluster {
    /// An empty cluster with `health` timing.
    pub fn new(health: HealthConfig) -> Self {
        let schedulers = [Kind::Machine, Kind::Volume, Kind::Bucket]
            .into_iter()
            .map(|k| (k, Scheduler::new(SchedulerConfig::default())))
            .collect();
        Self {
            store: MemStore::default(),
            reports: Reports::new(),
            now: MonoTime::ZERO,
            wall: WallTime::from_unix_nanos(1_800_000_000_000_000_000),
            schedulers,
            fed: BTreeSet::new(),
            health: PoolHealth::new(health),
            ipam: IpamConfig::default(),
            nodes: Vec::new(),
            events: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// The objects.
    pub fn objects(&self) -> &Snapshot {
        self.store.view()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[FakeNode] {
        &self.nodes
    }

    /// The nodes, mutably (stop one, change its pools).
    pub fn nodes_mut(&mut self) -> &mut Vec<FakeNode> {
        &mut self.nodes
    }

    /// Adds a node; it registers on the next round.
    pub fn add_node(&mut self, node: FakeNode) {
        self.nodes.push(node);
    }

    /// Creates objects as a user would (through admission). Returns the refusals.
    pub fn apply(&mut self, objects: impl IntoIterator<Item = Object>) -> Vec<WriteError> {
        let now = api_time(self.wall);
        objects
            .into_iter()
            .filter_map(|o| self.store.create(o, now).err())
            .collect()
    }

    /// Deletes an object as a user would.
    pub fn delete(&mut self, key: &ObjectKey) -> Result<bool, WriteError> {
        self.store.delete(
            key,
            &crate::reconcile::Precondition::default(),
            api_time(self.wall),
        )
    }

    /// Replaces an object's status (tests: a status write the old leader lost).
    pub fn overwrite_status(
        &mut self,
        key: &ObjectKey,
        status: &serde_json::Value,
    ) -> Result<bool, WriteError> {
        self.store
            .update_status(key, &crate::reconcile::Precondition::default(), status)
    }

    /// Runs a user's merge patch on an object.
    pub fn patch(
        &mut self,
        key: &ObjectKey,
        patch: &serde_json::Value,
    ) -> Result<bool, WriteError> {
        self.store
            .patch(key, &crate::reconcile::Precondition::default(), patch)
    }

    /// A leader change: everything kept in leader memory (reports, scheduler caches, leases)
    /// is lost; the store and the nodes stay. With `resend`, nodes reconnect at once and send a
    /// report for every object they hold, as after `Register`; without, call [`Self::resend`]
    /// later.
    pub fn fail_over(&mut self, resend: bool) {
        self.reports = Reports::new();
        self.schedulers = [Kind::Machine, Kind::Volume, Kind::Bucket]
            .into_iter()
            .map(|k| (k, Scheduler::new(SchedulerConfig::default())))
            .collect();
        self.fed.clear();
        self.health = PoolHealth::new(self.health.config());
        if resend {
            self.resend();
        }
    }

    /// Every node sends a report for every object it holds (after reconnecting).
    pub fn resend(&mut self) {
        let all: Vec<_> = self
            .nodes
            .iter()
            .filter(|n| n.up)
            .flat_map(|n| n.reports().into_iter().map(|r| (n.name.clone(), r)))
            .collect();
        for (node, (key, r)) in all {
            let report = ferrocore_api::iri::protocol::Report {
                object: ferrocore_api::iri::protocol::ObjectRef { key, uid: r.uid },
                generation: r.generation,
                pool: r.pool,
                state: r.state,
            };
            match broker::admit_report(self.store.view(), &node, &report) {
                Ok((key, entry)) => {
                    self.reports.record(key, entry);
                }
                Err(e) => self.refused.push(e.to_string()),
            }
        }
    }

    /// Rounds until one changes nothing; returns how many ran.
    ///
    /// # Errors
    /// The number of rounds when [`ROUNDS_MAX`] pass without a fixpoint.
    pub fn run(&mut self) -> Result<usize, usize> {
        for round in 1..=ROUNDS_MAX {
            if self.round() == 0 {
                return Ok(round);
            }
        }
        Err(ROUNDS_MAX)
    }

    /// Lets `d` pass in rounds of one second (health and retries need time).
    pub fn advance(&mut self, d: Duration) {
        for _ in 0..d.as_secs() {
            self.round();
        }
    }

    /// One round; returns how many changes it made.
    pub fn round(&mut self) -> usize {
        self.now = self.now + Duration::from_secs(1);
        self.wall = self.wall + Duration::from_secs(1);
        let mut changes = self.nodes_round();
        changes += self.schedule_round();
        changes += self.reconcile_round();
        changes += self.orphan_round();
        if cfg!(debug_assertions) {
            for s in self.schedulers.values() {
                s.check_invariants();
            }
        }
        changes
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            now: self.now,
            wall: self.wall,
            view: self.store.view(),
            reports: &self.reports,
        }
    }

    fn nodes_round(&mut self) -> usize {
        let mut commands = Vec::new();
        let mut inputs = Vec::new();
        for node in self.nodes.iter().filter(|n| n.up) {
            for reg in &node.pools {
                match pool::reconcile_registration(&self.ctx(), &node.name, reg) {
                    Ok(c) => commands.extend(c),
                    Err(e) => self.refused.push(e.to_string()),
                }
                inputs.push(HealthInput::Heartbeat {
                    pool: reg.pool_ref(),
                    runtime_ok: true,
                    message: String::new(),
                });
            }
        }
        for kind in [PoolKind::Machine, PoolKind::Volume, PoolKind::Bucket] {
            for p in self.store.view().list(kind.kind(), None) {
                let pool = ferrocore_api::iri::protocol::PoolRef {
                    kind,
                    name: p.meta().name.clone(),
                };
                inputs.insert(
                    0,
                    HealthInput::Observed {
                        pool,
                        ready: stored_ready(p),
                    },
                );
            }
        }
        inputs.push(HealthInput::Tick);
        let mut changes = self.carry_out(commands);
        for input in inputs {
            for t in self.health.handle(self.now, input) {
                let pool = self
                    .store
                    .view()
                    .get(t.pool.kind.kind(), "", &t.pool.name)
                    .cloned();
                if let Some(c) = pool.and_then(|p| transition_command(&p, &t, self.wall)) {
                    changes += self.carry_out(vec![c]);
                }
            }
        }
        changes
    }

    /// Feeds every pool and object to the schedulers; returns their decisions.
    fn schedule_feed(&mut self) -> Vec<(Kind, Decision)> {
        let mut decisions: Vec<(Kind, Decision)> = Vec::new();
        let view = self.store.view().clone();
        let mut seen = BTreeSet::new();
        for (kind, pool_kind) in [
            (Kind::Machine, Kind::MachinePool),
            (Kind::Volume, Kind::VolumePool),
            (Kind::Bucket, Kind::BucketPool),
        ] {
            let Some(s) = self.schedulers.get_mut(&kind) else {
                continue;
            };
            for p in view.list(pool_kind, None) {
                let info = match p {
                    Object::MachinePool(p) => machine_pool_info(p),
                    Object::VolumePool(p) => volume_pool_info(p),
                    Object::BucketPool(p) => bucket_pool_info(p),
                    _ => continue,
                };
                decisions.extend(
                    s.handle(self.now, SchedulerInput::PoolUpserted(info))
                        .into_iter()
                        .map(|d| (kind, d)),
                );
            }
            for o in view.list(kind, None) {
                let prepared = match o {
                    Object::Machine(m) => Prepared::Ready(Box::new(machine_schedulable(m))),
                    Object::Volume(v) => volume_schedulable(v, &view),
                    Object::Bucket(b) => bucket_schedulable(b),
                    _ => continue,
                };
                if let Prepared::Ready(sched) = prepared {
                    seen.insert(o.key());
                    decisions.extend(
                        s.handle(self.now, SchedulerInput::ObjectUpserted(*sched))
                            .into_iter()
                            .map(|d| (kind, d)),
                    );
                }
            }
            for gone in self
                .fed
                .iter()
                .filter(|k| k.kind == kind && !seen.contains(*k))
            {
                decisions.extend(
                    s.handle(self.now, SchedulerInput::ObjectDeleted(gone.clone()))
                        .into_iter()
                        .map(|d| (kind, d)),
                );
            }
            decisions.extend(
                s.handle(self.now, SchedulerInput::Tick)
                    .into_iter()
                    .map(|d| (kind, d)),
            );
        }
        self.fed = seen;
        decisions
    }

    fn schedule_round(&mut self) -> usize {
        let mut changes = 0;
        for (kind, d) in self.schedule_feed() {
            let key = match &d {
                Decision::Bind { key, .. } | Decision::Unschedulable { key, .. } => key.clone(),
            };
            let Some(object) = self.store.view().by_key(&key).cloned() else {
                continue;
            };
            let commands = decision_commands(&d, &object, self.wall);
            let n = match (&d, commands.as_slice()) {
                (
                    Decision::Bind { .. },
                    [
                        Command::Patch {
                            key,
                            precondition,
                            patch,
                        },
                    ],
                ) => {
                    match self.store.patch(key, precondition, patch) {
                        Ok(changed) => usize::from(changed),
                        Err(e) => {
                            // A definite failure: the scheduler forgets the assumption.
                            self.refused.push(e.to_string());
                            if let Some(s) = self.schedulers.get_mut(&kind) {
                                s.handle(self.now, SchedulerInput::BindFailed(key.clone()));
                            }
                            0
                        }
                    }
                }
                _ => self.carry_out(commands),
            };
            changes += n;
        }
        changes
    }

    fn reconcile_round(&mut self) -> usize {
        let keys: Vec<ObjectKey> = self.store.view().iter().map(Object::key).collect();
        let mut changes = 0;
        for key in keys {
            let Some(object) = self.store.view().by_key(&key).cloned() else {
                continue;
            };
            let commands = reconcile_object(&self.ctx(), &self.ipam, &object);
            changes += self.carry_out(commands);
        }
        changes
    }

    fn orphan_round(&mut self) -> usize {
        let reports: Vec<_> = self
            .reports
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        let mut changes = 0;
        for (key, report) in reports {
            let commands = orphan::reconcile_report(&self.ctx(), &key, &report);
            changes += self.carry_out(commands);
        }
        changes
    }

    /// Carries out commands; returns how many changed something.
    fn carry_out(&mut self, commands: Vec<Command>) -> usize {
        let now = api_time(self.wall);
        let mut changes = 0;
        for c in commands {
            let result = match &c {
                Command::Create(o) => self.store.create(o.as_ref().clone(), now).map(|()| true),
                Command::Patch {
                    key,
                    precondition,
                    patch,
                } => self.store.patch(key, precondition, patch),
                Command::UpdateStatus {
                    key,
                    precondition,
                    status,
                } => self.store.update_status(key, precondition, status),
                Command::Delete { key, precondition } => self.store.delete(key, precondition, now),
                Command::AddFinalizer { key, finalizer } => {
                    self.store.add_finalizer(key, finalizer)
                }
                Command::RemoveFinalizer { key, finalizer } => {
                    self.store.remove_finalizer(key, finalizer, now)
                }
                Command::Node(req) => Ok(self.node_request(req)),
                Command::Event(e) => {
                    self.events.push(e.clone());
                    Ok(false)
                }
                Command::Requeue { .. } => Ok(false),
            };
            match result {
                Ok(true) => changes += 1,
                Ok(false) | Err(WriteError::AlreadyExists(_) | WriteError::NotFound(_)) => {}
                Err(e) => self.refused.push(e.to_string()),
            }
        }
        changes
    }

    fn node_request(&mut self, req: &crate::reconcile::NodeRequest) -> bool {
        let Some(node) = self.nodes.iter_mut().find(|n| n.serves(&req.pool)) else {
            return false;
        };
        let Some((key, r)) = node.handle(req) else {
            return false;
        };
        // Through the broker's gate, as a report from the wire would go.
        let report = ferrocore_api::iri::protocol::Report {
            object: ferrocore_api::iri::protocol::ObjectRef { key, uid: r.uid },
            generation: r.generation,
            pool: r.pool,
            state: r.state,
        };
        match broker::admit_report(self.store.view(), &node.name, &report) {
            Ok((key, entry)) => {
                self.reports.record(key, entry);
                true
            }
            Err(e) => {
                self.refused.push(e.to_string());
                false
            }
        }
    }
}
