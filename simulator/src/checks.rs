//! The invariant state of one run, and the two entry points: [`Checks::after_step`] (every
//! step) and [`Checks::finish`] (end of the run).

use std::sync::Arc;

use ferrocore_api::Kind;
use ferrocore_consensus::{ListOptions, ObjectKey};

use crate::allocator::Pool;
use crate::component::Component;
use crate::controller::Process;
use crate::ctx::Ctx;
use crate::history::object_fp;
use crate::invariants::admission::Admission;
use crate::invariants::durability::Durability;
use crate::invariants::election_safety::ElectionSafety;
use crate::invariants::term_monotonic::TermMonotonic;
use crate::invariants::watch_delivery::WatchDelivery;
use crate::invariants::{
    Violation, convergence, ip_unique, linearizability, pool_capacity, recovery, volume_attachment,
};
use crate::observer::Observer;
use crate::panics;
use crate::workload::NAMESPACE;

/// Every invariant's memory.
#[derive(Debug)]
pub(crate) struct Checks {
    pub(crate) observer: Observer,
    election: ElectionSafety,
    terms: TermMonotonic,
    durability: Durability,
    watches: WatchDelivery,
    admission: Admission,
    pool: Pool,
    /// Operations the linearizability check looked at (for the report).
    pub(crate) linearized: usize,
    /// Each controller's role as last reported, to trace its changes.
    roles: std::collections::BTreeMap<u64, (openraft::ServerState, u64, Option<u64>)>,
}

impl Checks {
    pub(crate) fn new(pool: Pool) -> Self {
        Self {
            observer: Observer::default(),
            election: ElectionSafety::default(),
            terms: TermMonotonic::default(),
            durability: Durability::default(),
            watches: WatchDelivery::default(),
            admission: Admission::default(),
            pool,
            linearized: 0,
            roles: std::collections::BTreeMap::new(),
        }
    }

    /// Leader ids seen over the run.
    pub(crate) fn terms_seen(&self) -> usize {
        self.election.terms()
    }

    /// Runs every per-step invariant; returns what broke.
    pub(crate) fn after_step(&mut self, ctx: &Ctx, step: u64) -> Vec<Violation> {
        let mut out = ctx.findings.take();
        if let Some(panic) = panics::take() {
            out.push(Violation::new(
                "no_panic",
                format!("a task panicked: {panic}"),
            ));
        }
        let processes = ctx.controllers.processes();
        let metrics: Vec<_> = processes.iter().map(|p| p.node.metrics()).collect();
        self.election.check(&metrics, &mut out);
        self.terms.check(&metrics, &mut out);
        self.observer.observe(&processes, &mut out);
        let agreed = &self.observer.agreed;
        self.durability.check(&ctx.history, agreed, &mut out);
        self.watches.check(&ctx.watches, agreed, &mut out);
        self.admission.check(&ctx.history, agreed, &mut out);
        ip_unique::check(agreed.objects(), &mut out);
        pool_capacity::check(self.pool, agreed.objects(), &mut out);
        volume_attachment::check(agreed.objects(), &mut out);
        recovery::check(&ctx.controllers.lives(), &mut out);
        mix_step(ctx, step, agreed.revision(), &metrics);
        self.trace_roles(ctx, &metrics);
        out
    }

    /// Traces every change of a controller's role, term or known leader.
    fn trace_roles(
        &mut self,
        ctx: &Ctx,
        metrics: &[openraft::RaftMetrics<ferrocore_consensus::Types<crate::rt::Rt>>],
    ) {
        for m in metrics {
            let role = (m.state, m.current_term, m.current_leader.map(|l| l.0));
            if self.roles.insert(m.id.0, role) != Some(role) {
                ctx.trace.event(format_args!(
                    "c{} is {:?} in term {}, leader {:?}",
                    m.id.0, role.0, role.1, role.2
                ));
            }
        }
    }

    /// The end-of-run checks, once the cluster has converged.
    pub(crate) fn finish(&mut self, ctx: &Ctx) -> Vec<Violation> {
        let mut out = Vec::new();
        let agreed = &self.observer.agreed;
        self.durability.finish(agreed, &mut out);
        for process in ctx.controllers.processes() {
            same_objects(&process, agreed, &mut out);
        }
        self.linearized = linearizability::check(&ctx.history.all(), agreed, &mut out);
        out
    }

    /// Whether the cluster has converged (for the liveness phase).
    pub(crate) fn converged(
        &self,
        ctx: &Ctx,
        components: &[Box<dyn Component>],
    ) -> Result<(), String> {
        convergence::converged(ctx, &self.observer.agreed, components)
    }
}

/// Folds the cluster's state after a step into the trace (a determinism check on Raft itself).
fn mix_step(
    ctx: &Ctx,
    step: u64,
    revision: u64,
    metrics: &[openraft::RaftMetrics<ferrocore_consensus::Types<crate::rt::Rt>>],
) {
    let mut values = vec![step, crate::trace::stamp(), revision];
    for m in metrics {
        values.push(m.id.0);
        values.push(m.current_term);
        values.push(m.last_applied.map_or(0, |l| l.index));
        values.push(u64::from(m.state == openraft::ServerState::Leader));
    }
    ctx.trace.mix(b's', &values);
}

/// A converged controller holds exactly the agreed objects.
fn same_objects(
    process: &Arc<Process>,
    agreed: &crate::agreed::AgreedLog,
    out: &mut Vec<Violation>,
) {
    let mut mine = Vec::new();
    for kind in [Kind::Network, Kind::VirtualIP] {
        let options = ListOptions {
            namespace: Some(NAMESPACE.into()),
            ..ListOptions::default()
        };
        let page = process
            .node
            .read_stale(|s| s.list(kind.group(), kind.name(), &options));
        if let Ok(page) = page {
            mine.extend(
                page.items
                    .iter()
                    .filter_map(|o| Some((ObjectKey::of(o.value()).ok()?, object_fp(o.value())))),
            );
        }
    }
    let agreed_objects: Vec<(ObjectKey, u64)> = agreed
        .objects()
        .iter()
        .filter(|(k, _)| k.namespace == NAMESPACE)
        .map(|(k, o)| (k.clone(), object_fp(o.value())))
        .collect();
    mine.sort();
    if mine != agreed_objects {
        let revision = process.node.read_stale(|s| s.revision());
        out.push(Violation::new(
            "convergence",
            format!(
                "c{} at revision {} holds {} objects that differ from the agreed {} at revision {}",
                process.id,
                revision.0,
                mine.len(),
                agreed_objects.len(),
                agreed.revision()
            ),
        ));
    }
}
