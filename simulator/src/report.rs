//! What a run of one seed reports: its trace hash, what it did, and — if a rule broke — which
//! one, the events that led to it, and the one command that replays it.

use std::fmt;

use crate::invariants::Violation;
use crate::nemesis::FaultCounts;
use crate::options::Options;
use crate::rt::SimTime;
use crate::trace::TraceHash;

/// What a seed's run did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Simulated time the run covered.
    pub sim_time: SimTime,
    /// Safety steps run.
    pub steps: u64,
    /// Controllers and clients of this seed.
    pub controllers: u64,
    /// Clients of this seed.
    pub clients: u32,
    /// Client operations invoked.
    pub ops: usize,
    /// Writes acknowledged to clients.
    pub acked_writes: usize,
    /// Operations whose outcome the client never learned.
    pub unknown: usize,
    /// Client operations by outcome (`ok`, `found`, `not-found`, `conflict`, ...).
    pub outcomes: std::collections::BTreeMap<String, usize>,
    /// Operations the linearizability check placed.
    pub linearized_ops: usize,
    /// The last agreed revision.
    pub revisions: u64,
    /// Distinct leader ids (elections won).
    pub leader_terms: usize,
    /// Faults injected.
    pub faults: FaultCounts,
    /// Events folded into the trace hash.
    pub trace_events: u64,
}

/// A broken rule and its context.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The first rule that broke.
    pub violation: Violation,
    /// Others that broke at the same check.
    pub also: Vec<Violation>,
    /// When it was found.
    pub at: SimTime,
    /// In which phase (`boot`, `safety`, `liveness`, `final`).
    pub phase: &'static str,
    /// The last readable events before it.
    pub recent_events: Vec<String>,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// The hash of the ordered event trace: equal for two runs of the same seed.
    pub trace_hash: TraceHash,
    /// What broke, if anything.
    pub failure: Option<Failure>,
    /// What the run did.
    pub stats: Stats,
}

impl SeedReport {
    /// The command that replays this seed with the same options. A planted bug exists only in
    /// a build with the test-only feature, so that replay builds one.
    pub fn replay_command(&self, options: &Options) -> String {
        let binary = if options.planted.is_some() {
            "cargo run --release -p ferrocore-cli --features planted-bugs --"
        } else {
            "ferrocore"
        };
        let mut cmd = format!("{binary} sim --seed {} --replay", self.seed);
        if options.swarm {
            cmd.push_str(" --swarm");
        }
        if options.steps != crate::options::STEPS_DEFAULT {
            cmd.push_str(&format!(" --steps {}", options.steps));
        }
        if let Some(bug) = options.planted {
            cmd.push_str(&format!(" --plant {bug}"));
        }
        cmd
    }

    /// The full failure report: seed, rule, events, replay command.
    pub fn explain(&self, options: &Options) -> String {
        let Some(f) = &self.failure else {
            return format!("seed {}: ok (trace {})", self.seed, self.trace_hash);
        };
        let mut text = format!(
            "seed {} FAILED in the {} phase at {}\n  broken invariant: {}\n",
            self.seed, f.phase, f.at, f.violation
        );
        for other in &f.also {
            text.push_str(&format!("  also: {other}\n"));
        }
        text.push_str("  last events:\n");
        for line in &f.recent_events {
            text.push_str(&format!("    {line}\n"));
        }
        text.push_str(&format!("  replay: {}\n", self.replay_command(options)));
        text
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} controllers, {} clients, {:.1} s simulated, {} ops ({} acked writes, {} unknown), \
             {} revisions, {} leader terms, faults: {} partitions, {} crashes, {} torn crashes, \
             {} restarts",
            self.controllers,
            self.clients,
            self.sim_time.as_secs_f64(),
            self.ops,
            self.acked_writes,
            self.unknown,
            self.revisions,
            self.leader_terms,
            self.faults.partitions,
            self.faults.crashes,
            self.faults.torn_crashes,
            self.faults.restarts
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::PlantedBug;

    fn report(seed: u64) -> SeedReport {
        SeedReport {
            seed,
            trace_hash: TraceHash(1),
            failure: None,
            stats: Stats::default(),
        }
    }

    #[test]
    fn the_replay_command_carries_the_options() {
        let plain = Options::default();
        assert_eq!(
            report(7).replay_command(&plain),
            "ferrocore sim --seed 7 --replay"
        );
        let planted = Options {
            steps: 1_000,
            swarm: true,
            planted: Some(PlantedBug::DoubleIp),
            ..Options::default()
        };
        assert_eq!(
            report(13).replay_command(&planted),
            "cargo run --release -p ferrocore-cli --features planted-bugs -- sim --seed 13 \
             --replay --swarm --steps 1000 --plant double-ip"
        );
    }
}
