//! One seed, start to end: boot the cluster, run the safety phase (faults on, clients busy,
//! invariants after every step), then the liveness phase (faults healed: everything must
//! converge within a bound), then the end-of-run checks.
//!
//! ```text
//!  seed ─► Config (swarm) ─► boot ─► safety: nemesis + clients + watchers + components
//!                                     └─ after every step: invariants
//!                           ─► liveness: heal, restart, wait for convergence (bounded)
//!                           ─► final: durability, linearizability, identical stores
//! ```

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use ferrocore_runtime::{Rng, SeededRng};
use openraft::AsyncRuntime;

use crate::allocator::{IpAllocator, Pool};
use crate::checks::Checks;
use crate::component::Component;
use crate::controller::Controllers;
use crate::ctx::{Ctx, Phase};
use crate::history::Outcome;
use crate::invariants::Violation;
use crate::nemesis::{Nemesis, restart_due};
use crate::net::Net;
use crate::options::{Config, Options, PlantedBug, STEP};
use crate::report::{Failure, SeedReport, Stats};
use crate::rt::{Rt, SimTime, now, sleep, spawn};
use crate::trace::{Trace, TraceHash, fnv};
use crate::{client, panics, watcher};

/// How long the cluster may take to elect its first leader.
const BOOT_BOUND: Duration = Duration::from_secs(10);
/// How long the cluster may take to converge once faults heal.
const LIVENESS_BOUND: Duration = Duration::from_secs(60);

/// Runs one seed.
pub fn run_seed(seed: u64, options: &Options) -> SeedReport {
    if options.planted.is_some() && !cfg!(feature = "planted-bugs") {
        // A run asked to plant a bug that is not compiled in would pass and prove nothing.
        return SeedReport {
            seed,
            trace_hash: TraceHash(0),
            failure: Some(failure(
                &Trace::new(),
                "boot",
                vec![Violation::new(
                    "planted",
                    "planted bugs are not compiled in (feature `planted-bugs`)",
                )],
            )),
            stats: Stats::default(),
        };
    }
    let _guard = panics::enter();
    let trace = Trace::new();
    plant(options.planted, true);
    let mut rt = Rt::with_seed(seed);
    rt.record_trace(options.executor_trace);
    let world = World::new(seed, options, trace.clone());
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(world.run())));
    let (failure, stats) = result.unwrap_or_else(|payload| {
        let message = panics::take().unwrap_or_else(|| format!("{payload:?}"));
        let failure = failure(
            &trace,
            "executor",
            vec![Violation::new("no_panic", message)],
        );
        (Some(failure), Stats::default())
    });
    let mut hash = trace.hash();
    if options.executor_trace {
        for line in rt.take_trace() {
            hash = TraceHash(fnv(hash.0, line.as_bytes()));
        }
    }
    drop(rt);
    plant(options.planted, false);
    SeedReport {
        seed,
        trace_hash: hash,
        failure,
        stats: Stats {
            trace_events: trace.events(),
            ..stats
        },
    }
}

/// Plants (or removes) the bugs that live outside the simulator, on this thread.
#[cfg(feature = "planted-bugs")]
fn plant(bug: Option<PlantedBug>, on: bool) {
    let skip = on && bug == Some(PlantedBug::SkipResourceVersionCheck);
    ferrocore_consensus::planted::set_skip_resource_version_check(skip);
}

#[cfg(not(feature = "planted-bugs"))]
fn plant(_bug: Option<PlantedBug>, _on: bool) {}

fn failure(trace: &Trace, phase: &'static str, mut violations: Vec<Violation>) -> Failure {
    let violation = violations.remove(0);
    Failure {
        violation,
        also: violations,
        at: now_or_zero(),
        phase,
        recent_events: trace.recent(),
    }
}

fn now_or_zero() -> SimTime {
    if openraft_rt_sim::SimInstant::try_now().is_some() {
        now()
    } else {
        SimTime(0)
    }
}

/// Everything one seed runs.
struct World {
    ctx: Ctx,
    steps: u64,
    rng: SeededRng,
    components: Vec<Box<dyn Component>>,
    attached: BTreeSet<(u64, u64)>,
    checks: Checks,
}

impl World {
    fn new(seed: u64, options: &Options, trace: Trace) -> Self {
        let mut rng = SeededRng::new(seed);
        let cfg = Config::draw(&mut rng.fork(), options.swarm);
        let net = Net::new(rng.fork(), &cfg.faults, trace.clone());
        let controllers =
            Controllers::new(cfg.controllers, rng.next_u64(), net.clone(), trace.clone());
        let pool = Pool {
            size: cfg.pool_size,
        };
        let ctx = Ctx::new(cfg, trace, net, controllers, options.planted);
        Self {
            ctx,
            steps: options.steps,
            rng,
            components: components(pool),
            attached: BTreeSet::new(),
            checks: Checks::new(pool),
        }
    }

    async fn run(mut self) -> (Option<Failure>, Stats) {
        let mut nemesis = Nemesis::new(self.rng.fork(), self.ctx.cfg.faults.clone());
        let failure = match self.boot().await {
            Err(v) => Some(failure(&self.ctx.trace, "boot", v)),
            Ok(()) => self.phases(&mut nemesis).await.err(),
        };
        self.ctx.set_phase(Phase::Done);
        let stats = self.stats(&nemesis);
        (failure, stats)
    }

    async fn phases(&mut self, nemesis: &mut Nemesis) -> Result<(), Failure> {
        self.start_clients();
        for step in 0..self.steps {
            nemesis.act(&self.ctx);
            let restart_at = now().after(nemesis.downtime());
            self.step(step, restart_at)
                .await
                .map_err(|v| failure(&self.ctx.trace, "safety", v))?;
        }
        self.liveness(nemesis)
            .await
            .map_err(|v| failure(&self.ctx.trace, "liveness", v))?;
        let violations = self.checks.finish(&self.ctx);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(failure(&self.ctx.trace, "final", violations))
        }
    }

    async fn boot(&mut self) -> Result<(), Vec<Violation>> {
        for id in self.ctx.controllers.ids() {
            self.ctx.controllers.start(id).await;
        }
        self.ctx.controllers.initialize().await.map_err(|e| {
            vec![Violation::new(
                "boot",
                format!("cannot form the cluster: {e}"),
            )]
        })?;
        let deadline = now().after(BOOT_BOUND);
        while now() < deadline {
            sleep(STEP).await;
            let leading = self
                .ctx
                .controllers
                .processes()
                .iter()
                .any(|p| p.ready() && p.node.raft().is_leader());
            if leading {
                return Ok(());
            }
        }
        Err(vec![Violation::new(
            "boot",
            "no leader within the boot bound",
        )])
    }

    fn start_clients(&mut self) {
        let cfg = self.ctx.cfg.clone();
        for c in 0..cfg.clients {
            spawn(client::run(self.ctx.clone(), c, self.rng.fork()));
        }
        for w in 0..cfg.watchers {
            spawn(watcher::run(
                self.ctx.clone(),
                w,
                cfg.clients + w,
                self.rng.fork(),
            ));
        }
    }

    /// One step: attach components to new processes, let time pass, reap power failures, check.
    async fn step(&mut self, step: u64, restart_at: SimTime) -> Result<(), Vec<Violation>> {
        self.attach();
        sleep(STEP).await;
        self.ctx.controllers.reap(restart_at);
        let violations = self.checks.after_step(&self.ctx, step);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    fn attach(&mut self) {
        for process in self.ctx.controllers.processes() {
            if self.attached.insert((process.id, process.incarnation)) {
                for component in &self.components {
                    component.attach(&self.ctx, &process);
                }
            }
        }
    }

    async fn liveness(&mut self, nemesis: &mut Nemesis) -> Result<(), Vec<Violation>> {
        self.ctx.set_phase(Phase::Liveness);
        self.ctx.net.calm();
        let deadline = now().after(LIVENESS_BOUND);
        let mut step = self.steps;
        loop {
            restart_due(&self.ctx.controllers, SimTime::NEVER, &mut nemesis.counts);
            self.step(step, now()).await?;
            step += 1;
            let reason = match self.checks.converged(&self.ctx, &self.components) {
                Ok(()) => return Ok(()),
                Err(reason) => reason,
            };
            if now() >= deadline {
                let detail = format!(
                    "not converged {} s after the faults healed: {reason}",
                    LIVENESS_BOUND.as_secs()
                );
                return Err(vec![Violation::new("convergence", detail)]);
            }
        }
    }

    fn stats(&self, nemesis: &Nemesis) -> Stats {
        let ops = self.ctx.history.all();
        Stats {
            sim_time: now(),
            steps: self.steps,
            controllers: self.ctx.cfg.controllers,
            clients: self.ctx.cfg.clients,
            ops: ops.len(),
            acked_writes: ops
                .iter()
                .filter(|o| matches!(o.outcome, Outcome::Written { .. }))
                .count(),
            unknown: ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
            outcomes: ops
                .iter()
                .fold(std::collections::BTreeMap::new(), |mut m, o| {
                    let label = o.outcome.label();
                    let class = label.split(['@', ' ']).next().unwrap_or("").to_owned();
                    *m.entry(class).or_default() += 1;
                    m
                }),
            linearized_ops: self.checks.linearized,
            revisions: self.checks.observer.agreed.revision(),
            leader_terms: self.checks.terms_seen(),
            faults: nemesis.counts,
            trace_events: 0,
        }
    }
}

/// The components that join the simulation (more as the cores and fakes land).
fn components(pool: Pool) -> Vec<Box<dyn Component>> {
    vec![Box::new(IpAllocator { pool })]
}
