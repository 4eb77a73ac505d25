//! The nemesis: at each step of the safety phase it may start or heal a partition (one
//! controller isolated, a minority split off, a one-way cut, a client cut off), crash a
//! controller (between writes, or in the middle of one, tearing it), and it restarts crashed
//! controllers when their time is up. Its rates come from the seed's [`FaultRates`].

use ferrocore_runtime::{Rng, SeededRng};

use crate::controller::Controllers;
use crate::ctx::Ctx;
use crate::net::Proc;
use crate::options::{FaultRates, STEP, duration_below, u32_below};
use crate::rt::{SimTime, now, spawn};

/// What the nemesis did over a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultCounts {
    /// Partitions started.
    pub partitions: u64,
    /// Crashes between writes.
    pub crashes: u64,
    /// Crashes armed to strike inside a disk write.
    pub torn_crashes: u64,
    /// Restarts.
    pub restarts: u64,
}

#[derive(Debug)]
pub(crate) struct Nemesis {
    rng: SeededRng,
    faults: FaultRates,
    healing_at: Option<SimTime>,
    pub(crate) counts: FaultCounts,
}

impl Nemesis {
    pub(crate) fn new(rng: SeededRng, faults: FaultRates) -> Self {
        Self {
            rng,
            faults,
            healing_at: None,
            counts: FaultCounts::default(),
        }
    }

    /// One step of the safety phase.
    pub(crate) fn act(&mut self, ctx: &Ctx) {
        let at = now();
        let per_step = STEP.as_secs_f64();
        if self.healing_at.is_some_and(|t| t <= at) {
            ctx.net.heal_all();
            self.healing_at = None;
            ctx.trace.event("heal all links");
        }
        if self.healing_at.is_none() && self.rng.chance(self.faults.partitions_per_s * per_step) {
            self.partition(ctx);
            self.healing_at =
                Some(at.after(duration_below(&mut self.rng, self.faults.partition_max)));
        }
        if self.rng.chance(self.faults.crashes_per_s * per_step) {
            self.crash(ctx, at);
        }
        restart_due(&ctx.controllers, at, &mut self.counts);
    }

    fn partition(&mut self, ctx: &Ctx) {
        self.counts.partitions += 1;
        let ids = ctx.controllers.ids();
        let pick =
            |rng: &mut SeededRng| ids[usize::try_from(rng.below(ids.len() as u64)).unwrap_or(0)];
        let clients = ctx.cfg.clients + ctx.cfg.watchers;
        match self.rng.below(4) {
            0 => {
                let lone = pick(&mut self.rng);
                for other in ids.iter().filter(|id| **id != lone) {
                    ctx.net
                        .partition(Proc::Controller(lone), Proc::Controller(*other));
                }
                ctx.trace.event(format_args!("isolate c{lone}"));
            }
            1 => {
                let minority: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(0.4))
                    .collect();
                for a in &minority {
                    for b in ids.iter().filter(|b| !minority.contains(b)) {
                        ctx.net
                            .partition(Proc::Controller(*a), Proc::Controller(*b));
                    }
                }
                ctx.trace
                    .event(format_args!("split {minority:?} from the rest"));
            }
            2 => {
                // Can send, cannot receive (or the reverse): the livelock TigerBeetle found.
                let lone = pick(&mut self.rng);
                let outbound = self.rng.chance(0.5);
                for other in ids.iter().filter(|id| **id != lone) {
                    let (a, b) = (Proc::Controller(lone), Proc::Controller(*other));
                    if outbound {
                        ctx.net.block(a, b)
                    } else {
                        ctx.net.block(b, a)
                    }
                }
                ctx.trace.event(format_args!(
                    "one-way cut of c{lone} (outbound: {outbound})"
                ));
            }
            _ if clients > 0 => {
                let client = u32_below(&mut self.rng, clients);
                let controller = pick(&mut self.rng);
                ctx.net
                    .partition(Proc::Client(client), Proc::Controller(controller));
                ctx.trace
                    .event(format_args!("cut client{client} from c{controller}"));
            }
            _ => {}
        }
    }

    fn crash(&mut self, ctx: &Ctx, at: SimTime) {
        let running = ctx.controllers.processes();
        if running.is_empty() {
            return;
        }
        let victim = &running[usize::try_from(self.rng.below(running.len() as u64)).unwrap_or(0)];
        let tear_seed = self.rng.next_u64();
        if self.rng.chance(self.faults.crash_mid_write) {
            // It dies inside its next disk write; the step loop reaps it.
            self.counts.torn_crashes += 1;
            victim.power.arm(tear_seed);
            ctx.trace
                .event(format_args!("arm power loss on c{}", victim.id));
        } else {
            self.counts.crashes += 1;
            let down = duration_below(&mut self.rng, self.faults.down_max);
            ctx.controllers.crash(victim.id, at.after(down), tear_seed);
        }
    }

    /// When a torn crash struck: how long the controller stays down.
    pub(crate) fn downtime(&mut self) -> std::time::Duration {
        duration_below(&mut self.rng, self.faults.down_max)
    }
}

/// Restarts every crashed controller whose time has come.
pub(crate) fn restart_due(controllers: &Controllers, at: SimTime, counts: &mut FaultCounts) {
    for id in controllers.due(at) {
        counts.restarts += 1;
        let controllers = controllers.clone();
        spawn(async move { controllers.start(id).await });
    }
}
